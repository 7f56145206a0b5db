package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/bench"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// buildTools builds the benchmark's helper programs into a temp dir.
func buildTools(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for name, pkg := range map[string]string{
		"floor":      "../cmd/floor",
		"childclock": "./childclock",
		"vaultget":   "./vaultget",
	} {
		p := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", p, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("failed to build %s: %v\n%s", pkg, err, b)
		}
		out[name] = p
	}
	return out
}

// TestSmoke runs the benchmark driver for a moment against the sandbox's
// webhook and vault-env binaries: the tools must keep working as the
// product changes, and every scenario must still do what it claims (a patch
// for pods with references, none without, exactly one read per path).
func TestSmoke(t *testing.T) {
	sb := sandbox.Get(t)
	if testing.Short() {
		t.Skip("-short: the benchmark smoke test builds three programs")
	}
	tools := buildTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const ns = "vsw-bench-smoke"
	if err := bench.KubeSetup(ctx, sb.KubeServer, sb.KubeCAFile, sb.KubeTokenFile, ns); err != nil {
		t.Fatal(err)
	}
	img, err := bench.PushImage(ctx, sb.RegistryAddr, "vsw-bench-smoke/app", "1", []string{"/app"}, []string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	wr, err := bench.RunWebhook(ctx, bench.WebhookConfig{
		WebhookBin: sb.Bin.Webhook, FloorBin: tools["floor"], Dir: t.TempDir(),
		WebhookArgs: []string{"--kube-server", sb.KubeServer, "--kube-ca-file", sb.KubeCAFile, "--kube-token-file", sb.KubeTokenFile,
			"--vault-addr", sb.VaultAddr, "--namespace", "vsw-bench-system", "--log-level", "warn",
			"--registry-insecure-hosts", sb.RegistryAddr},
		Setup:     bench.ScenarioSetup{Namespace: ns, RegistryImage: img},
		Scenarios: []string{bench.ScenarioRefs, bench.ScenarioNoRefs, bench.ScenarioEnvFrom, bench.ScenarioRegistry},
		Levels:    []int{2}, Reps: 1, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, StartReps: 1,
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range wr.Scenarios {
		t.Run("webhook/"+s.Name, func(t *testing.T) {
			if s.NA != "" {
				t.Fatalf("scenario not measurable: %s", s.NA)
			}
			o, f := s.Ours.Levels[0], s.Floor.Levels[0]
			if o.Reviews == 0 || o.Errors != 0 || f.Reviews == 0 || f.Errors != 0 {
				t.Errorf("webhook %d reviews / %d errors (%s), floor %d / %d", o.Reviews, o.Errors, o.FirstError, f.Reviews, f.Errors)
			}
			if s.Ours.PeakRSS <= 0 || s.Ours.IdleRSS <= 0 {
				t.Errorf("no memory figures: %+v", s.Ours)
			}
		})
	}

	vr, err := bench.RunVaultEnv(ctx, bench.VaultEnvConfig{
		VaultEnvBin: sb.Bin.VaultEnv, ChildBin: tools["childclock"], VaultGetBin: tools["vaultget"], VaultBin: sb.Bin.Vault,
		Dir: t.TempDir(), Reps: 1, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range vr.Cases {
		t.Run("vault-env/"+c.Name, func(t *testing.T) {
			if c.Err != "" {
				t.Fatal(c.Err)
			}
			if c.ExecToChild <= 0 {
				t.Errorf("no exec-to-child time")
			}
			if !c.Floor && !c.Null && c.Reads != c.Paths {
				t.Errorf("%d secret reads, want %d (one per path)", c.Reads, c.Paths)
			}
		})
	}
	if vr.Copy.Err != "" || vr.Copy.BinarySize == 0 {
		t.Errorf("vault-env copy: %+v", vr.Copy)
	}
}
