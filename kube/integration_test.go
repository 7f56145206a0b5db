package kube_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// sandboxClient returns a client for the sandbox apiserver and a fresh
// namespace that is deleted when the test ends.
func sandboxClient(t *testing.T) (*kube.Client, string) {
	t.Helper()
	env := sandbox.Get(t)
	c, err := kube.New(kube.Config{Server: env.KubeServer, CAFile: env.KubeCAFile, TokenFile: env.KubeTokenFile, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "kube-it-" + hex.EncodeToString(b)
	ctx := t.Context()
	if err := c.Create(ctx, kube.CorePath("", "namespaces", ""), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Delete(ctx, kube.CorePath("", "namespaces", ns)); err != nil && !kube.IsNotFound(err) {
			t.Errorf("delete namespace: %v", err)
		}
	})
	return c, ns
}

func TestSandboxReady(t *testing.T) {
	env := sandbox.Get(t)
	c, err := kube.New(kube.Config{Server: env.KubeServer, CAFile: env.KubeCAFile, TokenFile: env.KubeTokenFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	bad, err := kube.New(kube.Config{Server: env.KubeServer, CAFile: env.KubeCAFile})
	if err != nil {
		t.Fatal(err)
	}
	// Anonymous requests are either refused outright or forbidden.
	_, err = bad.GetSecret(t.Context(), "default", "x")
	if !kube.IsUnauthorized(err) && !kube.IsForbidden(err) {
		t.Errorf("anonymous get: err = %v, want 401 or 403", err)
	}
}

func TestSandboxConfigMapLifecycle(t *testing.T) {
	c, ns := sandboxClient(t)
	ctx := t.Context()
	path := kube.CorePath(ns, "configmaps", "settings")

	if _, err := c.GetConfigMap(ctx, ns, "settings"); !kube.IsNotFound(err) {
		t.Fatalf("get before create: err = %v, want not found", err)
	}
	in := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"a": "1"}}
	if err := c.Create(ctx, kube.CorePath(ns, "configmaps", ""), in, nil); err != nil {
		t.Fatal(err)
	}
	patches := []struct {
		name      string
		patchType string
		patch     string
		key, want string
	}{
		{"json patch", kube.PatchJSON, `[{"op":"add","path":"/data/b","value":"2"}]`, "b", "2"},
		{"merge patch", kube.PatchMerge, `{"data":{"c":"3"}}`, "c", "3"},
		{"strategic merge patch", kube.PatchStrategicMerge, `{"data":{"a":"one"}}`, "a", "one"},
	}
	for _, p := range patches {
		t.Run(p.name, func(t *testing.T) {
			var out corev1.ConfigMap
			if err := c.Patch(ctx, path, p.patchType, []byte(p.patch), &out); err != nil {
				t.Fatal(err)
			}
			if out.Data[p.key] != p.want {
				t.Errorf("patched data = %v", out.Data)
			}
		})
	}
	got, err := c.GetConfigMap(ctx, ns, "settings")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "one" || got.Data["b"] != "2" || got.Data["c"] != "3" {
		t.Errorf("data = %v", got.Data)
	}
	// A JSON patch whose test op fails is an Invalid/Unprocessable answer.
	err = c.Patch(ctx, path, kube.PatchJSON, []byte(`[{"op":"test","path":"/data/a","value":"nope"}]`), nil)
	var se *kube.StatusError
	if !errors.As(err, &se) || se.Code != 422 {
		t.Errorf("failing test op: err = %v, want a 422 StatusError", err)
	}
	if err := c.Delete(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, path); !kube.IsNotFound(err) {
		t.Fatalf("second delete: err = %v, want not found", err)
	}
}

func TestSandboxSecret(t *testing.T) {
	c, ns := sandboxClient(t)
	ctx := t.Context()
	in := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db-creds"},
		Data:       map[string][]byte{"password": []byte("pa55\x00word")},
	}
	if err := c.Create(ctx, kube.CorePath(ns, "secrets", ""), in, nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecret(ctx, ns, "db-creds")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["password"]) != "pa55\x00word" {
		t.Errorf("password round trip failed (len %d)", len(got.Data["password"]))
	}
	_, err = c.GetSecret(ctx, ns, "missing")
	if !kube.IsNotFound(err) {
		t.Fatalf("err = %v, want not found", err)
	}
	if !strings.Contains(err.Error(), `secrets "missing" not found`) {
		t.Errorf("error text = %q", err)
	}
	// A name that needs escaping reaches the server as one segment.
	if _, err := c.GetSecret(ctx, ns, "a/b"); err == nil || kube.IsForbidden(err) {
		t.Errorf("get a/b: err = %v", err)
	}
}

func TestSandboxTokenRequest(t *testing.T) {
	c, ns := sandboxClient(t)
	ctx := t.Context()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	if err := c.Create(ctx, kube.CorePath(ns, "serviceaccounts", ""), sa, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetServiceAccount(ctx, ns, "app"); err != nil {
		t.Fatal(err)
	}
	exp := int64(600)
	tr, err := c.CreateToken(ctx, ns, "app", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: &exp},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tr.Status.Token, ".") != 2 {
		t.Errorf("token is not a JWT (len %d)", len(tr.Status.Token))
	}
	if tr.Status.ExpirationTimestamp.IsZero() {
		t.Error("no expiration timestamp")
	}
	// The token authenticates: TokenReview says who it is.
	review := &authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authenticationv1.TokenReviewSpec{Token: tr.Status.Token, Audiences: []string{"vault"}},
	}
	var out authenticationv1.TokenReview
	if err := c.Create(ctx, kube.GroupPath("authentication.k8s.io", "v1", "", "tokenreviews", ""), review, &out); err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":app"; !out.Status.Authenticated || out.Status.User.Username != want {
		t.Errorf("review = %+v, want authenticated as %s", out.Status, want)
	}
	if _, err := c.CreateToken(ctx, ns, "nobody", &authenticationv1.TokenRequest{}); !kube.IsNotFound(err) {
		t.Errorf("token for a missing SA: err = %v, want not found", err)
	}
}
