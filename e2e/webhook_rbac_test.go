package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	vswtls "github.com/vault-secrets-webhook/vault-secrets-webhook/tls"
)

// whInstance is a webhook process started by a test, registered by a
// MutatingWebhookConfiguration of its own that matches only pods labelled
// wh-instance=<label>.
type whInstance struct {
	label, image string
	logs         *whSyncBuffer
}

// whStartWebhook runs the sandbox's webhook binary with certificate files,
// the Kubernetes identity in tokenFile, and extra args; registers it; and
// stops and unregisters it when the test ends.
func whStartWebhook(t *testing.T, tokenFile string, extra ...string) *whInstance {
	t.Helper()
	env := sandbox.Get(t)
	c := kubeClient(t)
	ctx := testContext(t)
	dir := t.TempDir()
	ss, err := vswtls.GenerateSelfSigned([]string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ss.Source.GetCertificate(nil)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &whInstance{label: randomSuffix(t, 12), logs: &whSyncBuffer{}}
	w.image = "registry.invalid/instance/vault-env:" + w.label
	addr := whFreePort(t)
	args := append([]string{"--listen-address=" + addr, "--tls-cert-file=" + certFile, "--tls-key-file=" + keyFile,
		"--kube-server=" + env.KubeServer, "--kube-ca-file=" + env.KubeCAFile, "--kube-token-file=" + tokenFile,
		"--vault-addr=" + env.VaultAddr, "--vault-env-image=" + w.image, "--namespace=" + env.WebhookNamespace, "--shutdown-timeout=5s"}, extra...)
	cmd := exec.Command(env.Bin.Webhook, args...)
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	cmd.Env = []string{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ss.CAPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	poll(t, waitTimeout, "the webhook's /healthz", func() (bool, error) {
		select {
		case <-exited:
			t.Fatalf("webhook exited:\n%s", w.logs.String())
		default:
		}
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	name := "aaa-" + uniqueName(t, "wh")
	whRegister(t, ctx, c, name, "pods.instance.vault-secrets-webhook.dev", addr, ss.CAPEM, "wh-instance", w.label, w.image)
	return w
}

// TestWebhookLeastPrivilege runs webhooks as a ServiceAccount with no RBAC
// at all. With --least-privilege it needs none: a container using
// secretKeyRef is wrapped without the Secret being read. Without it, the
// webhook cannot read the Secret and refuses the pod, naming the Secret.
func TestWebhookLeastPrivilege(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	c := kubeClient(t)
	ctx := testContext(t)
	ns := createNamespace(t)
	createServiceAccount(t, ns, "no-rbac")
	exp := int64(3600)
	tr, err := c.CreateToken(ctx, ns, "no-rbac", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	whCreateObject(t, ns, "Secret", "app", map[string]string{"password": "plain"})
	pod := func(name, label string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"wh-instance": label}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{whApp("app", []corev1.EnvVar{{Name: "P", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, Key: "password"}}}}, nil)}}}
	}

	t.Run("least-privilege wraps without reading", func(t *testing.T) {
		w := whStartWebhook(t, tokenFile, "--least-privilege")
		stored := createPod(t, ns, pod("lp", w.label))
		if len(stored.Spec.InitContainers) == 0 || stored.Spec.InitContainers[0].Image != w.image {
			t.Fatalf("pod not wrapped by the least-privilege webhook; log:\n%s", w.logs.String())
		}
	})
	t.Run("default mode needs to read secrets", func(t *testing.T) {
		w := whStartWebhook(t, tokenFile)
		p := pod("full", w.label)
		p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods", p, nil)
		if err == nil || !strings.Contains(err.Error(), "failed to read Secret "+ns+"/app") {
			t.Fatalf("want a refusal naming the Secret, got %v", err)
		}
	})
}
