package e2e

// Checks only a real node gives: the sandbox's kubelet, containerd and runc
// run these pods, so memory limits, Pod Security, images without a shell and
// process environments are the real thing.

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/sandbox/node"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// nodeSecretPod returns a pod in a namespace of its own whose busybox
// container names a fresh Vault secret and runs script; it returns the
// namespace and the secret value.
func nodeSecretPod(t *testing.T, name, script string) (ns string, pod *corev1.Pod, secret string) {
	t.Helper()
	ns = createNamespace(t)
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	secret = "node-" + randomSuffix(t, 16)
	path := "e2e/" + ns + "/node"
	vaultPut(t, path, map[string]string{"KEY": secret})
	pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: "busybox", Command: []string{"sh", "-c", script},
				Env: []corev1.EnvVar{{Name: "NODE_SECRET", Value: "vault:secret/data/" + path + "#KEY"}},
			}},
		},
	}
	return ns, pod, secret
}

// TestNodeLeavesHostTunables: the kubelet runs in a mount namespace of its
// own, so the kernel settings it insists on never reach the host, and the
// node adds no iptables rule.
func TestNodeLeavesHostTunables(t *testing.T) {
	env := sandbox.Get(t)
	b, err := os.ReadFile(env.Node.HostBefore)
	if err != nil {
		t.Fatalf("failed to read the host's state before up: %v", err)
	}
	var before node.Snapshot
	if err := json.Unmarshal(b, &before); err != nil {
		t.Fatal(err)
	}
	if len(before["sysctl"]) == 0 {
		t.Fatal("the snapshot before up recorded no kernel tunables")
	}
	now := node.TakeSnapshot()
	for _, kind := range []string{"sysctl", "iptables", "ip6tables"} {
		if d := node.Diff(node.Snapshot{kind: before[kind]}, node.Snapshot{kind: now[kind]}); len(d) > 0 {
			t.Errorf("the running node changed the host's %s:\n%s", kind, strings.Join(d, "\n"))
		}
	}
}

// TestNodeCopyContainerWithinMemoryLimit: the copy init container runs under
// the memory limit the webhook gives it, enforced by the kubelet. Its peak is
// bounded by the pod cgroup's peak (the copy runs first and alone, and the
// in-memory volume it fills is charged there).
func TestNodeCopyContainerWithinMemoryLimit(t *testing.T) {
	t.Parallel()
	ns, pod, secret := nodeSecretPod(t, "copy-memory", "echo $NODE_SECRET")
	stored := createPod(t, ns, pod)
	var limit resource.Quantity
	for _, c := range stored.Spec.InitContainers {
		if c.Name == "copy-vault-env" {
			limit = c.Resources.Limits[corev1.ResourceMemory]
		}
	}
	if limit.IsZero() {
		t.Fatalf("the copy-vault-env init container has no memory limit: %+v", stored.Spec.InitContainers)
	}
	out, code := runContainer(t, ns, pod.Name, "app", "")
	if code != 0 || !strings.Contains(out, secret) {
		t.Fatalf("exit %d; the app did not print its secret:\n%s", code, out)
	}
	p, err := kubeClient(t).GetPod(testContext(t), ns, pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name == "copy-vault-env" && (s.State.Terminated == nil || s.State.Terminated.Reason != "Completed") {
			t.Fatalf("copy-vault-env did not complete: %+v", s.State)
		}
	}
	peak := podMemoryPeak(t, p)
	t.Logf("pod memory peak %.1f MiB; copy-vault-env limit %s", float64(peak)/(1<<20), limit.String())
	if peak >= limit.Value() {
		t.Errorf("the pod's memory peak %d bytes reaches the copy container's limit %s", peak, limit.String())
	}
}

// podMemoryPeak reads memory.max_usage_in_bytes of the pod's cgroup (cgroup
// v1, the kubelet's cgroupfs layout under the node's cgroup root).
func podMemoryPeak(t *testing.T, p *corev1.Pod) int64 {
	t.Helper()
	matches, _ := filepath.Glob("/sys/fs/cgroup/memory/*/kubepods*/pod" + string(p.UID))
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/*/kubepods*/*/pod" + string(p.UID))
	matches = append(matches, more...)
	if len(matches) != 1 {
		t.Fatalf("found %d memory cgroups for pod %s: %v", len(matches), p.UID, matches)
	}
	b, err := os.ReadFile(filepath.Join(matches[0], "memory.max_usage_in_bytes"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNodeEnvironHoldsSecretNotToken: after vault-env execs the app, the
// process's environment (PID 1 of the container) holds the secret, and
// neither the reference nor a Vault token.
func TestNodeEnvironHoldsSecretNotToken(t *testing.T) {
	t.Parallel()
	ns, pod, secret := nodeSecretPod(t, "environ", "echo started; exec sleep 600")
	createPod(t, ns, pod)
	if out, code := runContainer(t, ns, pod.Name, "app", "started"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, err := shipKubectl(t, nil, "-n", ns, "exec", pod.Name, "-c", "app", "--", "cat", "/proc/1/environ")
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Split(string(out), "\x00")
	found := false
	for _, v := range vars {
		switch {
		case v == "NODE_SECRET="+secret:
			found = true
		case strings.HasPrefix(v, "VAULT_TOKEN="), strings.Contains(v, "vault:secret/"):
			t.Errorf("the app's environment holds %q", strings.SplitN(v, "=", 2)[0]+"=…")
		}
	}
	if !found {
		t.Errorf("the app's environment lacks NODE_SECRET; it has %d variables", len(vars))
	}
}

// TestNodeOurImagesHaveNoShell: `kubectl exec … -- sh` into the webhook's
// own pod fails for want of a shell (its namespace denies exec, so the
// request comes from a member of the exempt group).
func TestNodeOurImagesHaveNoShell(t *testing.T) {
	env := sandbox.Get(t)
	var pods corev1.PodList
	if err := kubeClient(t).Get(testContext(t), kube.CorePath(env.WebhookNamespace, "pods", "")+"?labelSelector=app.kubernetes.io%2Fname%3Dvault-secrets-webhook", &pods); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no webhook pod")
	}
	out, err := shipKubectl(t, nil, "--as=vsw-admin", "--as-group=system:masters", "--as-group=vault-secrets-webhook:exec-allowed",
		"-n", env.WebhookNamespace, "exec", pods.Items[0].Name, "--", "sh", "-c", "echo shell")
	if err == nil || strings.Contains(string(out), "shell") {
		t.Fatalf("exec of sh in the webhook pod succeeded: %s", out)
	}
	if !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("exec of sh failed, but not for want of a shell: %v", err)
	}
}

// TestNodeRestrictedNamespace: a wrapped pod in a namespace that enforces Pod
// Security "restricted" is admitted with the webhook's containers and starts.
func TestNodeRestrictedNamespace(t *testing.T) {
	t.Parallel()
	ns, pod, secret := nodeSecretPod(t, "restricted", "echo $NODE_SECRET")
	labels := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest"}}}`
	if err := kubeClient(t).Patch(testContext(t), kube.CorePath("", "namespaces", ns), "application/merge-patch+json", []byte(labels), nil); err != nil {
		t.Fatal(err)
	}
	yes, no, uid := true, false, int64(1000)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	createPod(t, ns, pod)
	out, code := runContainer(t, ns, pod.Name, "app", "")
	if code != 0 || !strings.Contains(out, secret) {
		t.Fatalf("exit %d; the app did not print its secret:\n%s", code, out)
	}
}

// TestNodeWebhookPodKilled: while pods are being created, the webhook's pods
// are killed. No stored pod holds a literal vault: value without vault-env
// (the webhook answers, or the guard policy refuses the pod), and the
// replacements serve with a caBundle that still holds every CA it held.
func TestNodeWebhookPodKilled(t *testing.T) {
	env := sandbox.Get(t)
	c := kubeClient(t)
	ctx := testContext(t)
	caBundle := func() string {
		var mwc struct { // caBundle as the API sends it: base64 of PEM
			Webhooks []struct {
				ClientConfig struct {
					CABundle string `json:"caBundle"`
				} `json:"clientConfig"`
			} `json:"webhooks"`
		}
		if err := c.Get(ctx, kube.GroupPath("admissionregistration.k8s.io", "v1", "", "mutatingwebhookconfigurations", env.WebhookConfigName), &mwc); err != nil {
			t.Fatal(err)
		}
		return mwc.Webhooks[0].ClientConfig.CABundle
	}
	before := caBundle()
	ns := createNamespace(t)
	selector := "?labelSelector=app.kubernetes.io%2Fname%3Dvault-secrets-webhook"
	var created, refused int
	done := make(chan struct{})
	go func() {
		defer close(done)
		var pods corev1.PodList
		if err := c.Get(ctx, kube.CorePath(env.WebhookNamespace, "pods", "")+selector, &pods); err != nil {
			t.Error(err)
			return
		}
		for _, p := range pods.Items {
			_ = c.Delete(ctx, kube.CorePath(env.WebhookNamespace, "pods", p.Name)+"?gracePeriodSeconds=0")
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		p := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("during-%d", i)},
			// never scheduled: what is stored is the point, not the run
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, NodeSelector: map[string]string{"vsw-e2e": "never"},
				Containers: []corev1.Container{{
					Name: "app", Image: "busybox", Command: []string{"true"},
					Env: []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/none#KEY"}},
				}}},
		}
		if err := c.Create(ctx, kube.CorePath(ns, "pods", ""), p, nil); err != nil {
			refused++
		} else {
			created++
		}
		time.Sleep(250 * time.Millisecond)
	}
	<-done
	var stored corev1.PodList
	if err := c.Get(ctx, kube.CorePath(ns, "pods", ""), &stored); err != nil {
		t.Fatal(err)
	}
	for _, p := range stored.Items {
		if len(p.Spec.Containers[0].Command) == 0 || !strings.HasSuffix(p.Spec.Containers[0].Command[0], "vault-env") {
			t.Errorf("pod %s was stored unmutated with a vault: value: command %q", p.Name, p.Spec.Containers[0].Command)
		}
	}
	t.Logf("while the webhook's pods were replaced: %d pods created (all mutated), %d refused", created, refused)
	poll(t, 3*time.Minute, "the webhook Deployment to be available again", func() (bool, error) {
		_, err := shipKubectl(t, nil, "-n", env.WebhookNamespace, "wait", "--for=condition=Available", "--timeout=5s", "deployment/vault-secrets-webhook")
		return err == nil, nil
	})
	// Each replica publishes the CA of its own self-signed certificate by
	// merging it into the caBundle: the replacements add theirs and drop
	// none that callers may still be verifying against.
	after := caBundle()
	afterPEM := strings.Join(pemBlocks(t, after), "")
	for _, ca := range pemBlocks(t, before) {
		if !strings.Contains(afterPEM, ca) {
			t.Errorf("a CA published before the replacement was dropped from the caBundle")
		}
	}
	t.Logf("caBundle: %d CAs before, %d after", len(pemBlocks(t, before)), len(pemBlocks(t, after)))
	// and it serves: a pod created now is mutated
	p := createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "after"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, NodeSelector: map[string]string{"vsw-e2e": "never"}, Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"true"},
			Env: []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/none#KEY"}}}}}})
	if !strings.HasSuffix(p.Spec.Containers[0].Command[0], "vault-env") {
		t.Errorf("a pod created after the replacement was not mutated: %q", p.Spec.Containers[0].Command)
	}
}

// pemBlocks decodes a base64 caBundle into its PEM certificates, as text.
func pemBlocks(t *testing.T, b64 string) []string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("the caBundle is not base64: %v", err)
	}
	var out []string
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		out = append(out, string(pem.EncodeToMemory(block)))
	}
}
