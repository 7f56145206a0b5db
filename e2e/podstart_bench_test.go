package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestPodStartBench measures pod start on the sandbox's real node, from the
// pod's create request to the first line of the wrapped container's output
// (its log timestamp as containerd recorded it, `kubectl logs
// --timestamps`), with vault-env delivered by the copy init container and
// as an image volume: N pods each, one at a time, alternating. It runs only
// with VSW_BENCH_PODSTART=N (scripts/bench does that); with
// VSW_BENCH_PODSTART_OUT it writes its Markdown table there.
func TestPodStartBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VSW_BENCH_PODSTART"))
	if n <= 0 {
		t.Skip("set VSW_BENCH_PODSTART=N to measure pod start (N pods per delivery)")
	}
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	path := "e2e/" + ns + "/bench"
	vaultPut(t, path, map[string]string{"KEY": "bench-" + randomSuffix(t, 8)})
	modes := []struct{ name, imageVolume string }{{"copy init container", "false"}, {"image volume", "true"}}
	results := make([][]time.Duration, len(modes))
	for i := range n {
		for m, mode := range modes {
			name := fmt.Sprintf("start-%d-%d", m, i)
			created := time.Now()
			createPod(t, ns, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{agentAnn + "vault-env-image-volume": mode.imageVolume}},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa,
					RestartPolicy:      corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "app", Image: "alpine", Command: []string{"sh", "-c", "echo started"},
						Env: []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/" + path + "#KEY"}},
					}},
				},
			})
			if out, code := runContainer(t, ns, name, "app", ""); code != 0 {
				t.Fatalf("%s: exit %d:\n%s", name, code, out)
			}
			logs, err := shipKubectl(t, nil, "-n", ns, "logs", name, "-c", "app", "--timestamps")
			if err != nil {
				t.Fatalf("failed to read the log of %s: %v", name, err)
			}
			stamp, _, _ := strings.Cut(string(logs), " ")
			first, err := time.Parse(time.RFC3339Nano, stamp)
			if err != nil {
				t.Fatalf("%s: no timestamped first line in %q", name, logs)
			}
			results[m] = append(results[m], first.Sub(created))
			if err := kubeClient(t).Delete(testContext(t), "/api/v1/namespaces/"+ns+"/pods/"+name); err != nil {
				t.Fatalf("failed to delete pod %s: %v", name, err)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Pod start on the sandbox's node\n\nCreate request to the wrapped container's first line of output (containerd's log timestamp), %d pods per delivery, one at a time, alternating (TestPodStartBench).\n\n", n)
	b.WriteString("| vault-env delivery | median | min | max |\n|---|---|---|---|\n")
	for m, mode := range modes {
		d := results[m]
		slices.Sort(d)
		fmt.Fprintf(&b, "| %s | %.0f ms | %.0f ms | %.0f ms |\n", mode.name, ms64(d[len(d)/2]), ms64(d[0]), ms64(d[len(d)-1]))
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("VSW_BENCH_PODSTART_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
