package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestWebhookGoldenPodsValid sends every mutated pod of the admission
// golden files (admission/testdata/golden/*/pod.json: the input with the
// webhook's patch applied) to the real apiserver as a server-side dry run.
// The pods carry the mutated marker, so the sandbox's webhook leaves them
// alone: the apiserver validates exactly what our patches produce, for
// every annotation and container kind.
func TestWebhookGoldenPodsValid(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	files, err := filepath.Glob(filepath.Join("..", "admission", "testdata", "golden", "*", "pod.json"))
	if err != nil || len(files) < 30 {
		t.Fatalf("found %d golden pods (%v)", len(files), err)
	}
	ns := createNamespace(t)
	c := kubeClient(t)
	ctx := testContext(t)
	accounts := map[string]bool{"default": true}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f))
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var pod corev1.Pod
			if err := json.Unmarshal(b, &pod); err != nil {
				t.Fatal(err)
			}
			if sa := pod.Spec.ServiceAccountName; sa != "" && !accounts[sa] {
				createServiceAccount(t, ns, sa)
				accounts[sa] = true
			}
			pod.Namespace = ""
			pod.Name = strings.ReplaceAll(name, "_", "-")
			pod.APIVersion, pod.Kind = "v1", "Pod"
			var out corev1.Pod
			if err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods?dryRun=All", &pod, &out); err != nil {
				t.Fatalf("the apiserver refused the mutated pod: %v", err)
			}
			first := "(none)"
			if len(out.Spec.InitContainers) > 0 {
				first = out.Spec.InitContainers[0].Name
			}
			imageVolume := slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "vault-env" && v.Image != nil })
			if out.Annotations["vault.security.banzaicloud.io/mutated"] != "true" || first != "copy-vault-env" && first != "vault-agent" && !imageVolume {
				t.Fatalf("stored pod lost the mutation: %+v", out.Spec.InitContainers)
			}
		})
	}
}
