package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestWebhookAnnotationWarnings: kubectl prints the webhook's admission
// warnings (a misspelt annotation with the name meant, a consul-template
// annotation with what to use instead, an ignored vault-skip-verify), the
// pod is admitted all the same, and the ignored vault-skip-verify does not
// reach the pod.
func TestWebhookAnnotationWarnings(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"warned","annotations":{` +
		`"vault.security.banzaicloud.io/vault-rol":"reader",` +
		`"vault.security.banzaicloud.io/vault-ct-configmap":"ct",` +
		`"vault.security.banzaicloud.io/vault-skip-verify":"true"}},` +
		`"spec":{"containers":[{"name":"app","image":"alpine","command":["true"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`
	cmd := exec.CommandContext(testContext(t), env.Bin.Kubectl, "--kubeconfig", env.Kubeconfig, "-n", ns,
		"create", "--dry-run=server", "-o", "json", "-f", "-")
	cmd.Stdin = strings.NewReader(pod)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl create refused the pod: %v\n%s", err, stderr.Bytes())
	}
	for _, want := range []string{
		`Warning: annotation "vault.security.banzaicloud.io/vault-rol" is not known to this webhook and is ignored; did you mean vault.security.banzaicloud.io/vault-role?`,
		"Warning: annotation vault.security.banzaicloud.io/vault-ct-configmap is ignored: consul-template is not supported",
		"Warning: annotation vault.security.banzaicloud.io/vault-skip-verify is ignored",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("kubectl's stderr lacks %q:\n%s", want, stderr.Bytes())
		}
	}
	var stored corev1.Pod
	if err := json.Unmarshal(stdout.Bytes(), &stored); err != nil {
		t.Fatalf("kubectl printed no pod: %v\n%s", err, stdout.Bytes())
	}
	if stored.Annotations["vault.security.banzaicloud.io/mutated"] != "true" {
		t.Fatalf("pod not mutated: %+v", stored.ObjectMeta)
	}
	for _, e := range stored.Spec.Containers[0].Env {
		if e.Name == "VAULT_SKIP_VERIFY" {
			t.Errorf("the ignored annotation reached the pod: VAULT_SKIP_VERIFY=%s", e.Value)
		}
	}
}
