package e2e

// Helpers of the reliability tests (issue 8): a webhook process of the test's
// own, started from the sandbox's build of this checkout with a certificate
// the test generates (and can rotate), AdmissionReview builders, and readers
// of the process's memory and thread figures.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/faultproxy"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/testcert"
)

// relCA is a throwaway CA that signs serving certificates for 127.0.0.1.
type relCA struct{ *testcert.CA }

func relNewCA(t testing.TB) *relCA {
	t.Helper()
	ca, err := testcert.NewCA("vsw-reliability-ca")
	if err != nil {
		t.Fatal(err)
	}
	return &relCA{ca}
}

// writeServing writes a fresh serving certificate and key for ip (default
// 127.0.0.1) to certFile and keyFile, each replaced atomically (temp file +
// rename, the way a kubelet updates a mounted Secret), and returns the
// certificate's serial.
func (ca *relCA) writeServing(t testing.TB, certFile, keyFile string, ip ...string) int64 {
	t.Helper()
	l := testcert.Loopback()
	if len(ip) > 0 {
		l.CommonName, l.IPs = ip[0], []net.IP{net.ParseIP(ip[0])}
	}
	leaf, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	// Key first: a reader that sees the new certificate must find its key.
	relWriteAtomic(t, keyFile, leaf.KeyPEM)
	relWriteAtomic(t, certFile, leaf.CertPEM)
	return leaf.Serial
}

func relWriteAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatalf("failed to write %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("failed to rename %s: %v", tmp, err)
	}
}

// relWebhook is a webhook process a test started for itself (the sandbox's
// own webhook is shared by every test and must not be disturbed).
type relWebhook struct {
	Addr              string // 127.0.0.1:PORT
	CertFile, KeyFile string
	LogFile           string
	CA                *relCA
	clientCert        *tls.Certificate // presented by TLSConfig's clients
	cmd               *exec.Cmd
	exited            chan struct{}
	waitErr           error
	stopOnce          sync.Once
}

// relWebhookOptions change how relStartWebhook starts the webhook.
type relWebhookOptions struct {
	KubeServer string   // default: the sandbox apiserver (a fault proxy goes here)
	ExtraArgs  []string // appended to the command line
	ExtraEnv   []string // KEY=VALUE added to the environment
	// ClientCert is presented by the test's clients (waitHealthy, Client)
	// to a webhook started with --client-ca-file.
	ClientCert *tls.Certificate
}

// relStartWebhook starts the sandbox's webhook binary on a free loopback port
// with a freshly generated certificate, waits until /healthz answers, and
// stops it when the test ends.
func relStartWebhook(t testing.TB, opt relWebhookOptions) *relWebhook {
	t.Helper()
	env := sandbox.Get(t)
	if env.Bin.Webhook == "" {
		t.Fatal("the sandbox has no webhook binary")
	}
	dir := t.TempDir()
	w := &relWebhook{
		CertFile:   filepath.Join(dir, "tls.crt"),
		KeyFile:    filepath.Join(dir, "tls.key"),
		LogFile:    filepath.Join(dir, "webhook.log"),
		CA:         relNewCA(t),
		exited:     make(chan struct{}),
		clientCert: opt.ClientCert,
	}
	w.CA.writeServing(t, w.CertFile, w.KeyFile)
	kubeServer := opt.KubeServer
	if kubeServer == "" {
		kubeServer = env.KubeServer
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		w.Addr = relFreeAddr(t)
		args := []string{
			"--listen-address", w.Addr,
			"--tls-cert-file", w.CertFile,
			"--tls-key-file", w.KeyFile,
			"--kube-server", kubeServer,
			"--kube-ca-file", env.KubeCAFile,
			"--kube-token-file", env.KubeTokenFile,
			"--vault-addr", env.VaultAddr,
			"--namespace", "vault-infra",
		}
		args = append(args, opt.ExtraArgs...)
		lf, err := os.OpenFile(w.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatalf("failed to open webhook log: %v", err)
		}
		cmd := exec.Command(env.Bin.Webhook, args...)
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.Env = append(relBaseEnv(), opt.ExtraEnv...)
		if err := cmd.Start(); err != nil {
			lf.Close()
			t.Fatalf("failed to start the webhook: %v", err)
		}
		lf.Close()
		w.cmd = cmd
		w.exited = make(chan struct{})
		go func(w *relWebhook, exited chan struct{}) {
			w.waitErr = cmd.Wait()
			close(exited)
		}(w, w.exited)
		if lastErr = w.waitHealthy(60 * time.Second); lastErr == nil {
			t.Cleanup(func() { w.stop(t) })
			return w
		}
		w.kill()
	}
	t.Fatalf("failed to start the webhook: %v\nlog:\n%s", lastErr, relTail(w.LogFile, 40))
	return nil
}

// relSandbox returns the sandbox (skipping or failing as sandbox.Get does).
func relSandbox(t testing.TB) *sandbox.Env {
	t.Helper()
	return sandbox.Get(t)
}

// relProxy starts a fault proxy in front of upstream (a URL or host:port)
// and closes it when the test ends.
func relProxy(t testing.TB, upstream string) *faultproxy.Proxy {
	t.Helper()
	hostport := upstream
	if u, err := url.Parse(upstream); err == nil && u.Host != "" {
		hostport = u.Host
	}
	p, err := faultproxy.New(hostport)
	if err != nil {
		t.Fatalf("failed to start fault proxy: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// relBaseEnv is a minimal environment for a child process: no sandbox
// credentials, no proxies.
func relBaseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
}

func relFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("failed to find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (w *relWebhook) PID() int { return w.cmd.Process.Pid }

// TLSConfig trusts the test's CA only.
func (w *relWebhook) TLSConfig() *tls.Config {
	cfg := &tls.Config{RootCAs: w.CA.Pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
	if w.clientCert != nil {
		cfg.Certificates = []tls.Certificate{*w.clientCert}
	}
	return cfg
}

// Client returns an HTTP/1.1 keep-alive client with up to conns connections.
func (w *relWebhook) Client(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:     w.TLSConfig(),
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

func (w *relWebhook) URL(path string) string { return "https://" + w.Addr + path }

func (w *relWebhook) waitHealthy(timeout time.Duration) error {
	c := w.Client(1, 2*time.Second)
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(w.URL("/healthz"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz answered %s", resp.Status)
		}
		select {
		case <-w.exited:
			return fmt.Errorf("webhook exited before it was healthy: %v", w.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook not healthy after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Exited reports whether the process has ended.
func (w *relWebhook) Exited() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (w *relWebhook) Signal(sig os.Signal) error { return w.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to end; it reports whether it
// ended, and its exit error.
func (w *relWebhook) Wait(timeout time.Duration) (bool, error) {
	select {
	case <-w.exited:
		return true, w.waitErr
	case <-time.After(timeout):
		return false, nil
	}
}

func (w *relWebhook) kill() {
	if w.cmd != nil && w.cmd.Process != nil && !w.Exited() {
		w.cmd.Process.Kill()
		<-w.exited
	}
}

// stop ends the process (SIGTERM, then SIGKILL after 10s) and fails the test
// if the process died of a panic.
func (w *relWebhook) stop(t testing.TB) {
	w.stopOnce.Do(func() {
		if !w.Exited() {
			w.cmd.Process.Signal(syscall.SIGTERM)
			if ok, _ := w.Wait(10 * time.Second); !ok {
				w.kill()
			}
		}
		if logs, err := os.ReadFile(w.LogFile); err == nil {
			if bytes.Contains(logs, []byte("panic:")) || bytes.Contains(logs, []byte("fatal error:")) {
				t.Errorf("the webhook crashed; log tail:\n%s", relTail(w.LogFile, 60))
			}
		}
	})
}

// relTail returns the last n lines of a file.
func relTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// relProcStatus reads the kB figures and Threads of /proc/PID/status.
type relProcStatus struct {
	VmRSSKB, VmHWMKB int64
	Threads          int64
}

func relReadProcStatus(pid int) (relProcStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return relProcStatus{}, fmt.Errorf("failed to read process status: %w", err)
	}
	defer f.Close()
	var s relProcStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			s.VmRSSKB = n
		case "VmHWM":
			s.VmHWMKB = n
		case "Threads":
			s.Threads = n
		}
	}
	return s, sc.Err()
}

// relMetric returns the value of an unlabelled metric from /metrics, or
// ok=false when the webhook does not expose it.
func relMetric(t testing.TB, w *relWebhook, name string) (float64, bool) {
	t.Helper()
	c := w.Client(1, 10*time.Second)
	defer c.CloseIdleConnections()
	resp, err := c.Get(w.URL("/metrics"))
	if err != nil {
		t.Fatalf("failed to read /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// relPod is a Pod with one container whose env holds refs Vault references
// next to plain values.
func relPod(name string, refs int) *corev1.Pod {
	var env []corev1.EnvVar
	for i := range 5 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("PLAIN_%d", i), Value: "value"})
	}
	for i := range refs {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SECRET_%d", i), Value: fmt.Sprintf("vault:secret/data/rel/app#key%d", i)})
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "rel"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers: []corev1.Container{{
				Name:    "app",
				Image:   "testapp:1",
				Command: []string{"/app", "--serve"},
				Env:     env,
			}},
		},
	}
}

// relReview wraps pod in an AdmissionReview CREATE request with a fresh UID.
func relReview(t testing.TB, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatalf("failed to encode pod: %v", err)
	}
	ns := pod.Namespace
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("rel-" + randomSuffix(t, 16)),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(review)
	if err != nil {
		t.Fatalf("failed to encode review: %v", err)
	}
	return b
}

// relReviewResult is the part of an answer the reliability tests check.
type relReviewResult struct {
	HTTPStatus int
	UID        string
	Allowed    bool
	Code       int32
	Message    string
	Patch      []byte
}

var errRelNoResponse = errors.New("answer has no response")

// relPost sends one review and decodes the answer.
func relPost(ctx context.Context, c *http.Client, url string, body []byte) (relReviewResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return relReviewResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return relReviewResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return relReviewResult{HTTPStatus: resp.StatusCode}, err
	}
	res := relReviewResult{HTTPStatus: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		res.Message = strings.TrimSpace(string(b))
		return res, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil {
		return res, fmt.Errorf("failed to decode answer: %w", err)
	}
	if out.Response == nil {
		return res, errRelNoResponse
	}
	res.UID = string(out.Response.UID)
	res.Allowed = out.Response.Allowed
	res.Patch = out.Response.Patch
	if out.Response.Result != nil {
		res.Code = out.Response.Result.Code
		res.Message = out.Response.Result.Message
	}
	return res, nil
}

// relUID extracts the request UID of a review built by relReview.
func relUID(t testing.TB, review []byte) string {
	t.Helper()
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(review, &r); err != nil || r.Request == nil {
		t.Fatalf("failed to decode own review: %v", err)
	}
	return string(r.Request.UID)
}
