package e2e

// Faults between a component and a real sandbox server (issue 8), injected
// by e2e/faultproxy:
//   - Vault down, stalled, answering 5xx, slow or cut at vault-env start;
//   - the apiserver failing the webhook's Secret/ConfigMap lookups;
//   - the registry stalling the webhook's image lookups.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/faultproxy"
)

// relVaultEnvResult is one vault-env run.
type relVaultEnvResult struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
}

// relRunVaultEnv runs the sandbox's vault-env binary with environ (nothing
// else: no inherited variables) and argv, bounded by timeout.
func relRunVaultEnv(t testing.TB, timeout time.Duration, environ []string, argv ...string) relVaultEnvResult {
	t.Helper()
	env := relSandbox(t)
	ctx, cancel := context.WithTimeout(testContext(t), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Bin.VaultEnv, argv...)
	cmd.Env = environ
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := relVaultEnvResult{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("vault-env did not end within %v; stderr:\n%s", timeout, r.Stderr)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("failed to run vault-env: %v", err)
	}
	return r
}

// relSAToken writes a fresh ServiceAccount token of default/default (bound
// to Vault's role "default" in the sandbox) to a file and returns its path
// and content.
func relSAToken(t testing.TB) (string, string) {
	t.Helper()
	exp := int64(3600)
	tr, err := kubeClient(t).CreateToken(testContext(t), "default", "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	})
	if err != nil {
		t.Fatalf("failed to create a ServiceAccount token: %v", err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, tr.Status.Token
}

// TestReliabilityVaultFaultsAtStart: vault-env logs in (kubernetes auth) and
// reads a KV v2 secret through a fault proxy. When Vault is unusable it must
// give up within a bound, exit non-zero with a clear message, and never start
// the application; transient faults must be ridden out.
func TestReliabilityVaultFaultsAtStart(t *testing.T) {
	t.Parallel()
	env := relSandbox(t)
	secretPath := "rel/" + randomSuffix(t, 10)
	value := "rel-value-" + randomSuffix(t, 16)
	vaultPut(t, secretPath, map[string]string{"key": value})
	tokenFile, jwt := relSAToken(t)
	reference := "vault:secret/data/" + secretPath + "#key"

	const clientTimeout = 3 * time.Second
	// Give-up bound: the login retries for VAULT_CLIENT_TIMEOUT, each request
	// may itself take VAULT_CLIENT_TIMEOUT, then the reads; plus slack for
	// a loaded machine.
	const giveUpBound = 6*clientTimeout + 10*time.Second

	tests := []struct {
		name      string
		fault     faultproxy.Fault
		wantStart bool
	}{
		{name: "vault down", fault: faultproxy.Fault{Mode: faultproxy.Refuse}},
		{name: "vault stalls", fault: faultproxy.Fault{Mode: faultproxy.Stall}},
		{name: "vault answers 503", fault: faultproxy.Fault{Mode: faultproxy.HTTPStatus, Status: 503}},
		{name: "vault answers 500", fault: faultproxy.Fault{Mode: faultproxy.HTTPStatus, Status: 500}},
		{name: "answers cut mid-stream", fault: faultproxy.Fault{Mode: faultproxy.Cut, CutAfter: 60}},
		{name: "two 503s per connection, then fine", fault: faultproxy.Fault{Mode: faultproxy.HTTPStatus, Status: 503, Count: 2}, wantStart: true},
		{name: "slow vault", fault: faultproxy.Fault{Mode: faultproxy.Delay, Delay: 20 * time.Millisecond, Chunk: 256}, wantStart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			proxy := relProxy(t, env.VaultAddr)
			proxy.Set(tt.fault)
			environ := []string{
				"PATH=/usr/bin:/bin",
				"VAULT_ADDR=http://" + proxy.Addr(),
				"VAULT_ROLE=default",
				"VAULT_CLIENT_TIMEOUT=" + clientTimeout.String(),
				"KUBERNETES_SERVICE_ACCOUNT_TOKEN=" + tokenFile,
				"REL_SECRET=" + reference,
			}
			r := relRunVaultEnv(t, 2*giveUpBound, environ, env.Bin.TestApp)
			st := proxy.Stats()
			t.Logf("exit %d after %v; proxy: %d connections, %d injected answers", r.Code, r.Took.Round(time.Millisecond), st.Accepted, st.Injected)
			started := strings.Contains(r.Stdout, "ARG[0]=")
			if tt.wantStart {
				if r.Code != 0 || !strings.Contains(r.Stdout, "REL_SECRET="+value+"\n") {
					t.Fatalf("exit %d, want the app started with the value; stderr:\n%s", r.Code, r.Stderr)
				}
				return
			}
			if started {
				t.Errorf("the application was started although Vault was unusable; stdout:\n%s", r.Stdout)
			}
			if r.Code == 0 {
				t.Errorf("exit status 0, want a failure")
			}
			if strings.Contains(r.Stdout+r.Stderr, reference+"\n") && started {
				t.Errorf("the literal reference reached the application")
			}
			if r.Took > giveUpBound {
				t.Errorf("gave up after %v, bound %v", r.Took, giveUpBound)
			}
			if !strings.Contains(r.Stderr, "failed to") || !strings.Contains(strings.ToLower(r.Stderr), "vault") {
				t.Errorf("no clear error on stderr:\n%s", r.Stderr)
			}
			if st.Injected > 200 {
				t.Errorf("%d requests answered with %d: retries are not bounded", st.Injected, tt.fault.Status)
			}
			if strings.Contains(r.Stdout+r.Stderr, jwt) || strings.Contains(r.Stdout+r.Stderr, value) {
				t.Errorf("vault-env printed a credential or the secret value")
			}
		})
	}
}

// TestReliabilityApiserverFaultsAtAdmission: the webhook's Secret/ConfigMap
// lookups go through a fault proxy to the sandbox apiserver. A pod that
// needs a lookup gets a clear denial within the review's timeout; a pod that
// needs none is still admitted; lookups work again once the fault is gone.
func TestReliabilityApiserverFaultsAtAdmission(t *testing.T) {
	t.Parallel()
	env := relSandbox(t)
	proxy := relProxy(t, env.KubeServer)
	w := relStartWebhook(t, relWebhookOptions{KubeServer: "https://" + proxy.Addr()})
	ctx := testContext(t)
	cases := relLoadCases(t)
	refs, lookup := cases[0], cases[3]
	c := w.Client(4, 60*time.Second)

	// The apiserver stops waiting at ?timeout=: an answer must come before
	// it, or the apiserver applies the failurePolicy instead.
	const reviewTimeout = 3 * time.Second
	const answerBound = reviewTimeout
	url := w.URL("/pods?timeout=" + reviewTimeout.String())

	post := func(t *testing.T, lc relLoadCase) (relReviewResult, time.Duration) {
		t.Helper()
		start := time.Now()
		res, err := relPost(ctx, c, url, lc.review)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s review: %v", lc.name, err)
		}
		if res.HTTPStatus != http.StatusOK {
			t.Fatalf("%s review: HTTP %d %s, want 200 with a review", lc.name, res.HTTPStatus, res.Message)
		}
		return res, took
	}
	if res, _ := post(t, lookup); !res.Allowed {
		t.Fatalf("lookup review denied with a healthy apiserver: %d %s", res.Code, res.Message)
	}

	tests := []struct {
		name  string
		fault faultproxy.Fault
	}{
		{name: "apiserver down", fault: faultproxy.Fault{Mode: faultproxy.Refuse}},
		{name: "apiserver stalls", fault: faultproxy.Fault{Mode: faultproxy.Stall}},
		{name: "apiserver too slow", fault: faultproxy.Fault{Mode: faultproxy.Delay, Delay: 2 * time.Second, Chunk: 64 << 10}},
		{name: "answers cut", fault: faultproxy.Fault{Mode: faultproxy.Cut, CutAfter: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.Set(tt.fault)
			defer proxy.Set(faultproxy.Fault{})
			res, took := post(t, lookup)
			t.Logf("lookup review: allowed=%v code=%d %q after %v", res.Allowed, res.Code, res.Message, took.Round(time.Millisecond))
			if res.Allowed {
				t.Errorf("a pod whose secretKeyRef could not be read was admitted")
			}
			if res.Code < 500 || !strings.Contains(res.Message, "failed to read") {
				t.Errorf("denial not clear: code %d %q", res.Code, res.Message)
			}
			if took >= answerBound {
				t.Errorf("answered after %v: not before the %v deadline the apiserver gave", took, reviewTimeout)
			}
			res, took = post(t, refs)
			if !res.Allowed || len(res.Patch) == 0 {
				t.Errorf("a pod needing no lookup was not mutated during the fault: %d %q", res.Code, res.Message)
			}
			if took >= answerBound {
				t.Errorf("lookup-free review answered after %v", took)
			}
		})
	}

	// Recovery: the next lookup works (the client redials).
	proxy.Set(faultproxy.Fault{})
	var last relReviewResult
	poll(t, 30*time.Second, "lookups to work again", func() (bool, error) {
		last, _ = post(t, lookup)
		return last.Allowed, nil
	})
}

// TestReliabilityRegistryStall: a container without a command makes the
// webhook ask the registry for the image's ENTRYPOINT/CMD. With the registry
// behind a stalled (or refusing) proxy, the review is still answered before
// its deadline, with a clear denial.
func TestReliabilityRegistryStall(t *testing.T) {
	t.Parallel()
	env := relSandbox(t)
	proxy := relProxy(t, "http://"+env.RegistryAddr)
	w := relStartWebhook(t, relWebhookOptions{ExtraArgs: []string{"--registry-insecure-hosts", proxy.Addr()}})
	ctx := testContext(t)
	c := w.Client(2, 60*time.Second)

	pod := relPod("no-command", 1)
	pod.Spec.Containers[0].Command = nil
	pod.Spec.Containers[0].Image = proxy.Addr() + "/rel/stalled:" + randomSuffix(t, 8)
	review := relReview(t, pod)

	tests := []struct {
		name    string
		fault   faultproxy.Fault
		timeout time.Duration
	}{
		{name: "stall, 10s review", fault: faultproxy.Fault{Mode: faultproxy.Stall}, timeout: 10 * time.Second},
		{name: "stall, 3s review", fault: faultproxy.Fault{Mode: faultproxy.Stall}, timeout: 3 * time.Second},
		{name: "slow headers", fault: faultproxy.Fault{Mode: faultproxy.Delay, Delay: 500 * time.Millisecond, Chunk: 1}, timeout: 3 * time.Second},
		{name: "refused", fault: faultproxy.Fault{Mode: faultproxy.Refuse}, timeout: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.Set(tt.fault)
			start := time.Now()
			res, err := relPost(ctx, c, w.URL("/pods?timeout="+tt.timeout.String()), review)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("review: %v", err)
			}
			t.Logf("HTTP %d allowed=%v code=%d %q after %v", res.HTTPStatus, res.Allowed, res.Code, res.Message, took.Round(time.Millisecond))
			if res.HTTPStatus != http.StatusOK {
				t.Fatalf("HTTP %d, want 200 with a review", res.HTTPStatus)
			}
			if took >= tt.timeout {
				t.Errorf("answered after %v: not before the %v deadline", took, tt.timeout)
			}
			if res.Allowed && len(res.Patch) > 0 {
				t.Errorf("a container whose entrypoint is unknown was wrapped")
			}
			if !res.Allowed && res.Message == "" {
				t.Errorf("denied without a message")
			}
			if strings.Contains(res.Message, "has no command") && !strings.Contains(res.Message, "registry") {
				t.Errorf("the webhook did not ask the registry (%q): image lookups are not wired in", res.Message)
			}
		})
	}
	proxy.Set(faultproxy.Fault{})
	if st := proxy.Stats(); st.Accepted == 0 {
		t.Errorf("the registry was never contacted through the proxy")
	}
}
