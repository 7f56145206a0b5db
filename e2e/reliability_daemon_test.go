package e2e

// Vault lost during daemon mode (issue 8): vault-env supervises the
// application and renews a short lease through a fault proxy. A Vault outage
// shorter than the lease's remaining life must be ridden out (renewal
// retries, the application untouched); a lease that is really gone must stop
// the application.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/faultproxy"
)

// relLeaseTTL is the lease of the secret the daemon tests read: renewed at
// two thirds of it, so an outage can start at the renewal and end before the
// lease does.
const relLeaseTTL = 18 * time.Second

// relVault is a Vault dev server of the test's own with -dev-leased-kv: its
// KV values with a "ttl" are leased and renewable. (The sandbox's Vault must
// not be switched to leased KV: every test shares it.)
type relVault struct {
	Addr  string // http://127.0.0.1:PORT
	Token string
}

func relStartLeasedVault(t *testing.T) *relVault {
	t.Helper()
	env := relSandbox(t)
	if env.Bin.Vault == "" {
		t.Fatal("the sandbox names no Vault binary")
	}
	logFile := filepath.Join(t.TempDir(), "vault.log")
	for attempt := 0; attempt < 3; attempt++ {
		addr := relFreeAddr(t)
		lf, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(env.Bin.Vault, "server", "-dev", "-dev-leased-kv",
			"-dev-root-token-id=root", "-dev-listen-address="+addr, "-dev-no-store-token")
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.Env = append(relBaseEnv(), "VAULT_LOG_LEVEL=warn")
		if err := cmd.Start(); err != nil {
			lf.Close()
			t.Fatalf("failed to start vault: %v", err)
		}
		lf.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		v := &relVault{Addr: "http://" + addr, Token: "root"}
		healthy := false
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if err := v.do(http.MethodGet, "sys/health", nil, nil); err == nil {
				healthy = true
				break
			}
			select {
			case <-exited:
				deadline = time.Now() // port taken, or a crash: next attempt
			case <-time.After(100 * time.Millisecond):
			}
		}
		if healthy {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(15 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			})
			return v
		}
		cmd.Process.Kill()
		<-exited
	}
	t.Fatalf("failed to start a leased-KV vault; log:\n%s", relTail(logFile, 30))
	return nil
}

// do sends one request with the root token; out, when non-nil, receives the
// JSON answer.
func (v *relVault) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, v.Addr+"/v1/"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("vault %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// relSyncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type relSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *relSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *relSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// relDaemon is a vault-env process in daemon mode supervising testapp.
type relDaemon struct {
	cmd            *exec.Cmd
	stdout, stderr relSyncBuffer
	exited         chan struct{}
	code           int
}

func relStartDaemon(t *testing.T, environ []string) *relDaemon {
	t.Helper()
	env := relSandbox(t)
	d := &relDaemon{exited: make(chan struct{})}
	d.cmd = exec.Command(env.Bin.VaultEnv, env.Bin.TestApp)
	d.cmd.Env = environ
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("failed to start vault-env: %v", err)
	}
	go func() {
		_ = d.cmd.Wait() // the exit status is read from ProcessState
		d.code = d.cmd.ProcessState.ExitCode()
		close(d.exited)
	}()
	t.Cleanup(func() {
		if !d.done() {
			d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.exited:
			case <-time.After(15 * time.Second):
				d.cmd.Process.Kill()
				<-d.exited
			}
		}
	})
	return d
}

func (d *relDaemon) done() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// waitStderr polls until vault-env's log holds want at least n times.
func (d *relDaemon) waitStderr(t *testing.T, want string, n int, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, fmt.Sprintf("%q x%d in vault-env's log", want, n), func() (bool, error) {
		if strings.Count(d.stderr.String(), want) >= n {
			return true, nil
		}
		if d.done() {
			return false, fmt.Errorf("vault-env exited %d; log:\n%s", d.code, d.stderr.String())
		}
		return false, nil
	})
}

// relDaemonSetup starts a leased-KV Vault, writes a secret with a lease of
// relLeaseTTL, and returns the Vault, a proxy in front of it, and the
// environment of a daemon-mode vault-env reading that secret through the
// proxy.
func relDaemonSetup(t *testing.T) (*relVault, *faultproxy.Proxy, []string, string) {
	t.Helper()
	v := relStartLeasedVault(t)
	value := "daemon-" + randomSuffix(t, 12)
	if err := v.do(http.MethodPost, "secret/rel", map[string]any{"key": value, "ttl": relLeaseTTL.String()}, nil); err != nil {
		t.Fatalf("failed to write leased secret: %v", err)
	}
	proxy := relProxy(t, v.Addr)
	environ := []string{
		"PATH=/usr/bin:/bin",
		"VAULT_ADDR=http://" + proxy.Addr(),
		"VAULT_TOKEN=" + v.Token,
		"VAULT_ENV_DAEMON=true",
		"VAULT_ENV_GRACE_PERIOD=5s",
		"VAULT_CLIENT_TIMEOUT=2s",
		"VAULT_LOG_LEVEL=debug",
		"TESTAPP_SLEEP=1h",
		"REL_SECRET=vault:secret/rel#key",
	}
	return v, proxy, environ, value
}

// TestReliabilityDaemonOutageRiddenOut: Vault goes away just before the
// lease's renewal and comes back before the lease ends. vault-env must retry
// the renewal and leave the application alone.
func TestReliabilityDaemonOutageRiddenOut(t *testing.T) {
	t.Parallel()
	_, proxy, environ, value := relDaemonSetup(t)
	d := relStartDaemon(t, environ)
	poll(t, 60*time.Second, "the application's output", func() (bool, error) {
		if d.done() {
			return false, fmt.Errorf("vault-env exited %d; log:\n%s", d.code, d.stderr.String())
		}
		return strings.Contains(d.stdout.String(), "REL_SECRET="+value+"\n"), nil
	})

	// Outage: every connection refused (and the open keep-alive one cut),
	// from before the first renewal (at 2/3 of the TTL) until it has failed.
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Refuse})
	outageAt := time.Now()
	d.waitStderr(t, "renewal failed, retrying", 1, relLeaseTTL+10*time.Second)
	proxy.Set(faultproxy.Fault{})
	outage := time.Since(outageAt)
	// A retry renews the lease before it ends.
	d.waitStderr(t, "msg=renewed", 1, relLeaseTTL)

	log := d.stderr.String()
	t.Logf("rel-daemon: outage of %v ridden out; %d failed renewals logged", outage.Round(time.Millisecond), strings.Count(log, "renewal failed"))
	if d.done() {
		t.Fatalf("vault-env exited %d during a short outage; log:\n%s", d.code, log)
	}
	if strings.Contains(log, "stopping the application") {
		t.Errorf("the application was signalled although the lease was renewed:\n%s", log)
	}
	if strings.Contains(log, value) {
		t.Errorf("vault-env logged the secret value")
	}
	// The ordinary end: SIGTERM to vault-env reaches the application, which
	// exits 0; vault-env exits with its status.
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("vault-env did not exit after SIGTERM")
	}
	if d.code != 0 {
		t.Errorf("vault-env exited %d after SIGTERM, want the application's 0", d.code)
	}
}

// TestReliabilityDaemonLeaseGone: the lease is revoked in Vault (really
// gone) and Vault stays reachable. Renewal fails until the lease's known
// expiry; then, and only then, the application is stopped.
func TestReliabilityDaemonLeaseGone(t *testing.T) {
	t.Parallel()
	v, _, environ, value := relDaemonSetup(t)
	d := relStartDaemon(t, environ)
	poll(t, 60*time.Second, "the application's output", func() (bool, error) {
		if d.done() {
			return false, fmt.Errorf("vault-env exited %d; log:\n%s", d.code, d.stderr.String())
		}
		return strings.Contains(d.stdout.String(), "REL_SECRET="+value+"\n"), nil
	})
	// Revoke every lease of the mount (vault-env's included).
	if err := v.do(http.MethodPut, "sys/leases/revoke-prefix/secret", nil, nil); err != nil {
		t.Fatalf("failed to revoke the leases: %v", err)
	}
	revokedAt := time.Now()
	select {
	case <-d.exited:
	case <-time.After(2*relLeaseTTL + 20*time.Second):
		t.Fatalf("the application still runs %v after its lease was revoked; log:\n%s", time.Since(revokedAt), d.stderr.String())
	}
	took := time.Since(revokedAt)
	log := d.stderr.String()
	t.Logf("rel-daemon: lease revoked; application stopped after %v (exit %d)", took.Round(time.Millisecond), d.code)
	if !strings.Contains(log, "stopping the application") {
		t.Errorf("vault-env ended without saying the lease ended:\n%s", log)
	}
	if took > relLeaseTTL+15*time.Second {
		t.Errorf("stopped %v after the revocation: more than the lease's TTL (%v) plus slack", took, relLeaseTTL)
	}
}
