// Package e2e holds the end-to-end tests: they drive the real servers of the
// local sandbox (scripts/sandbox: a one-node cluster — kube-apiserver,
// kube-controller-manager, kube-scheduler, a kubelet with containerd and
// runc —, Vault, a registry, and the webhook built from this checkout and
// installed from manifests/), and the node runs the mutated Pods
// (runContainer reads their logs and status).
//
// Environment (see package e2e/sandbox):
//
//	VSW_SANDBOX        the sandbox directory holding env.json; unset: tests skip
//	VSW_E2E_REQUIRED   "1": a missing sandbox fails the tests instead (make test)
//
// This file holds the helpers every e2e test file shares. Each test works in
// a namespace of its own (createNamespace), so tests can run in parallel and
// alongside other packages' tests on the same sandbox. Vault's role "default"
// is bound to namespace default only: a test in its own namespace creates a
// role for its ServiceAccount with vaultRole.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// Bounds of the helpers' waits. Generous for a loaded two-core machine, but
// every wait is bounded.
const (
	waitTimeout      = 90 * time.Second
	pollInterval     = 200 * time.Millisecond
	containerTimeout = 90 * time.Second
)

// kubeClient returns a client of the sandbox's kube-apiserver acting as its
// admin (system:masters).
func kubeClient(t testing.TB) *kube.Client {
	t.Helper()
	env := sandbox.Get(t)
	c, err := kube.New(kube.Config{
		Server:    env.KubeServer,
		CAFile:    env.KubeCAFile,
		TokenFile: env.KubeTokenFile,
		Timeout:   30 * time.Second,
	})
	if err != nil {
		t.Fatalf("failed to create kubernetes client: %v", err)
	}
	return c
}

// testContext is a context bounded by the test's deadline (or ten minutes)
// and cancelled when the test ends.
func testContext(t testing.TB) context.Context {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	if tt, ok := t.(*testing.T); ok {
		if d, ok := tt.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// randomSuffix returns n random hex characters.
func randomSuffix(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("failed to read random bytes: %v", err)
	}
	return hex.EncodeToString(b)[:n]
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// uniqueName returns a DNS label made of prefix, the test's name and a
// random suffix: unique across tests and runs on the same sandbox.
func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	base := notDNSLabel.ReplaceAllString(strings.ToLower(prefix+"-"+t.Name()), "-")
	if len(base) > 50 {
		base = base[:50]
	}
	return strings.Trim(base, "-") + "-" + randomSuffix(t, 6)
}

// poll calls cond every pollInterval until it reports done, fails the test
// when cond returns an error or when timeout passes. what names the wait in
// the failure message.
func poll(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, err := cond()
		if err != nil {
			t.Fatalf("failed waiting for %s: %v", what, err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}

// createNamespace creates a namespace unique to the test, waits until the
// controller manager has created its "default" ServiceAccount (Pods are
// refused before that), and deletes it when the test ends.
func createNamespace(t testing.TB) string {
	t.Helper()
	c := kubeClient(t)
	ctx := testContext(t)
	name := uniqueName(t, "e2e")
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	if err := c.Create(ctx, "/api/v1/namespaces", ns, nil); err != nil {
		t.Fatalf("failed to create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// Deletion is asynchronous (the namespace controller empties it);
		// nothing waits for it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx, "/api/v1/namespaces/"+name); err != nil && !kube.IsNotFound(err) {
			t.Errorf("failed to delete namespace %s: %v", name, err)
		}
	})
	poll(t, waitTimeout, "ServiceAccount default in namespace "+name, func() (bool, error) {
		_, err := c.GetServiceAccount(ctx, name, "default")
		if kube.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	return name
}

// createSkippedNamespace creates a namespace the webhook never serves (it
// carries the skip label its MutatingWebhookConfiguration excludes), as the
// webhook's own namespace is, but without that namespace's Pod Security
// level: what admission does to an unmutated pod can be seen there.
func createSkippedNamespace(t testing.TB) string {
	t.Helper()
	ns := createNamespace(t)
	patch := []byte(`{"metadata":{"labels":{"security.banzaicloud.io/mutate":"skip"}}}`)
	if err := kubeClient(t).Patch(testContext(t), "/api/v1/namespaces/"+ns, "application/merge-patch+json", patch, nil); err != nil {
		t.Fatalf("failed to label namespace %s: %v", ns, err)
	}
	return ns
}

// createServiceAccount creates ServiceAccount name in namespace ns.
func createServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	if err := kubeClient(t).Create(testContext(t), "/api/v1/namespaces/"+ns+"/serviceaccounts", sa, nil); err != nil {
		t.Fatalf("failed to create serviceaccount %s/%s: %v", ns, name, err)
	}
}

// createPod creates pod in namespace ns and returns it as stored (that is,
// after the webhook mutated it).
func createPod(t testing.TB, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	var out corev1.Pod
	if err := kubeClient(t).Create(testContext(t), "/api/v1/namespaces/"+ns+"/pods", pod, &out); err != nil {
		t.Fatalf("failed to create pod in %s: %v", ns, err)
	}
	return &out
}

// getRaw returns the JSON of an API object as the apiserver sends it.
func getRaw(t testing.TB, path string) []byte {
	t.Helper()
	var raw json.RawMessage
	if err := kubeClient(t).Get(testContext(t), path, &raw); err != nil {
		t.Fatalf("failed to get %s: %v", path, err)
	}
	return raw
}

// waitForPod waits for a Pod in ns matching labelSelector (for example
// "app=demo") that is not being deleted, and returns it. It is how a test
// finds the Pod a controller (ReplicaSet, Job) created.
func waitForPod(t testing.TB, ns, labelSelector string) *corev1.Pod {
	t.Helper()
	c := kubeClient(t)
	ctx := testContext(t)
	path := "/api/v1/namespaces/" + ns + "/pods?labelSelector=" + url.QueryEscape(labelSelector)
	var found *corev1.Pod
	poll(t, waitTimeout, "a pod with labels "+labelSelector+" in "+ns, func() (bool, error) {
		var list corev1.PodList
		if err := c.Get(ctx, path, &list); err != nil {
			return false, err
		}
		for i := range list.Items {
			if list.Items[i].DeletionTimestamp == nil {
				found = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// vaultRequest sends one request to the sandbox's Vault with the root token
// and decodes a JSON answer into out (when out is non-nil).
func vaultRequest(t testing.TB, method, path string, body, out any) error {
	t.Helper()
	env := sandbox.Get(t)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("failed to encode vault request: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	// Not testContext: this also runs from Cleanup functions.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, env.VaultAddr+"/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatalf("failed to build vault request: %v", err)
	}
	req.Header.Set("X-Vault-Token", env.VaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to call vault %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("failed to read vault answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("failed to call vault %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("failed to decode vault answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// vaultWrite writes body to a Vault API path (as `vault write PATH`) with the
// root token.
func vaultWrite(t testing.TB, path string, body map[string]any) {
	t.Helper()
	if err := vaultRequest(t, http.MethodPost, path, body, nil); err != nil {
		t.Fatal(err)
	}
}

// vaultPut writes data as a new version of the KV v2 secret at path in the
// sandbox's `secret/` mount (as `vault kv put secret/PATH k=v...`; an env
// value refers to it as vault:secret/data/PATH#KEY) and deletes the secret
// with all its versions when the test ends.
func vaultPut(t testing.TB, path string, data map[string]string) {
	t.Helper()
	vaultWrite(t, "secret/data/"+path, map[string]any{"data": data})
	t.Cleanup(func() {
		if err := vaultRequest(t, http.MethodDelete, "secret/metadata/"+path, nil, nil); err != nil {
			t.Errorf("failed to delete vault secret: %v", err)
		}
	})
}

// vaultRole writes a Vault kubernetes-auth role named after ServiceAccount sa,
// bound to sa in namespace (with the sandbox's policy), and deletes it when
// the test ends. The role is named after the ServiceAccount because that is
// vault-env's default VAULT_ROLE; role names are global, so give sa a name
// unique to the test (uniqueName) unless the Pod names its role itself.
func vaultRole(t testing.TB, namespace, sa string) string {
	t.Helper()
	env := sandbox.Get(t)
	vaultWrite(t, "auth/kubernetes/role/"+sa, map[string]any{
		"bound_service_account_names":      []string{sa},
		"bound_service_account_namespaces": []string{namespace},
		"token_policies":                   []string{env.VaultPolicy},
		"token_ttl":                        "1h",
	})
	t.Cleanup(func() {
		if err := vaultRequest(t, http.MethodDelete, "auth/kubernetes/role/"+sa, nil, nil); err != nil {
			t.Errorf("failed to delete vault role: %v", err)
		}
	})
	return sa
}

// etcdDump returns everything the apiserver stored (`etcdctl get --prefix
// /registry`), to check that no secret value ever reached etcd.
func etcdDump(t testing.TB) []byte {
	t.Helper()
	env := sandbox.Get(t)
	ctx, cancel := context.WithTimeout(testContext(t), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Bin.Etcdctl, "--endpoints", env.EtcdEndpoint, "get", "--prefix", "/registry")
	cmd.Env = []string{"ETCDCTL_API=3"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("failed to read etcd: %v: %s", err, stderr.String())
	}
	if len(out) == 0 {
		t.Fatal("etcdctl returned nothing: wrong endpoint or prefix?")
	}
	return out
}
