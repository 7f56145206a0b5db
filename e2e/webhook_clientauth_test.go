package e2e

// Client-certificate authentication of the apiserver (issue 16): with
// --client-ca-file the webhook's handshake requires a certificate of that
// CA (and, with --client-allowed-names, one of the names). A caller without
// it is refused at TLS; a real kube-apiserver whose AdmissionConfiguration
// gives it the certificate gets its reviews answered.

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/testcert"
)

const relAPIServerClientName = "vsw-apiserver-client"

// relClientCert is a client certificate of a CA of its own, as PEM files
// and for crypto/tls.
type relClientCert struct {
	CAFile, CertFile, KeyFile string
	TLS                       tls.Certificate
}

func relNewClientCert(t testing.TB, ca *relCA, dir, cn string) relClientCert {
	t.Helper()
	leaf, err := ca.Issue(testcert.Leaf{CommonName: cn, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	c := relClientCert{
		CAFile:   filepath.Join(dir, "client-ca.crt"),
		CertFile: filepath.Join(dir, cn+".crt"),
		KeyFile:  filepath.Join(dir, cn+".key"),
	}
	relWriteAtomic(t, c.CAFile, ca.PEM)
	relWriteAtomic(t, c.CertFile, leaf.CertPEM)
	relWriteAtomic(t, c.KeyFile, leaf.KeyPEM)
	if c.TLS, err = leaf.TLS(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWebhookClientCertAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clientCA := relNewCA(t)
	good := relNewClientCert(t, clientCA, dir, relAPIServerClientName)
	other := relNewClientCert(t, clientCA, dir, "someone-else")
	healthAddr := relFreeAddr(t)
	w := relStartWebhook(t, relWebhookOptions{
		ExtraArgs:  []string{"--client-ca-file", good.CAFile, "--client-allowed-names", relAPIServerClientName, "--health-listen-address", healthAddr},
		ClientCert: &good.TLS,
	})
	ctx := testContext(t)
	review := relReview(t, relPod("client-auth", 1))

	post := func(cert *tls.Certificate) (int, error) {
		cfg := w.TLSConfig()
		cfg.Certificates = nil
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		res, err := relPost(ctx, c, w.URL("/pods"), review)
		return res.HTTPStatus, err
	}
	t.Run("no client certificate: refused at TLS", func(t *testing.T) {
		code, err := post(nil)
		if err == nil || code != 0 {
			t.Fatalf("review without a client certificate: HTTP %d, err %v; want a TLS failure", code, err)
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("error %v does not come from the handshake", err)
		}
	})
	t.Run("certificate of the CA with another name: refused at TLS", func(t *testing.T) {
		if code, err := post(&other.TLS); err == nil || code != 0 {
			t.Fatalf("review with a certificate of another name: HTTP %d, err %v; want a TLS failure", code, err)
		}
	})
	t.Run("certificate of another CA: refused at TLS", func(t *testing.T) {
		foreign := relNewClientCert(t, relNewCA(t), t.TempDir(), relAPIServerClientName)
		if code, err := post(&foreign.TLS); err == nil || code != 0 {
			t.Fatalf("review with a certificate of another CA: HTTP %d, err %v; want a TLS failure", code, err)
		}
	})
	t.Run("the allowed certificate: answered", func(t *testing.T) {
		if code, err := post(&good.TLS); err != nil || code != http.StatusOK {
			t.Fatalf("review with the allowed certificate: HTTP %d, err %v", code, err)
		}
	})
	t.Run("probes use the plain-HTTP health listener, which serves no reviews", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + healthAddr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz on the health listener: %s", resp.Status)
		}
		res, err := relPost(ctx, c, "http://"+healthAddr+"/pods", review)
		if err != nil || res.HTTPStatus != http.StatusNotFound {
			t.Fatalf("POST /pods on the health listener: HTTP %d, err %v; want 404", res.HTTPStatus, err)
		}
	})
	t.Run("a real apiserver with the certificate in its AdmissionConfiguration", func(t *testing.T) {
		api := relStartAPIServer(t, good, w.Addr)
		relCheckAPIServerReview(t, api, w)
	})
}

// relAPIServer is a kube-apiserver the test started for itself, on the
// sandbox's etcd under a prefix of its own (so its webhook configuration
// reaches no other apiserver).
type relAPIServer struct {
	URL        string
	Kubeconfig string // admin, for kubectl
}

func relStartAPIServer(t *testing.T, client relClientCert, webhookAddr string) *relAPIServer {
	t.Helper()
	env := sandbox.Get(t)
	out, err := exec.Command("../scripts/tools.sh", "path", "kube-apiserver").Output()
	if err != nil {
		t.Fatalf("failed to find kube-apiserver (scripts/tools.sh path kube-apiserver): %v", err)
	}
	bin := strings.TrimSpace(string(out))
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	saPub, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	saKeyFile := write("sa.key", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})))
	saPubFile := write("sa.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub})))
	token := randomSuffix(t, 32)
	tokens := write("tokens.csv", token+",admin,admin,system:masters\n")
	// The apiserver side of client-certificate authentication: the
	// kubeconfig user named after the webhook's host:port holds the
	// certificate the webhook's --client-ca-file trusts.
	webhookKubeconfig := write("webhook-kubeconfig.yaml", fmt.Sprintf(`apiVersion: v1
kind: Config
users:
- name: %q
  user:
    client-certificate: %s
    client-key: %s
`, webhookAddr, client.CertFile, client.KeyFile))
	admissionCfg := write("admission.yaml", fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %s
`, webhookKubeconfig))

	for attempt := 0; ; attempt++ {
		addr := relFreeAddr(t)
		_, port, _ := strings.Cut(addr, ":")
		logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("apiserver-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin,
			"--etcd-servers="+env.EtcdEndpoint,
			"--etcd-prefix=/vsw-clientauth-"+randomSuffix(t, 8),
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
			"--cert-dir="+filepath.Join(dir, "certs"),
			"--token-auth-file="+tokens,
			"--authorization-mode=AlwaysAllow",
			"--admission-control-config-file="+admissionCfg,
			"--disable-admission-plugins=ServiceAccount",
			"--service-cluster-ip-range=10.97.0.0/16",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+saPubFile,
			"--service-account-signing-key-file="+saKeyFile,
			"--endpoint-reconciler-type=none",
		)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatalf("failed to start kube-apiserver: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
			logFile.Close()
		}
		api := &relAPIServer{URL: "https://" + addr}
		if relWaitAPIServer(api.URL, token, exited, 90*time.Second) {
			t.Cleanup(stop)
			api.Kubeconfig = write("admin-kubeconfig.yaml", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: c
  context: {cluster: c, user: admin}
current-context: c
`, api.URL, token))
			return api
		}
		stop()
		if attempt == 2 {
			t.Fatalf("kube-apiserver did not become ready; log:\n%s", relTail(logFile.Name(), 40))
		}
	}
}

// relWaitAPIServer polls /readyz until it answers 200, the process exits or
// the timeout passes.
func relWaitAPIServer(url, token string, exited <-chan struct{}, timeout time.Duration) bool {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}

// relCheckAPIServerReview registers w with api and creates a pod through
// api: the pod comes back mutated, so the apiserver's review passed the
// webhook's client-certificate check.
func relCheckAPIServerReview(t *testing.T, api *relAPIServer, w *relWebhook) {
	t.Helper()
	env := sandbox.Get(t)
	kc := func(stdin string, args ...string) ([]byte, error) {
		cmd := exec.Command(env.Bin.Kubectl, append([]string{"--kubeconfig", api.Kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	caPEM := w.CA.PEM
	cfg := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: vsw-clientauth}
webhooks:
- name: pods.vsw-clientauth.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 10
  clientConfig:
    url: https://%s/pods
    caBundle: %s
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
`, w.Addr, base64.StdEncoding.EncodeToString(caPEM))
	if _, err := kc(cfg, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"client-auth","namespace":"default"},
"spec":{"containers":[{"name":"app","image":"testapp:1","command":["/app"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`
	// The webhook configuration takes a moment to reach the apiserver's
	// admission chain: retry until the pod comes back mutated.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := kc(pod, "create", "--dry-run=server", "-o", "json", "-f", "-")
		if err == nil {
			var got struct {
				Spec struct {
					Containers []struct {
						Command []string `json:"command"`
					} `json:"containers"`
				} `json:"spec"`
			}
			if jerr := json.Unmarshal(out, &got); jerr != nil {
				t.Fatalf("kubectl output: %v\n%s", jerr, out)
			}
			if len(got.Spec.Containers) == 1 && len(got.Spec.Containers[0].Command) > 0 && got.Spec.Containers[0].Command[0] == "/vault/vault-env" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the apiserver's review did not mutate the pod (last error %v, output %s); webhook log:\n%s", err, out, relTail(w.LogFile, 20))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
