package e2e

// The admission policies of manifests/policies/ on the sandbox's real
// kube-apiserver. Each test installs the policy exactly as committed (CEL
// untouched) under a name of its own, with a binding narrowed to the test's
// objects, so it cannot disturb other tests sharing the sandbox:
//   - guard: refuses pods holding vault: references that the webhook did not
//     mutate, admits pods it did (including one really mutated by the
//     sandbox's webhook);
//   - exec deny: refuses exec, attach, port-forward, pod proxy and ephemeral containers with our
//     message, in labelled namespaces, except for the allowed group.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

const (
	shipGuardMessage = "vault-secrets-webhook guard:"
	shipExecMessage  = "vault-secrets-webhook exec policy:"
	shipMutated      = "vault.security.banzaicloud.io/mutated"
	shipAllowedGroup = "vault-secrets-webhook:exec-allowed"
	shipExecLabel    = "vault-secrets-webhook.io/exec"
)

// shipPolicies returns the committed policy objects (policies and bindings)
// by kind, as the server would read them.
func shipPolicies(t *testing.T) []shipObject {
	t.Helper()
	out, err := shipKubectl(t, shipKustomize(t, "manifests/policies"), "create", "--dry-run=client", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	return shipDecodeList(t, out)
}

// shipInstallPolicy creates the committed policy named policy and its binding
// under the name newName (binding narrowed by narrow), and deletes both when
// the test ends.
func shipInstallPolicy(t *testing.T, policy, newName string, narrow func(binding shipObject)) {
	t.Helper()
	objs := shipPolicies(t)
	pol := shipFind(t, objs, "ValidatingAdmissionPolicy", policy)
	bind := shipFind(t, objs, "ValidatingAdmissionPolicyBinding", policy)
	pol["metadata"] = map[string]any{"name": newName}
	bind["metadata"] = map[string]any{"name": newName}
	bind["spec"].(map[string]any)["policyName"] = newName
	narrow(bind)

	c := kubeClient(t)
	ctx := testContext(t)
	const base = "/apis/admissionregistration.k8s.io/v1/"
	for _, o := range []struct {
		res string
		obj shipObject
	}{{"validatingadmissionpolicies", pol}, {"validatingadmissionpolicybindings", bind}} {
		if err := c.Create(ctx, base+o.res, o.obj, nil); err != nil {
			t.Fatalf("failed to create %s %s: %v", o.res, newName, err)
		}
		path := base + o.res + "/" + newName
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Delete(ctx, path); err != nil && !kube.IsNotFound(err) {
				t.Errorf("failed to delete %s: %v", path, err)
			}
		})
	}
}

// shipStatus splits an API error into HTTP code and message (0, "" for nil).
func shipStatus(t testing.TB, err error) (int, string) {
	t.Helper()
	if err == nil {
		return 0, ""
	}
	var se *kube.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("not an API status error: %v", err)
	}
	return se.Code, se.Message
}

// shipPod builds a pod whose containers have the given env values.
func shipPod(name, label string, annotations map[string]string, containers, initContainers []corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{"ship-e2e": label},
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{Containers: containers, InitContainers: initContainers},
	}
}

func shipContainer(name string, command []string, env ...string) corev1.Container {
	c := corev1.Container{Name: name, Image: "busybox:1.36", Command: command}
	for i, v := range env {
		c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("V%d", i), Value: v})
	}
	return c
}

// shipDryRunPod creates pod in ns with dryRun=All (admission runs, nothing is
// stored) and returns the pod as admitted.
func shipDryRunPod(t testing.TB, ns string, pod *corev1.Pod) (*corev1.Pod, error) {
	t.Helper()
	var out corev1.Pod
	err := kubeClient(t).Create(testContext(t), "/api/v1/namespaces/"+ns+"/pods?dryRun=All", pod, &out)
	return &out, err
}

func TestShipGuardPolicy(t *testing.T) {
	label := randomSuffix(t, 8)
	// Narrowed to this test's pods: other tests' pods in the same
	// namespaces are never evaluated.
	shipInstallPolicy(t, "vault-secrets-webhook-guard", "ship-e2e-guard-"+label, func(b shipObject) {
		mr := b["spec"].(map[string]any)["matchResources"].(map[string]any)
		mr["objectSelector"] = map[string]any{"matchLabels": map[string]any{"ship-e2e": label}}
	})

	// A namespace the webhook never mutates, like its own, a namespace it
	// does not serve, or any during an outage with failurePolicy Ignore.
	unserved := createSkippedNamespace(t)
	served := createNamespace(t)
	ref := "vault:secret/data/ship/" + label + "#password"
	wrapped := []string{"/vault/vault-env"}
	marked := map[string]string{shipMutated: "true"}

	refused := shipPod("probe", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, ref)}, nil)
	poll(t, waitTimeout, "the guard policy to become active", func() (bool, error) {
		_, err := shipDryRunPod(t, unserved, refused)
		_, msg := shipStatus(t, err)
		return strings.Contains(msg, shipGuardMessage), nil
	})

	tests := []struct {
		name        string
		ns          string
		pod         *corev1.Pod
		wantRefused bool
		wantNames   string // containers the refusal names
	}{
		{"unmutated whole-value reference", unserved,
			shipPod("a", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, ref)}, nil), true, "app"},
		{"unmutated write reference", unserved,
			shipPod("b", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, ">>vault:secret/data/x#y")}, nil), true, "app"},
		{"unmutated transit reference", unserved,
			shipPod("c", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, "vault:v1:abcdef")}, nil), true, "app"},
		{"unmutated inline reference in an init container", unserved,
			shipPod("d", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, "plain")},
				[]corev1.Container{shipContainer("migrate", []string{"migrate"}, "postgres://u:${vault:secret/data/db#pw}@db")}), true, "migrate"},
		{"unmutated inline write reference", unserved,
			shipPod("e", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, "x=${>>vault:secret/data/db#pw}")}, nil), true, "app"},
		{"no reference", unserved,
			shipPod("f", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, "plain", "novault:x", "my vault: notes")}, nil), false, ""},
		{"marked and wrapped", unserved,
			shipPod("g", label, marked, []corev1.Container{shipContainer("app", wrapped, ref), shipContainer("side", []string{"side"}, "plain")}, nil), false, ""},
		{"marked but one container unwrapped", unserved,
			shipPod("h", label, marked, []corev1.Container{shipContainer("app", wrapped, ref), shipContainer("side", []string{"side"}, ref)}, nil), true, "side"},
		{"wrapped but not marked", unserved,
			shipPod("i", label, nil, []corev1.Container{shipContainer("app", wrapped, ref)}, nil), true, "app"},
		{"explicit skip annotation", unserved,
			shipPod("j", label, map[string]string{"vault.security.banzaicloud.io/mutate": "skip"},
				[]corev1.Container{shipContainer("app", []string{"app"}, ref)}, nil), false, ""},
		{"mutated by the sandbox's webhook", served,
			shipPod("k", label, nil, []corev1.Container{shipContainer("app", []string{"app", "--serve"}, ref)}, nil), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shipDryRunPod(t, tc.ns, tc.pod)
			code, msg := shipStatus(t, err)
			t.Logf("%d %s", code, msg)
			if !tc.wantRefused {
				if err != nil {
					t.Fatalf("refused (%d): %s", code, msg)
				}
				if tc.ns == served {
					// Admitted because the webhook really mutated it.
					if _, ok := got.Annotations[shipMutated]; !ok || !slices.Equal(got.Spec.Containers[0].Command, wrapped) {
						t.Fatalf("admitted but not mutated: annotations %v, command %v", got.Annotations, got.Spec.Containers[0].Command)
					}
				}
				return
			}
			if code != http.StatusForbidden || !strings.Contains(msg, shipGuardMessage) {
				t.Fatalf("got %d %q, want 403 with %q", code, msg, shipGuardMessage)
			}
			if !strings.Contains(msg, "container(s) "+tc.wantNames+" hold") {
				t.Errorf("refusal %q does not name container(s) %q", msg, tc.wantNames)
			}
			if strings.Contains(msg, "secret/data") {
				t.Errorf("refusal %q repeats the reference", msg)
			}
		})
	}
}

// shipAPI sends one request to the sandbox's apiserver as its admin, or as
// the impersonated user (and groups) when user is set. It returns the HTTP
// status and the metav1.Status message (or body).
func shipAPI(t *testing.T, method, path, contentType string, body []byte, user string, groups ...string) (int, string) {
	t.Helper()
	env := sandbox.Get(t)
	caPEM, err := os.ReadFile(env.KubeCAFile)
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(env.KubeTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", env.KubeCAFile)
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	t.Cleanup(client.CloseIdleConnections)
	req, err := http.NewRequestWithContext(testContext(t), method, env.KubeServer+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user != "" {
		req.Header.Set("Impersonate-User", user)
		for _, g := range groups {
			req.Header.Add("Impersonate-Group", g)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("failed to call %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(b, &st) == nil && st.Kind == "Status" {
		return resp.StatusCode, st.Message
	}
	return resp.StatusCode, string(b)
}

// shipGrantDebug lets user exec, attach and add ephemeral containers in ns
// (RBAC), so that only the policy can refuse it.
func shipGrantDebug(t *testing.T, ns, user string) {
	t.Helper()
	c := kubeClient(t)
	ctx := testContext(t)
	role := map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": map[string]any{"name": "ship-debug"},
		"rules": []any{
			map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get", "list"}},
			map[string]any{"apiGroups": []any{""}, "resources": []any{"pods/exec", "pods/attach", "pods/portforward", "pods/proxy"}, "verbs": []any{"get", "create"}},
			map[string]any{"apiGroups": []any{""}, "resources": []any{"pods/ephemeralcontainers"}, "verbs": []any{"get", "update", "patch"}},
		},
	}
	binding := map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": "ship-debug"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ship-debug"},
		"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}},
	}
	base := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/"
	if err := c.Create(ctx, base+"roles", role, nil); err != nil {
		t.Fatalf("failed to create role: %v", err)
	}
	if err := c.Create(ctx, base+"rolebindings", binding, nil); err != nil {
		t.Fatalf("failed to create rolebinding: %v", err)
	}
}

func TestShipExecPolicy(t *testing.T) {
	sandbox.Get(t)
	suffix := randomSuffix(t, 8)
	shipInstallPolicy(t, "vault-secrets-webhook-deny-exec", "ship-e2e-deny-exec-"+suffix, func(shipObject) {})

	user := "ship-e2e-" + suffix
	denied := createNamespace(t)
	open := createNamespace(t)
	c := kubeClient(t)
	ctx := testContext(t)
	if err := c.Patch(ctx, "/api/v1/namespaces/"+denied, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"`+shipExecLabel+`":"deny"}}}`), nil); err != nil {
		t.Fatalf("failed to label namespace %s: %v", denied, err)
	}
	for _, ns := range []string{denied, open} {
		shipGrantDebug(t, ns, user)
		createPod(t, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "target"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{shipContainer("app", []string{"sleep", "3600"})}},
		})
	}

	exec := func(ns string) string {
		return "/api/v1/namespaces/" + ns + "/pods/target/exec?command=sh&stdin=true&stdout=true&container=app"
	}
	attach := func(ns string) string {
		return "/api/v1/namespaces/" + ns + "/pods/target/attach?stdout=true&container=app"
	}
	portForward := func(ns string) string { return "/api/v1/namespaces/" + ns + "/pods/target/portforward?ports=6060" }
	proxy := func(ns string) string { return "/api/v1/namespaces/" + ns + "/pods/target:6060/proxy/debug/pprof/" }
	ephemeral := func(ns string) string { return "/api/v1/namespaces/" + ns + "/pods/target/ephemeralcontainers" }
	debug := func(name string) []byte {
		return []byte(`{"spec":{"ephemeralContainers":[{"name":"` + name + `","image":"busybox:1.36","command":["sh"],"targetContainerName":"app"}]}}`)
	}
	const smp = "application/strategic-merge-patch+json"

	poll(t, waitTimeout, "the exec policy to become active", func() (bool, error) {
		_, msg := shipAPI(t, http.MethodPost, exec(denied), "", nil, user)
		return strings.Contains(msg, shipExecMessage), nil
	})

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		groups      []string
		wantOurs    bool   // refused by our policy
		wantInMsg   string // when refused by us
	}{
		{"exec refused", http.MethodPost, exec(denied), "", nil, nil, true, "exec is disabled in namespace " + denied},
		{"exec over GET refused", http.MethodGet, exec(denied), "", nil, nil, true, "exec"},
		{"attach refused", http.MethodPost, attach(denied), "", nil, nil, true, "attach is disabled"},
		{"port-forward refused", http.MethodPost, portForward(denied), "", nil, nil, true, "portforward is disabled"},
		{"pod proxy refused", http.MethodGet, proxy(denied), "", nil, nil, true, "proxy is disabled"},
		{"port-forward in a namespace without the label", http.MethodPost, portForward(open), "", nil, nil, false, ""},
		{"ephemeral container refused", http.MethodPatch, ephemeral(denied), smp, debug("dbg1"), nil, true, "ephemeralcontainers is disabled"},
		{"exec by the allowed group passes the policy", http.MethodPost, exec(denied), "", nil, []string{shipAllowedGroup}, false, ""},
		{"ephemeral container by the allowed group", http.MethodPatch, ephemeral(denied), smp, debug("dbg2"), []string{shipAllowedGroup}, false, ""},
		{"exec in a namespace without the label", http.MethodPost, exec(open), "", nil, nil, false, ""},
		{"ephemeral container in a namespace without the label", http.MethodPatch, ephemeral(open), smp, debug("dbg3"), nil, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := shipAPI(t, tc.method, tc.path, tc.contentType, tc.body, user, tc.groups...)
			t.Logf("%s %s: %d %.200s", tc.method, tc.path, code, msg)
			ours := strings.Contains(msg, shipExecMessage)
			if tc.wantOurs {
				if code != http.StatusForbidden || !ours {
					t.Fatalf("got %d %q, want 403 from our policy", code, msg)
				}
				if !strings.Contains(msg, tc.wantInMsg) {
					t.Errorf("message %q does not contain %q", msg, tc.wantInMsg)
				}
				return
			}
			if ours {
				t.Fatalf("refused by our policy: %d %q", code, msg)
			}
			if code == http.StatusForbidden {
				t.Fatalf("refused by something else (RBAC?): %d %q", code, msg)
			}
			// Past admission: an exec then fails for want of a node (the
			// sandbox has no kubelet); an ephemeral container is stored.
			if tc.method == http.MethodPatch && code != http.StatusOK {
				t.Fatalf("ephemeral container not added: %d %q", code, msg)
			}
		})
	}
}

// TestShipGuardDuringWebhookOutage plays the outage the guard exists for: our
// MutatingWebhookConfiguration as committed (failurePolicy Ignore), pointed
// at a port where nothing listens, plus the guard. A pod without references
// still starts (availability); a pod with references is refused by the
// guard instead of starting with the literal vault: string.
func TestShipGuardDuringWebhookOutage(t *testing.T) {
	label := randomSuffix(t, 8)
	shipInstallPolicy(t, "vault-secrets-webhook-guard", "ship-e2e-outage-"+label, func(b shipObject) {
		mr := b["spec"].(map[string]any)["matchResources"].(map[string]any)
		mr["objectSelector"] = map[string]any{"matchLabels": map[string]any{"ship-e2e": label}}
	})

	out, err := shipKubectl(t, shipKustomize(t, "manifests/base"), "create", "--dry-run=client", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	mwc := shipFind(t, shipDecodeList(t, out), "MutatingWebhookConfiguration", "vault-secrets-webhook")
	name := "ship-e2e-outage-" + label
	mwc["metadata"] = map[string]any{"name": name}
	wh := shipGet(mwc, "webhooks", 0).(map[string]any)
	if wh["failurePolicy"] != "Ignore" {
		t.Fatalf("the committed failurePolicy is %v: this test plays an outage under Ignore", wh["failurePolicy"])
	}
	// The sandbox's own webhook never serves its namespace: ours, "down",
	// is the only one asked there (and only for this test's pods).
	wh["clientConfig"] = map[string]any{"url": fmt.Sprintf("https://127.0.0.1:%d/pods", shipFreePort(t))}
	unserved := createSkippedNamespace(t)
	wh["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": unserved}}
	wh["objectSelector"] = map[string]any{"matchLabels": map[string]any{"ship-e2e": label}}
	c := kubeClient(t)
	const base = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
	if err := c.Create(testContext(t), base, mwc, nil); err != nil {
		t.Fatalf("failed to create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx, base+"/"+name); err != nil && !kube.IsNotFound(err) {
			t.Errorf("failed to delete %s: %v", name, err)
		}
	})

	withRef := shipPod("with-ref", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, "vault:secret/data/app#password")}, nil)
	poll(t, waitTimeout, "the guard policy to become active", func() (bool, error) {
		_, err := shipDryRunPod(t, unserved, withRef)
		_, msg := shipStatus(t, err)
		return strings.Contains(msg, shipGuardMessage), nil
	})
	plain := shipPod("plain", label, nil, []corev1.Container{shipContainer("app", []string{"app"}, "plain")}, nil)
	if _, err := shipDryRunPod(t, unserved, plain); err != nil {
		t.Fatalf("a pod without references was refused during the outage: %v", err)
	}
	_, err = shipDryRunPod(t, unserved, withRef)
	code, msg := shipStatus(t, err)
	t.Logf("%d %s", code, msg)
	if code != http.StatusForbidden || !strings.Contains(msg, shipGuardMessage) {
		t.Fatalf("a pod with a reference got %d %q during the outage, want 403 from the guard", code, msg)
	}
}
