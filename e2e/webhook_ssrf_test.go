package e2e

// The SSRF reproduction of issue 16, through the real apiserver and the
// sandbox's webhook (a pod on the node): a pod without a command names an
// image in an attacker's registry, whose bearer realm points at an internal
// "metadata" listener. Both listen on the node's bridge gateway, where the
// webhook's pod reaches them. A plain-http realm must be refused before any
// connection (the listener gets none); a loopback realm (the webhook pod's
// own loopback, where its local services would live) is refused by the
// address guard; the attacker's registry never sees a token; the refusal
// names the image and registry without quoting any server.

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

func TestWebhookRegistrySSRF(t *testing.T) {
	env := sandbox.Get(t)
	onGateway := func(srv *httptest.Server) {
		l, err := net.Listen("tcp", net.JoinHostPort(env.Node.Gateway, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	const metaToken = "metadata-credential-e2e"
	var metaConns atomic.Int32
	meta := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Code":"Success","Token":"` + metaToken + `","AccessToken":"` + metaToken + `"}`))
	}))
	meta.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			metaConns.Add(1)
		}
	}
	onGateway(meta)
	meta.StartTLS()
	t.Cleanup(meta.Close)
	metaHost := meta.Listener.Addr().String()

	var mu sync.Mutex
	var seen []string // Authorization headers the attacker received
	_, metaPort, _ := net.SplitHostPort(metaHost)
	realms := map[string]string{
		"plain":    "http://" + metaHost + "/latest/api/token",
		"loopback": "https://127.0.0.1:" + metaPort + "/latest/api/token",
		"name":     "https://localhost:" + metaPort + "/latest/api/token",
	}
	attacker := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		// /v2/<kind>/app/manifests/v1: the repository names the realm.
		kind := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/")[0]
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realms[kind]+`",service="evil"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	// https, as a real registry: the pod's registry-skip-verify lets the
	// webhook accept its certificate (the pod author controls that)
	onGateway(attacker)
	attacker.StartTLS()
	t.Cleanup(attacker.Close)
	attackerHost := attacker.Listener.Addr().String()

	ns := createNamespace(t)
	c := kubeClient(t)
	ctx := testContext(t)
	for kind := range realms {
		t.Run(kind, func(t *testing.T) {
			image := attackerHost + "/" + kind + "/app:v1"
			pod := &corev1.Pod{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{Name: "ssrf-" + kind,
					Annotations: map[string]string{"vault.security.banzaicloud.io/registry-skip-verify": "true"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Env: []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/x#y"}},
				}}},
			}
			err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods", pod, nil)
			var se *kube.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("pod with the attacker's image: err %v, want a refusal", err)
			}
			msg := se.Error()
			t.Logf("refusal: %s", msg)
			for _, want := range []string{image, "from registry " + attackerHost, "refused by the webhook"} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q does not name %q", msg, want)
				}
			}
			if strings.Contains(msg, metaHost) || strings.Contains(msg, metaToken) {
				t.Errorf("refusal %q quotes the internal service", msg)
			}
		})
	}
	if n := metaConns.Load(); n != 0 {
		t.Errorf("the metadata listener got %d connections", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the attacker's registry was never asked: the test did not exercise the lookup")
	}
	for _, h := range seen {
		if h != "" {
			t.Errorf("the attacker's registry received Authorization %q", h)
		}
	}
}
