package admission

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vault-secrets-webhook/vault-secrets-webhook/"

// goList returns what `go list` prints for args, one entry a line.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// TestLayout: the webhook's side (its packages and their tests) links
// neither vault-env's runtime nor the e2e harness.
func TestLayout(t *testing.T) {
	webhook := []string{"./cmd/vault-secrets-webhook", "./admission/...", "./envinject/...", "./kube", "./registry", "./tls", "./netguard"}
	deps := goList(t, append([]string{"-deps", "-test"}, webhook...)...)
	seen := 0
	for _, d := range deps {
		if !strings.HasPrefix(d, module) {
			continue
		}
		seen++
		rel := strings.TrimPrefix(d, module)
		if strings.HasPrefix(rel, "e2e") || strings.HasPrefix(rel, "vaultenv") || strings.HasPrefix(rel, "vaultclient") || strings.HasPrefix(rel, "cmd/vault-env") {
			t.Errorf("the webhook side depends on %s", rel)
		}
	}
	if seen < 8 {
		t.Fatalf("go list found only %d of the module's packages: %v", seen, deps)
	}
}
