package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// TestWebhookDryRun: a server-side dry-run create is mutated (the webhook
// declares sideEffects None) and nothing is stored.
func TestWebhookDryRun(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	c := kubeClient(t)
	ctx := testContext(t)
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "dry"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{whApp("app", []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/x#y"}}, nil)}}}
	var out corev1.Pod
	if err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods?dryRun=All", pod, &out); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if out.Annotations["vault.security.banzaicloud.io/mutated"] != "true" {
		t.Fatalf("dry-run pod not mutated: %v", out.Annotations)
	}
	if _, err := c.GetPod(ctx, ns, "dry"); !kube.IsNotFound(err) {
		t.Fatalf("dry-run pod was stored (err=%v)", err)
	}
}

// whSyncBuffer collects a child's output; safe to read while it writes.
type whSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *whSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *whSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// whFreePort asks the OS for a free loopback port.
func whFreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestWebhookSelfSigned runs a second webhook from the sandbox's binary in
// self-signed mode: it generates its CA, publishes the caBundle into its own
// MutatingWebhookConfiguration over REST, and the real apiserver then calls
// it over TLS trusting that CA.
func TestWebhookSelfSigned(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	if env.Bin.Webhook == "" {
		t.Fatal("the sandbox has no webhook binary")
	}
	c := kubeClient(t)
	ctx := testContext(t)
	ns := createNamespace(t)
	// Sorted before the sandbox's own configuration, so this webhook sees
	// the pod first; it only matches pods with this test's label.
	name := "aaa-" + uniqueName(t, "wh")
	label := randomSuffix(t, 12)
	addr := whFreePort(t)
	image := "registry.invalid/selfsigned/vault-env:" + label
	whRegister(t, ctx, c, name, "pods.selfsigned.vault-secrets-webhook.dev", addr, nil, "wh-selfsigned", label, image)

	var logs whSyncBuffer
	cmd := exec.Command(env.Bin.Webhook, "--tls-self-signed", "--webhook-config-name="+name, "--tls-hosts=127.0.0.1",
		"--listen-address="+addr, "--kube-server="+env.KubeServer, "--kube-ca-file="+env.KubeCAFile, "--kube-token-file="+env.KubeTokenFile,
		"--vault-addr="+env.VaultAddr, "--vault-env-image="+image, "--namespace="+env.WebhookNamespace, "--shutdown-timeout=5s")
	cmd.Stdout, cmd.Stderr = &logs, &logs
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

	// The caBundle appears; the served certificate verifies against it.
	var caPEM []byte
	poll(t, waitTimeout, "the caBundle of "+name, func() (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("webhook exited:\n%s", logs.String())
		default:
		}
		var got admissionregistrationv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"+name, &got); err != nil {
			return false, err
		}
		caPEM = got.Webhooks[0].ClientConfig.CABundle
		return len(caPEM) > 0, nil
	})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("published caBundle is not PEM: %q", caPEM)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	poll(t, waitTimeout, "the self-signed webhook's /readyz", func() (bool, error) {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "selfsigned", Labels: map[string]string{"wh-selfsigned": label}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{whApp("app", []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/x#y"}}, nil)}}}
	stored := createPod(t, ns, pod)
	if len(stored.Spec.InitContainers) == 0 || stored.Spec.InitContainers[0].Image != image {
		b, _ := json.Marshal(stored.Spec.InitContainers)
		t.Fatalf("pod not mutated by the self-signed webhook: %s\nwebhook log:\n%s", b, logs.String())
	}
}
