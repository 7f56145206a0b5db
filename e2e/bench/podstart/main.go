// Command podstart measures pod start on the sandbox's node for `make bench`
// (scripts/bench appends its output to results.md). For the seed walkthrough
// pod (container alpine, image alpine, `sh -c "echo $AWS_SECRET_ACCESS_KEY &&
// echo going to sleep... && sleep 10000"`, ServiceAccount default in namespace
// default) it times the create call's start to the first line of the app's
// log, read through the apiserver every 20 ms:
//
//   - wrapped: the env value is vault:secret/data/demosecret/aws#AWS_SECRET_ACCESS_KEY,
//     so the webhook adds the copy-vault-env init container and vault-env
//     logs in to Vault before it execs the app;
//   - unwrapped: the same pod with the secret's value as a literal and the
//     label security.banzaicloud.io/mutate=skip, which the shipped
//     MutatingWebhookConfiguration's objectSelector honours (the apiserver
//     never calls the webhook).
//
// The two alternate (wrapped first in even pairs, unwrapped first in odd
// ones) after one unmeasured warm-up of each, so both share the machine's
// noise. Each pod is deleted (grace 0) and gone from the API and from the
// node's memory cgroups before the next is created. For each wrapped pod it
// reads memory.max_usage_in_bytes of the pod's cgroup: copy-vault-env runs
// first and alone, so this peak bounds the copy container's own from above;
// it is reported against the container's memory limit in the stored pod.
// It writes the secret to Vault (KV v2) with the sandbox's root token first.
//
// Flags:
//
//	--n N          measured pods of each kind (default 10)
//	--sandbox DIR  the sandbox (default: $VSW_SANDBOX)
//
// It prints a markdown section on stdout and progress on stderr.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/bench"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

const (
	namespace  = "default"
	container  = "alpine"
	secretPath = "demosecret/aws"
	secretKey  = "AWS_SECRET_ACCESS_KEY"
	secret     = "s3cr3t" // the walkthrough's value; never printed
	copyName   = "copy-vault-env"
	pollEvery  = 20 * time.Millisecond
	podTimeout = 2 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "podstart:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "podstart %s: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// bencher holds the clients of one run.
type bencher struct {
	env  *sandbox.Env
	kc   *kube.Client
	raw  *http.Client // for the text log, which kube.Client does not decode
	auth string       // "Bearer …" of the admin identity
}

// sample is one measured pod.
type sample struct {
	start time.Duration // create call's start → first log line
	peak  int64         // pod cgroup's memory.max_usage_in_bytes
	limit resource.Quantity
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	n := fs.Int("n", 10, "measured pods of each kind")
	dir := fs.String("sandbox", getenv("VSW_SANDBOX"), "sandbox directory")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *n < 1 || *n > 100 {
		return fmt.Errorf("--n must be within [1, 100], not %d", *n)
	}
	if *dir == "" {
		return errors.New("no sandbox: set --sandbox or VSW_SANDBOX")
	}
	env, err := sandbox.Load(*dir)
	if err != nil {
		return err
	}
	b, err := newBencher(env)
	if err != nil {
		return err
	}
	if err := b.putSecret(ctx); err != nil {
		return err
	}
	load := bench.LoadAvg("unknown")
	var wrapped, unwrapped []sample
	for i := -1; i < *n; i++ { // i = -1: the warm-up pair
		order := []bool{true, false}
		if i%2 != 0 && i >= 0 {
			order = []bool{false, true}
		}
		for _, wrap := range order {
			s, err := b.measure(ctx, wrap, i)
			if err != nil {
				return err
			}
			logf("pair %d wrapped=%t: %v", i, wrap, s.start.Round(time.Millisecond))
			switch {
			case i < 0:
			case wrap:
				wrapped = append(wrapped, s)
			default:
				unwrapped = append(unwrapped, s)
			}
		}
	}
	fmt.Print(markdown(wrapped, unwrapped, load+" before, "+bench.LoadAvg("unknown")+" after"))
	return nil
}

func newBencher(env *sandbox.Env) (*bencher, error) {
	kc, err := kube.New(kube.Config{Server: env.KubeServer, CAFile: env.KubeCAFile, TokenFile: env.KubeTokenFile})
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(env.KubeCAFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read kubernetes CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("failed to load kubernetes CA file %s: no PEM certificate found", env.KubeCAFile)
	}
	tok, err := os.ReadFile(env.KubeTokenFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read kubernetes token file: %w", err)
	}
	raw := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}},
	}
	return &bencher{env: env, kc: kc, raw: raw, auth: "Bearer " + strings.TrimSpace(string(tok))}, nil
}

// putSecret writes the walkthrough's secret to Vault's KV v2 at secret/.
func (b *bencher) putSecret(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"data": map[string]string{secretKey: secret}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.env.VaultAddr+"/v1/secret/data/"+secretPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("failed to build vault request: %w", err)
	}
	req.Header.Set("X-Vault-Token", b.env.VaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to write secret to vault: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("failed to write secret to vault: HTTP %d", resp.StatusCode)
	}
	return nil
}

// walkthroughPod is the seed's walkthrough pod, wrapped or not.
func walkthroughPod(name string, wrap bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers: []corev1.Container{{
				Name: container, Image: "alpine",
				Command: []string{"sh", "-c", "echo $AWS_SECRET_ACCESS_KEY && echo going to sleep... && sleep 10000"},
				Env:     []corev1.EnvVar{{Name: secretKey, Value: "vault:secret/data/" + secretPath + "#" + secretKey}},
			}},
		},
	}
	if !wrap {
		p.Labels = map[string]string{"security.banzaicloud.io/mutate": "skip"}
		p.Spec.Containers[0].Env[0].Value = secret
	}
	return p
}

// measure creates one pod, times it to the app's first line, reads its
// memory peak and deletes it.
func (b *bencher) measure(ctx context.Context, wrap bool, i int) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, podTimeout)
	defer cancel()
	kind := map[bool]string{true: "wrapped", false: "unwrapped"}[wrap]
	name := fmt.Sprintf("podstart-%s-%d", kind, i+1)
	var stored corev1.Pod
	t0 := time.Now()
	if err := b.kc.Create(ctx, kube.CorePath(namespace, "pods", ""), walkthroughPod(name, wrap), &stored); err != nil {
		return sample{}, fmt.Errorf("failed to create pod %s: %w", name, err)
	}
	defer b.remove(name, string(stored.UID))
	s := sample{}
	for _, c := range stored.Spec.InitContainers {
		if c.Name == copyName {
			s.limit = c.Resources.Limits[corev1.ResourceMemory]
		}
	}
	if wrap == s.limit.IsZero() {
		return s, fmt.Errorf("pod %s: wrapped=%t but copy-vault-env memory limit %q (init containers %d)", name, wrap, s.limit.String(), len(stored.Spec.InitContainers))
	}
	if err := b.waitForSecretLine(ctx, name); err != nil {
		return s, err
	}
	s.start = time.Since(t0)
	peak, err := podMemoryPeak(string(stored.UID))
	s.peak = peak
	return s, err
}

// waitForSecretLine polls the container's log until it holds a line that
// is the secret's value: the app's first line (vault-env logs one line of
// its own before it execs the app).
func (b *bencher) waitForSecretLine(ctx context.Context, name string) error {
	u := b.env.KubeServer + kube.CorePath(namespace, "pods", name, "log") + "?container=" + container
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("failed to build log request: %w", err)
		}
		req.Header.Set("Authorization", b.auth)
		if resp, err := b.raw.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && slices.Contains(strings.Split(string(body), "\n"), secret) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed to see the app's first line in the log of pod %s: %w", name, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// remove deletes a pod (grace 0) and waits until the API and the node's
// memory cgroups no longer have it.
func (b *bencher) remove(name, uid string) {
	ctx, cancel := context.WithTimeout(context.Background(), podTimeout)
	defer cancel()
	path := kube.CorePath(namespace, "pods", name)
	if err := b.kc.Delete(ctx, path+"?gracePeriodSeconds=0"); err != nil && !kube.IsNotFound(err) {
		logf("failed to delete pod %s: %v", name, err)
		return
	}
	for ctx.Err() == nil {
		_, err := b.kc.GetPod(ctx, namespace, name)
		if kube.IsNotFound(err) && len(podCgroups(uid)) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("pod %s still present after %v", name, podTimeout)
}

// podCgroups returns the memory cgroup directories of a pod (any sandbox's
// cgroup root; QoS class guaranteed or not).
func podCgroups(uid string) []string {
	m, _ := filepath.Glob("/sys/fs/cgroup/memory/*/kubepods*/pod" + uid)
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/*/kubepods*/*/pod" + uid)
	return append(m, more...)
}

// podMemoryPeak reads memory.max_usage_in_bytes of the pod's cgroup (as
// e2e/node_test.go's podMemoryPeak does).
func podMemoryPeak(uid string) (int64, error) {
	dirs := podCgroups(uid)
	if len(dirs) != 1 {
		return 0, fmt.Errorf("failed to find the memory cgroup of pod %s: %d matches", uid, len(dirs))
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "memory.max_usage_in_bytes"))
	if err != nil {
		return 0, fmt.Errorf("failed to read the memory peak of pod %s: %w", uid, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("failed to parse the memory peak of pod %s: %w", uid, err)
	}
	return v, nil
}

// stats are the columns of one table row.
type stats struct{ median, p90, min, max time.Duration }

func summarize(ss []sample) stats {
	d := make([]time.Duration, len(ss))
	for i, s := range ss {
		d[i] = s.start
	}
	slices.Sort(d)
	return stats{bench.MedianDuration(d), bench.Percentile(d, 0.9), d[0], d[len(d)-1]}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func diff(d time.Duration) string { return fmt.Sprintf("%+.2f s", d.Seconds()) }
func mib(v int64) string          { return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20)) }

func markdown(wrapped, unwrapped []sample, load string) string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	ws, us := summarize(wrapped), summarize(unwrapped)
	w("\n## Pod start on the node\n\n")
	w("Create call's start → first line of the app's log (`GET …/pods/NAME/log` every %v), the seed\n", pollEvery)
	w("walkthrough pod (alpine, ServiceAccount default in namespace default) on the sandbox's node\n")
	w("(kubelet, containerd, runc). *wrapped*: its env value names the Vault secret, the webhook adds\n")
	w("copy-vault-env and vault-env fetches the secret; *unwrapped*: the same pod with the value as a\n")
	w("literal and the label `security.banzaicloud.io/mutate: skip` (never sent to the webhook).\n")
	w("Alternated after one unmeasured warm-up of each; each pod deleted and gone before the next.\n")
	w("Load average %s.\n\n", load)
	w("| pod | n | median | p90 | min | max |\n|---|---:|---:|---:|---:|---:|\n")
	w("| wrapped | %d | %s | %s | %s | %s |\n", len(wrapped), secs(ws.median), secs(ws.p90), secs(ws.min), secs(ws.max))
	w("| unwrapped | %d | %s | %s | %s | %s |\n", len(unwrapped), secs(us.median), secs(us.p90), secs(us.min), secs(us.max))
	w("| wrapped − unwrapped | | %s | %s | %s | %s |\n\n", diff(ws.median-us.median), diff(ws.p90-us.p90), diff(ws.min-us.min), diff(ws.max-us.max))
	peaks := peaksOf(wrapped)
	slices.Sort(peaks)
	w("copy-vault-env peak memory: %s–%s (median %s) of its %s limit, n=%d.\n",
		mib(int64(peaks[0])), mib(int64(peaks[len(peaks)-1])), mib(int64(bench.Median(peaks))), wrapped[0].limit.String(), len(peaks))
	w("Read as the wrapped pod cgroup's memory.max_usage_in_bytes once the app has printed: the copy\n")
	w("runs first and alone, so this bounds its own peak from above (the app container's vault-env and\n")
	w("app count too; the unwrapped pod's cgroup peaks at %s).\n",
		mib(int64(slices.Max(peaksOf(unwrapped)))))
	return sb.String()
}

// peaksOf returns the samples' memory peaks (as bench.Median takes them).
func peaksOf(ss []sample) []float64 {
	p := make([]float64, len(ss))
	for i, s := range ss {
		p[i] = float64(s.peak)
	}
	return p
}
