package e2e

// Install paths (manifests/, its overlays, the Helm chart) against the
// sandbox's real kube-apiserver: every rendering is applied with server-side
// validation (dry run: the sandbox keeps its own webhook registration), the
// security-relevant fields are checked on the objects as the server returns
// them, the webhook's pod template is admitted by Pod Security "restricted",
// and the chart's default rendering equals the plain YAML.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// shipRoot is the checkout's root (go test runs in e2e/).
func shipRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("failed to resolve the checkout root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "manifests", "kustomization.yaml")); err != nil {
		t.Fatalf("failed to find manifests/ from %s: %v", root, err)
	}
	return root
}

// shipRun runs a command with stdin and returns its stdout; stderr goes into
// the error.
func shipRun(t testing.TB, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = shipRoot(t)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("failed to run %s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// shipKubectl runs the sandbox's kubectl as its admin.
func shipKubectl(t testing.TB, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	env := sandbox.Get(t)
	return shipRun(t, stdin, env.Bin.Kubectl, append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
}

// shipHelm returns the helm binary: $VSW_HELM, else scripts/tools.sh builds
// it once (cached outside the checkout).
func shipHelm(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("VSW_HELM"); h != "" {
		return h
	}
	out, err := shipRun(t, nil, filepath.Join(shipRoot(t), "scripts", "tools.sh"), "path", "helm")
	if err != nil {
		t.Fatalf("failed to get helm: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// shipHelmCmd runs helm with its home directories in a temporary directory
// (offline: no repositories) and returns stdout; stderr goes into the error.
func shipHelmCmd(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(testContext(t), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shipHelm(t), args...)
	cmd.Dir = shipRoot(t)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("failed to run helm %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// shipHelmTemplate renders the chart as release vault-secrets-webhook in
// namespace vault-infra with the given --set values, offline.
func shipHelmTemplate(t testing.TB, sets ...string) []byte {
	t.Helper()
	args := []string{"template", "vault-secrets-webhook", "manifests/helm/vault-secrets-webhook",
		"--namespace", "vault-infra", "--kube-version", "v1.37.2"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := shipHelmCmd(t, args...)
	if err != nil {
		t.Fatalf("failed to render the chart with %v: %v", sets, err)
	}
	return out
}

// shipKustomize renders a kustomization directory (relative to the root).
func shipKustomize(t testing.TB, dir string) []byte {
	t.Helper()
	out, err := shipKubectl(t, nil, "kustomize", dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// shipDropKinds removes the YAML documents whose apiVersion starts with
// group+"/" (e.g. cert-manager.io, whose CRDs the sandbox does not have).
func shipDropGroup(yaml []byte, group string) []byte {
	var keep []string
	for _, doc := range strings.Split(string(yaml), "\n---") {
		if strings.Contains(doc, "\napiVersion: "+group+"/") || strings.HasPrefix(strings.TrimLeft(doc, "-\n"), "apiVersion: "+group+"/") {
			continue
		}
		keep = append(keep, doc)
	}
	return []byte(strings.Join(keep, "\n---"))
}

// shipObject is an API object as decoded JSON.
type shipObject = map[string]any

// shipServerDryRun applies yaml with server-side apply in dry-run mode and
// returns the objects as the server would store them (defaults filled in,
// admission run). Nothing is persisted.
func shipServerDryRun(t testing.TB, yaml []byte) []shipObject {
	t.Helper()
	out, err := shipKubectl(t, yaml, "apply", "--server-side", "--force-conflicts", "--field-manager=ship-e2e",
		"--dry-run=server", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	return shipDecodeList(t, out)
}

// shipDecodeList decodes kubectl's -o json output: a stream of objects, each
// of which may be a List.
func shipDecodeList(t testing.TB, out []byte) []shipObject {
	t.Helper()
	var objs []shipObject
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var obj shipObject
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("failed to decode kubectl output: %v\n%s", err, out)
		}
		if obj["kind"] != "List" {
			objs = append(objs, obj)
			continue
		}
		items, _ := obj["items"].([]any)
		for _, it := range items {
			if m, ok := it.(shipObject); ok {
				objs = append(objs, m)
			}
		}
	}
	return objs
}

// shipGet walks a decoded object along a path of map keys and list indexes.
func shipGet(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func shipString(v any, path ...any) string {
	s, _ := shipGet(v, path...).(string)
	return s
}

func shipStrings(v any, path ...any) []string {
	l, _ := shipGet(v, path...).([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// shipFind returns the one object of kind (and name, when not empty).
func shipFind(t testing.TB, objs []shipObject, kind, name string) shipObject {
	t.Helper()
	var found []shipObject
	for _, o := range objs {
		if o["kind"] == kind && (name == "" || shipString(o, "metadata", "name") == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

func shipKinds(objs []shipObject) []string {
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, fmt.Sprintf("%s/%s", o["kind"], shipString(o, "metadata", "name")))
	}
	sort.Strings(kinds)
	return kinds
}

// TestShipInstallPathsServerValidated applies every install path with server
// validation: the plain YAML, its overlays, the policies alone, and the Helm
// chart in each mode.
func TestShipInstallPathsServerValidated(t *testing.T) {
	sandbox.Get(t)
	tests := []struct {
		name   string
		render func(t *testing.T) []byte
		want   int // objects the server must accept
	}{
		{"manifests", func(t *testing.T) []byte { return shipKustomize(t, "manifests") }, 15},
		{"manifests/overlays/example", func(t *testing.T) []byte { return shipKustomize(t, "manifests/overlays/example") }, 15},
		{"manifests/policies", func(t *testing.T) []byte { return shipKustomize(t, "manifests/policies") }, 4},
		{"manifests/least-privilege", func(t *testing.T) []byte { return shipKustomize(t, "manifests/least-privilege") }, 13},
		// cert-manager's own kinds need its CRDs, which the sandbox lacks:
		// everything else of the overlay is validated.
		{"manifests/cert-manager", func(t *testing.T) []byte {
			return shipDropGroup(shipKustomize(t, "manifests/cert-manager"), "cert-manager.io")
		}, 13},
		{"helm default", func(t *testing.T) []byte { return shipHelmTemplate(t) }, 14},
		{"helm least-privilege", func(t *testing.T) []byte { return shipHelmTemplate(t, "rbac.mode=leastPrivilege") }, 12},
		{"helm cert-manager", func(t *testing.T) []byte {
			return shipDropGroup(shipHelmTemplate(t, "certificate.mode=certManager"), "cert-manager.io")
		}, 12},
		{"helm secret + defaults", func(t *testing.T) []byte {
			return shipHelmTemplate(t, "certificate.mode=secret", "certificate.secretName=webhook-tls",
				"certificate.caBundle=LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", "defaults.vault-path=k8s",
				"defaults.vault-client-timeout=20s", "networkPolicy.enabled=false")
		}, 11},
		{"helm no policies, Fail", func(t *testing.T) []byte {
			return shipHelmTemplate(t, "policies.guard.enabled=false", "policies.execDeny.enabled=false", "webhook.failurePolicy=Fail")
		}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := shipServerDryRun(t, tc.render(t))
			if len(objs) != tc.want {
				t.Errorf("server accepted %d objects, want %d: %v", len(objs), tc.want, shipKinds(objs))
			}
		})
	}
}

// TestShipManifestsSecurityFields checks, on the objects as the apiserver
// returns them, every field the issue makes a requirement.
func TestShipManifestsSecurityFields(t *testing.T) {
	sandbox.Get(t)
	objs := shipServerDryRun(t, shipKustomize(t, "manifests"))

	dep := shipFind(t, objs, "Deployment", "vault-secrets-webhook")
	pod := shipGet(dep, "spec", "template")
	ctr := shipGet(pod, "spec", "containers", 0)
	svc := shipFind(t, objs, "Service", "vault-secrets-webhook")
	pdb := shipFind(t, objs, "PodDisruptionBudget", "vault-secrets-webhook")
	mwc := shipFind(t, objs, "MutatingWebhookConfiguration", "vault-secrets-webhook")
	// The sandbox registers its own webhook under the same configuration
	// name; a server-side apply merges the webhooks by name.
	var wh any
	for _, w := range shipGet(mwc, "webhooks").([]any) {
		if shipString(w, "name") == "pods.vault-secrets-webhook.admission.vault-secrets-webhook.io" {
			wh = w
		}
	}
	if wh == nil {
		t.Fatalf("our webhook is not in the applied configuration: %v", shipGet(mwc, "webhooks"))
	}
	ns := shipFind(t, objs, "Namespace", "vault-infra")
	np := shipFind(t, objs, "NetworkPolicy", "vault-secrets-webhook")

	checks := []struct {
		name string
		got  any
		want any
	}{
		{"deployment replicas", shipGet(dep, "spec", "replicas"), 2.0},
		{"pod runAsNonRoot", shipGet(pod, "spec", "securityContext", "runAsNonRoot"), true},
		{"pod seccomp", shipString(pod, "spec", "securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		{"container readOnlyRootFilesystem", shipGet(ctr, "securityContext", "readOnlyRootFilesystem"), true},
		{"container allowPrivilegeEscalation", shipGet(ctr, "securityContext", "allowPrivilegeEscalation"), false},
		{"container drops ALL", shipStrings(ctr, "securityContext", "capabilities", "drop"), []string{"ALL"}},
		{"liveness path", shipString(ctr, "livenessProbe", "httpGet", "path"), "/healthz"},
		{"liveness scheme", shipString(ctr, "livenessProbe", "httpGet", "scheme"), "HTTPS"},
		{"readiness path", shipString(ctr, "readinessProbe", "httpGet", "path"), "/readyz"},
		{"readiness scheme", shipString(ctr, "readinessProbe", "httpGet", "scheme"), "HTTPS"},
		{"memory limit set", shipGet(ctr, "resources", "limits", "memory") != nil, true},
		{"cpu request set", shipGet(ctr, "resources", "requests", "cpu") != nil, true},
		{"topology spread", len(shipGet(pod, "spec", "topologySpreadConstraints").([]any)) > 0, true},
		{"self-signed flag", slices.Contains(shipStrings(ctr, "args"), "--tls-self-signed"), true},
		{"webhook config name flag", slices.Contains(shipStrings(ctr, "args"), "--webhook-config-name=vault-secrets-webhook"), true},
		{"container port", shipGet(ctr, "ports", 0, "containerPort"), 8443.0},
		{"service port", shipGet(svc, "spec", "ports", 0, "port"), 443.0},
		{"service targetPort", shipGet(svc, "spec", "ports", 0, "targetPort"), "https"},
		{"service selects pods", reflect.DeepEqual(shipGet(svc, "spec", "selector"), shipGet(dep, "spec", "selector", "matchLabels")), true},
		{"pdb minAvailable", shipGet(pdb, "spec", "minAvailable"), 1.0},
		{"pdb selects pods", reflect.DeepEqual(shipGet(pdb, "spec", "selector"), shipGet(dep, "spec", "selector")), true},
		{"namespace enforces restricted", shipString(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"), "restricted"},
		{"namespace never mutated", shipString(ns, "metadata", "labels", "security.banzaicloud.io/mutate"), "skip"},
		{"networkpolicy selects the webhook pods", reflect.DeepEqual(shipGet(np, "spec", "podSelector", "matchLabels"), shipGet(dep, "spec", "selector", "matchLabels")), true},
		{"networkpolicy types", shipStrings(np, "spec", "policyTypes"), []string{"Ingress"}},
		{"networkpolicy has one rule", len(shipGet(np, "spec", "ingress").([]any)), 1},
		{"networkpolicy rule names its sources", len(shipGet(np, "spec", "ingress", 0, "from").([]any)) > 0, true},
		{"networkpolicy port", shipGet(np, "spec", "ingress", 0, "ports"), []any{map[string]any{"protocol": "TCP", "port": 8443.0}}},
		{"networkpolicy port is the container's", shipGet(np, "spec", "ingress", 0, "ports", 0, "port"), shipGet(ctr, "ports", 0, "containerPort")},
		{"matchConditions", []string{shipString(wh, "matchConditions", 0, "name"), shipString(wh, "matchConditions", 1, "name")}, []string{"not-skipped", "not-mirror-pod"}},
		{"admissionReviewVersions", shipStrings(wh, "admissionReviewVersions"), []string{"v1"}},
		{"sideEffects", shipString(wh, "sideEffects"), "None"},
		{"timeoutSeconds", shipGet(wh, "timeoutSeconds"), 10.0},
		{"reinvocationPolicy", shipString(wh, "reinvocationPolicy"), "IfNeeded"},
		{"failurePolicy", shipString(wh, "failurePolicy"), "Ignore"},
		{"service reference", shipString(wh, "clientConfig", "service", "namespace") + "/" + shipString(wh, "clientConfig", "service", "name"), "vault-infra/vault-secrets-webhook"},
		{"service path", shipString(wh, "clientConfig", "service", "path"), "/pods"},
		{"objectSelector key", shipString(wh, "objectSelector", "matchExpressions", 0, "key"), "security.banzaicloud.io/mutate"},
		{"objectSelector operator", shipString(wh, "objectSelector", "matchExpressions", 0, "operator"), "NotIn"},
		{"objectSelector values", shipStrings(wh, "objectSelector", "matchExpressions", 0, "values"), []string{"skip"}},
		{"namespaceSelector excludes own and system namespaces",
			shipStrings(wh, "namespaceSelector", "matchExpressions", 0, "values"),
			[]string{"vault-infra", "kube-system", "kube-public", "kube-node-lease"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}

	// RBAC: only get (and patch on the one webhook configuration); no
	// wildcards, no list/watch.
	for _, o := range objs {
		if o["kind"] != "ClusterRole" && o["kind"] != "Role" {
			continue
		}
		name := shipString(o, "metadata", "name")
		rules, _ := shipGet(o, "rules").([]any)
		for i, r := range rules {
			verbs := shipStrings(r, "verbs")
			res := shipStrings(r, "resources")
			for _, v := range verbs {
				if v != "get" && v != "patch" {
					t.Errorf("%s rule %d: verb %q, want only get/patch", name, i, v)
				}
			}
			if slices.Contains(res, "*") || slices.Contains(shipStrings(r, "apiGroups"), "*") {
				t.Errorf("%s rule %d: wildcard in %v", name, i, r)
			}
			if slices.Contains(verbs, "patch") {
				if got := shipStrings(r, "resourceNames"); !reflect.DeepEqual(got, []string{"vault-secrets-webhook"}) {
					t.Errorf("%s rule %d: patch allowed on %v, want only resourceNames [vault-secrets-webhook]", name, i, got)
				}
			}
		}
	}
}

// TestShipWebhookPodIsRestricted creates (dry run) a pod from the
// Deployment's template in a namespace enforcing Pod Security "restricted":
// the apiserver's PodSecurity admission is the oracle.
func TestShipWebhookPodIsRestricted(t *testing.T) {
	sandbox.Get(t)
	objs := shipServerDryRun(t, shipKustomize(t, "manifests"))
	dep := shipFind(t, objs, "Deployment", "vault-secrets-webhook")
	raw, err := json.Marshal(shipGet(dep, "spec", "template"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}

	ns := createNamespace(t)
	c := kubeClient(t)
	ctx := testContext(t)
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest"}}}`)
	if err := c.Patch(ctx, "/api/v1/namespaces/"+ns, "application/merge-patch+json", patch, nil); err != nil {
		t.Fatalf("failed to label namespace %s restricted: %v", ns, err)
	}
	// The webhook's own ServiceAccount does not exist here: use default.
	tmpl.Spec.ServiceAccountName = "default"
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "webhook-template", Labels: tmpl.Labels},
		Spec:       tmpl.Spec,
	}
	// The oracle can refuse: the same pod without its securityContext is not
	// restricted. Poll: PodSecurity sees the namespace label through a cache.
	bare := pod.DeepCopy()
	bare.Spec.SecurityContext = nil
	bare.Spec.Containers[0].SecurityContext = nil
	poll(t, waitTimeout, "Pod Security restricted to be enforced in "+ns, func() (bool, error) {
		err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods?dryRun=All", bare, nil)
		var se *kube.StatusError
		if errors.As(err, &se) && se.Code == http.StatusForbidden && strings.Contains(se.Message, "restricted") {
			return true, nil
		}
		return false, nil
	})
	if err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods?dryRun=All", pod, nil); err != nil {
		t.Fatalf("restricted namespace refused the webhook's pod template: %v", err)
	}
}

// shipNormalize drops what legitimately differs between the Helm rendering
// and the plain YAML: Helm's bookkeeping labels.
func shipNormalize(o shipObject) {
	for _, path := range [][]any{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}} {
		labels, _ := shipGet(o, path...).(map[string]any)
		for _, k := range []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"} {
			delete(labels, k)
		}
	}
}

// shipObjectsByKey decodes YAML with kubectl (client side) into objects
// keyed "KIND NAMESPACE/NAME".
func shipObjectsByKey(t testing.TB, yaml []byte) map[string]shipObject {
	t.Helper()
	out, err := shipKubectl(t, yaml, "create", "--dry-run=client", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]shipObject{}
	for _, o := range shipDecodeList(t, out) {
		m[fmt.Sprintf("%s %s/%s", o["kind"], shipString(o, "metadata", "namespace"), shipString(o, "metadata", "name"))] = o
	}
	return m
}

// TestShipHelmMatchesManifests renders the chart with its default values
// (what README's helm install command installs) and checks it produces the
// same objects as manifests/, field for field, except the Namespace: the
// chart never creates its namespace, README has it applied from
// manifests/base/00-namespace.yaml first (TestShipHelmInstallReadme installs
// it that way), so its labels are the plain YAML's by construction.
func TestShipHelmMatchesManifests(t *testing.T) {
	sandbox.Get(t)
	toObjects := func(yaml []byte) map[string]shipObject {
		m := shipObjectsByKey(t, yaml)
		for _, o := range m {
			shipNormalize(o)
		}
		return m
	}
	plain := toObjects(shipKustomize(t, "manifests"))
	if _, ok := plain["Namespace /vault-infra"]; !ok {
		t.Fatalf("manifests/ installs no Namespace vault-infra: %v", plain)
	}
	delete(plain, "Namespace /vault-infra")
	chart := toObjects(shipHelmTemplate(t))

	var keys []string
	for k := range plain {
		keys = append(keys, k)
	}
	for k := range chart {
		if _, ok := plain[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, inPlain := plain[k]
		c, inChart := chart[k]
		switch {
		case !inChart:
			t.Errorf("%s: in manifests/, not rendered by the chart", k)
		case !inPlain:
			t.Errorf("%s: rendered by the chart, not in manifests/", k)
		case !reflect.DeepEqual(p, c):
			pj, _ := json.MarshalIndent(p, "", "  ")
			cj, _ := json.MarshalIndent(c, "", "  ")
			t.Errorf("%s differs:\nmanifests/:\n%s\nchart:\n%s", k, pj, cj)
		}
	}
}

// shipFreePort returns a loopback port that was free a moment ago.
func shipFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("failed to find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shipTrusts reports whether the server at addr presents a certificate that
// the PEM bundle verifies for 127.0.0.1.
func shipTrusts(bundle []byte, addr string) bool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return false
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// TestShipSelfSignedReplicasShareTrust runs what manifests/ installs by
// default, two replicas in self-signed mode, as two webhook processes
// publishing into one MutatingWebhookConfiguration: after both started, the
// caBundle must trust both of them, or the apiserver's calls to one replica
// fail (and with failurePolicy Ignore its pods go unmutated).
func TestShipSelfSignedReplicasShareTrust(t *testing.T) {
	env := sandbox.Get(t)
	if env.Bin.Webhook == "" {
		t.Fatal("the sandbox has no webhook binary")
	}
	c := kubeClient(t)
	ctx := testContext(t)
	name := "ship-e2e-selfsigned-" + randomSuffix(t, 8)
	path := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + name
	ports := []int{shipFreePort(t), shipFreePort(t)}
	cfg := map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
		"metadata": map[string]any{"name": name},
		"webhooks": []any{map[string]any{
			"name": "replicas.ship.example", "admissionReviewVersions": []any{"v1"},
			"sideEffects": "None", "failurePolicy": "Ignore",
			"clientConfig": map[string]any{"url": fmt.Sprintf("https://127.0.0.1:%d/pods", ports[0])},
			"rules":        []any{map[string]any{"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE"}, "resources": []any{"pods"}}},
			// Never called: no namespace carries this label.
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{name: "never"}},
		}},
	}
	if err := c.Create(ctx, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", cfg, nil); err != nil {
		t.Fatalf("failed to create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx, path); err != nil && !kube.IsNotFound(err) {
			t.Errorf("failed to delete %s: %v", path, err)
		}
	})
	bundle := func() []byte {
		var got struct {
			Webhooks []struct {
				ClientConfig struct {
					CABundle []byte `json:"caBundle"`
				} `json:"clientConfig"`
			} `json:"webhooks"`
		}
		if err := c.Get(ctx, path, &got); err != nil {
			t.Fatalf("failed to get %s: %v", name, err)
		}
		return got.Webhooks[0].ClientConfig.CABundle
	}

	for i, port := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(env.Bin.Webhook,
			"--listen-address="+addr, "--tls-self-signed", "--tls-hosts=127.0.0.1",
			"--webhook-config-name="+name, "--namespace="+env.WebhookNamespace,
			"--kube-server="+env.KubeServer, "--kube-ca-file="+env.KubeCAFile, "--kube-token-file="+env.KubeTokenFile)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("failed to start webhook replica %d: %v", i+1, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("replica %d log:\n%s", i+1, logs.String())
			}
		})
		poll(t, waitTimeout, fmt.Sprintf("replica %d to publish a caBundle that trusts it", i+1), func() (bool, error) {
			return shipTrusts(bundle(), addr), nil
		})
	}
	first := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if !shipTrusts(bundle(), first) {
		t.Fatalf("after replica 2 published its CA, the caBundle no longer trusts replica 1 (%s): "+
			"the default install (2 replicas, --tls-self-signed) would fail every admission call routed to one replica", first)
	}
}

// TestShipHelmCheck runs scripts/helm-check: `helm lint --strict` and
// `helm template` of every mode, and the refusal of invalid values. It needs
// no apiserver, but helm comes with the sandbox's tools, so it runs with them.
func TestShipHelmCheck(t *testing.T) {
	sandbox.Get(t)
	ctx, cancel := context.WithTimeout(testContext(t), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(shipRoot(t), "scripts", "helm-check"))
	cmd.Env = append(os.Environ(), "HELM="+shipHelm(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/helm-check failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestShipHelmDefaultsMatchWebhook checks the chart's table of annotation ->
// environment variable (values "defaults") against the webhook's own list
// (envinject.Annotations), so every annotation the webhook lets an operator
// default can be defaulted from the chart, under the variable it reads.
func TestShipHelmDefaultsMatchWebhook(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := os.ReadFile(filepath.Join(root, "manifests/helm/vault-secrets-webhook/templates/_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	block := string(tpl)
	start := strings.Index(block, `{{- define "vsw.defaultEnvNames" -}}`)
	if start < 0 {
		t.Fatal(`_helpers.tpl has no "vsw.defaultEnvNames"`)
	}
	block = block[start:]
	block = block[strings.Index(block, "\n")+1 : strings.Index(block, "{{- end -}}")]
	chart := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		name, env, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("unexpected line in vsw.defaultEnvNames: %q", line)
		}
		chart[name] = env
	}
	webhook := map[string]string{}
	for _, a := range envinject.Annotations {
		if a.DefaultEnv != "" {
			webhook[a.Name] = a.DefaultEnv
		}
	}
	for name, env := range webhook {
		if chart[name] != env {
			t.Errorf("annotation %s: the webhook reads its default from %s, the chart writes %q", name, env, chart[name])
		}
	}
	for name := range chart {
		if _, ok := webhook[name]; !ok {
			t.Errorf("the chart maps annotation %s, which the webhook does not default from the environment", name)
		}
	}
}

// TestShipVariants checks what each variant changes: RBAC, flags and the
// caBundle source, in the plain YAML and the chart alike.
func TestShipVariants(t *testing.T) {
	sandbox.Get(t)
	toObjects := func(t *testing.T, yaml []byte) []shipObject {
		// No cert-manager CRDs in the sandbox: kubectl cannot map its kinds.
		out, err := shipKubectl(t, shipDropGroup(yaml, "cert-manager.io"), "create", "--dry-run=client", "-o", "json", "-f", "-")
		if err != nil {
			t.Fatal(err)
		}
		return shipDecodeList(t, out)
	}
	readsSecrets := func(objs []shipObject) bool {
		for _, o := range objs {
			if o["kind"] != "ClusterRole" {
				continue
			}
			rules, _ := shipGet(o, "rules").([]any)
			for _, r := range rules {
				if slices.Contains(shipStrings(r, "resources"), "secrets") || slices.Contains(shipStrings(r, "resources"), "configmaps") {
					return true
				}
			}
		}
		return false
	}
	patchesCABundle := func(objs []shipObject) bool {
		for _, o := range objs {
			rules, _ := shipGet(o, "rules").([]any)
			for _, r := range rules {
				if o["kind"] == "ClusterRole" && slices.Contains(shipStrings(r, "resources"), "mutatingwebhookconfigurations") {
					return true
				}
			}
		}
		return false
	}
	tests := []struct {
		name          string
		render        func(t *testing.T) []byte
		wantArgs      []string
		wantSecrets   bool
		wantCABundle  bool
		wantInjectsCA bool
	}{
		{"plain default", func(t *testing.T) []byte { return shipKustomize(t, "manifests") },
			[]string{"--tls-self-signed"}, true, true, false},
		{"plain least-privilege", func(t *testing.T) []byte { return shipKustomize(t, "manifests/least-privilege") },
			[]string{"--tls-self-signed", "--least-privilege"}, false, true, false},
		{"plain cert-manager", func(t *testing.T) []byte { return shipKustomize(t, "manifests/cert-manager") },
			[]string{"--tls-cert-file=/tls/tls.crt", "--tls-key-file=/tls/tls.key"}, true, false, true},
		{"helm least-privilege", func(t *testing.T) []byte { return shipHelmTemplate(t, "rbac.mode=leastPrivilege") },
			[]string{"--tls-self-signed", "--least-privilege"}, false, true, false},
		{"helm cert-manager", func(t *testing.T) []byte { return shipHelmTemplate(t, "certificate.mode=certManager") },
			[]string{"--tls-cert-file=/tls/tls.crt", "--tls-key-file=/tls/tls.key"}, true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := toObjects(t, tc.render(t))
			dep := shipFind(t, objs, "Deployment", "vault-secrets-webhook")
			args := shipStrings(dep, "spec", "template", "spec", "containers", 0, "args")
			for _, a := range tc.wantArgs {
				if !slices.Contains(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			if got := readsSecrets(objs); got != tc.wantSecrets {
				t.Errorf("RBAC on secrets/configmaps: %v, want %v", got, tc.wantSecrets)
			}
			if got := patchesCABundle(objs); got != tc.wantCABundle {
				t.Errorf("RBAC on its webhook configuration: %v, want %v", got, tc.wantCABundle)
			}
			mwc := shipFind(t, objs, "MutatingWebhookConfiguration", "vault-secrets-webhook")
			inject := shipString(mwc, "metadata", "annotations", "cert-manager.io/inject-ca-from")
			if (inject != "") != tc.wantInjectsCA {
				t.Errorf("cert-manager.io/inject-ca-from = %q, want set: %v", inject, tc.wantInjectsCA)
			}
			if tc.wantInjectsCA && inject != "vault-infra/vault-secrets-webhook-tls" {
				t.Errorf("cert-manager.io/inject-ca-from = %q, want the serving Certificate", inject)
			}
		})
	}
}
