package e2e

// Installing as README says, on the sandbox's real apiserver: the Helm
// chart into a namespace created from manifests/base/00-namespace.yaml (and
// refused into one without its labels), the overlay the sandbox generates
// (images and Vault address only), and the copy-vault-env init container
// without the pod's ServiceAccount token.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestShipHelmInstallReadme installs the chart for real the way README's
// install section says (namespace from 00-namespace.yaml, then helm install
// without --create-namespace), checks the two wrong ways are refused before
// anything is created, and that helm uninstall leaves none of the release's
// objects. A unique release and namespace keep it apart from the sandbox's
// own install; the release's pods run on the node, and a pod is mutated
// through the release alone while the sandbox's webhook is scaled to zero.
func TestShipHelmInstallReadme(t *testing.T) {
	env := sandbox.Get(t)
	kubeconfig := "--kubeconfig=" + env.Kubeconfig
	suffix := randomSuffix(t, 6)
	ns, rel := "vsw-helm-"+suffix, "vsw-helm-"+suffix
	chart := "manifests/helm/vault-secrets-webhook"
	install := func(extra ...string) ([]byte, error) {
		return shipHelmCmd(t, append([]string{"install", rel, chart, "-n", ns, kubeconfig}, extra...)...)
	}
	t.Cleanup(func() {
		_, _ = shipHelmCmd(t, "uninstall", rel, "-n", ns, kubeconfig)
		_, _ = shipKubectl(t, nil, "delete", "namespace", ns, "--ignore-not-found", "--wait=false")
	})

	// The trial's command: Helm creates an unlabelled namespace. Refused at
	// render time, before Helm creates the namespace or anything else.
	if out, err := install("--create-namespace"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("helm install --create-namespace into a missing namespace: err %v, want the chart's refusal\n%s", err, out)
	}
	if out, err := shipKubectl(t, nil, "get", "namespace", ns, "--ignore-not-found", "-o", "name"); err != nil || len(out) > 0 {
		t.Fatalf("the refused install left namespace %q (%v)", out, err)
	}
	// A namespace without the labels.
	if _, err := shipKubectl(t, nil, "create", "namespace", ns); err != nil {
		t.Fatal(err)
	}
	if out, err := install(); err == nil || !strings.Contains(err.Error(), "lacks the labels") {
		t.Fatalf("helm install into an unlabelled namespace: err %v, want the chart's refusal\n%s", err, out)
	}

	// README: the namespace from 00-namespace.yaml (here under the test's
	// name), then helm install.
	nsYAML, err := os.ReadFile(filepath.Join(shipRoot(t), "manifests", "base", "00-namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nsYAML = []byte(strings.ReplaceAll(string(nsYAML), "vault-infra", ns))
	if _, err := shipKubectl(t, nsYAML, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if out, err := install(); err != nil {
		t.Fatalf("README's helm install failed: %v\n%s", err, out)
	}
	status, err := shipHelmCmd(t, "status", rel, "-n", ns, kubeconfig, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Info struct{ Status string } `json:"info"`
	}
	if err := json.Unmarshal(status, &st); err != nil || st.Info.Status != "deployed" {
		t.Fatalf("release status %q (%v), want deployed", st.Info.Status, err)
	}
	selector := "app.kubernetes.io/instance=" + rel
	kinds := "mutatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings,clusterroles,clusterrolebindings"
	nsKinds := "deployments,replicasets,pods,services,serviceaccounts,poddisruptionbudgets,networkpolicies"
	list := func(kinds string, namespaced bool) []string {
		args := []string{"get", kinds, "-l", selector, "-o", "name"}
		if namespaced {
			args = append(args, "-n", ns)
		}
		out, err := shipKubectl(t, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	if got := len(list(kinds, false)) + len(list("services,serviceaccounts,deployments,networkpolicies", true)); got < 9 {
		t.Fatalf("after install, %d of the release's objects found, want at least 9", got)
	}

	// The release serves: its pods run on the node and, with the sandbox's
	// own webhook scaled to zero (its failurePolicy is Ignore), a pod is
	// mutated through the release's Service alone.
	if out, err := shipKubectl(t, nil, "-n", ns, "rollout", "status", "deployment", "--timeout=180s"); err != nil {
		t.Fatalf("the release's webhook did not become available: %v\n%s", err, out)
	}
	shipScaleSandboxWebhook(t, env, 0)
	probe := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "helm-probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"true"},
			Env: []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/helm#KEY"}}}}}}
	served := createNamespace(t)
	var mutated *corev1.Pod
	poll(t, waitTimeout, "a pod mutated through the Helm release's webhook", func() (bool, error) {
		p, err := shipDryRunPod(t, served, probe)
		if err != nil {
			return false, nil // the guard refuses while no webhook answers
		}
		mutated = p
		return true, nil
	})
	if c := mutated.Spec.Containers[0].Command; len(c) == 0 || !strings.HasSuffix(c[0], "vault-env") {
		t.Fatalf("the pod admitted through the release's webhook was not mutated: command %q", c)
	}
	shipScaleSandboxWebhook(t, env, 2)

	if out, err := shipHelmCmd(t, "uninstall", rel, "-n", ns, kubeconfig); err != nil {
		t.Fatalf("helm uninstall failed: %v\n%s", err, out)
	}
	// Pods and ReplicaSets go through the garbage collector: poll.
	poll(t, waitTimeout, "the release's objects to be gone", func() (bool, error) {
		left := append(list(kinds, false), list(nsKinds, true)...)
		if len(left) > 0 {
			t.Logf("left: %v", left)
		}
		return len(left) == 0, nil
	})
	if out, err := shipKubectl(t, nil, "get", "secrets", "-n", ns, "-l", "owner=helm", "-o", "name"); err != nil || len(out) > 0 {
		t.Errorf("helm's release records left after uninstall: %q (%v)", out, err)
	}
}

// shipOverlay writes, in a directory outside the checkout, the overlay the
// sandbox generates (manifests/overlays/example documents it): manifests/
// by a relative path, the two images, the Vault address.
func shipOverlay(t *testing.T, webhookImage, vaultEnvImage, vaultAddr string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "overlay")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, filepath.Join(shipRoot(t), "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	image := func(name, ref string) string {
		repo, tag, _ := strings.Cut(ref, ":")
		return fmt.Sprintf("  - name: %s\n    newName: %s\n    newTag: %q\n", name, repo, tag)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + rel + "\nimages:\n" +
		image("ghcr.io/vault-secrets-webhook/vault-secrets-webhook", webhookImage) +
		image("ghcr.io/vault-secrets-webhook/vault-env", vaultEnvImage) + `patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: vault-secrets-webhook
        namespace: vault-infra
      spec:
        template:
          spec:
            containers:
              - name: webhook
                env:
                  - name: VAULT_ADDR
                    value: ` + vaultAddr + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestShipOverlayChangesOnlyImagesAndVault renders the generated overlay
// and the committed example against manifests/: every object is equal but
// the webhook container's image and its VAULT_ADDR and VAULT_ENV_IMAGE
// values, which are exactly the overlay's.
func TestShipOverlayChangesOnlyImagesAndVault(t *testing.T) {
	sandbox.Get(t)
	plain := shipObjectsByKey(t, shipKustomize(t, "manifests"))
	tests := []struct {
		name, dir                    string
		webhook, vaultEnv, vaultAddr string
	}{
		{"generated", "", "10.88.0.1:5000/vault-secrets-webhook:dev", "10.88.0.1:5000/vault-env:dev", "http://10.88.0.1:8200"},
		{"manifests/overlays/example", "manifests/overlays/example", "registry.example:5000/vault-secrets-webhook:dev",
			"registry.example:5000/vault-env:dev", "https://vault.example:8200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = shipOverlay(t, tc.webhook, tc.vaultEnv, tc.vaultAddr)
			}
			got := shipObjectsByKey(t, shipKustomize(t, dir))
			if len(got) != len(plain) {
				t.Fatalf("overlay renders %d objects, manifests/ %d", len(got), len(plain))
			}
			for k, p := range plain {
				o, ok := got[k]
				if !ok {
					t.Errorf("%s: not rendered by the overlay", k)
					continue
				}
				if o["kind"] == "Deployment" {
					ctr := shipGet(o, "spec", "template", "spec", "containers", 0).(map[string]any)
					if ctr["image"] != tc.webhook {
						t.Errorf("webhook image %v, want %s", ctr["image"], tc.webhook)
					}
					env := map[string]any{}
					for _, e := range shipGet(ctr, "env").([]any) {
						env[shipString(e, "name")] = shipGet(e, "value")
					}
					if env["VAULT_ADDR"] != tc.vaultAddr || env["VAULT_ENV_IMAGE"] != tc.vaultEnv {
						t.Errorf("VAULT_ADDR %v, VAULT_ENV_IMAGE %v; want %s, %s", env["VAULT_ADDR"], env["VAULT_ENV_IMAGE"], tc.vaultAddr, tc.vaultEnv)
					}
					// Compare the rest: the plain values put back, env in the
					// plain order (a strategic merge patch may reorder it).
					pctr := shipGet(p, "spec", "template", "spec", "containers", 0).(map[string]any)
					ctr["image"] = pctr["image"]
					ctr["env"] = pctr["env"]
				}
				if !reflect.DeepEqual(o, p) {
					oj, _ := json.MarshalIndent(o, "", "  ")
					pj, _ := json.MarshalIndent(p, "", "  ")
					t.Errorf("%s: the overlay changes more than images and the Vault address:\noverlay:\n%s\nmanifests/:\n%s", k, oj, pj)
				}
			}
		})
	}
}

// TestShipCopyContainerHasNoToken creates a pod through the real apiserver,
// whose ServiceAccount admission plugin runs again after the webhook
// (reinvocation): the stored copy-vault-env container must mount no
// ServiceAccount token, while the application container keeps its own
// (which shows the plugin ran).
func TestShipCopyContainerHasNoToken(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	pod := createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "copy-no-token"}, Spec: corev1.PodSpec{Containers: []corev1.Container{
		whApp("app", []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/none#key"}}, nil),
	}}})
	if pod.Annotations[envinject.MutatedAnnotation] != "true" || len(pod.Spec.InitContainers) == 0 {
		t.Fatalf("pod was not mutated: %v", pod.Annotations)
	}
	tokenVolumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					tokenVolumes[v.Name] = true
				}
			}
		}
	}
	if len(tokenVolumes) == 0 {
		t.Fatalf("the stored pod has no ServiceAccount token volume: the oracle (the ServiceAccount plugin) did not run: %v", pod.Spec.Volumes)
	}
	mounts := func(c corev1.Container) (token bool, atTokenPath string) {
		for _, m := range c.VolumeMounts {
			if tokenVolumes[m.Name] {
				token = true
			}
			if strings.TrimSuffix(m.MountPath, "/") == envinject.DefaultSATokenDir {
				atTokenPath = m.Name
			}
		}
		return token, atTokenPath
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name != envinject.InitContainerName {
			continue
		}
		if token, at := mounts(c); token || at != envinject.NoTokenVolumeName {
			t.Errorf("copy-vault-env mounts the token: %v; at %s: %q, want %q", token, envinject.DefaultSATokenDir, at, envinject.NoTokenVolumeName)
		}
	}
	if token, _ := mounts(pod.Spec.Containers[0]); !token {
		t.Errorf("the application container lost its ServiceAccount token: %+v", pod.Spec.Containers[0].VolumeMounts)
	}
}

// shipScaleSandboxWebhook scales the sandbox's own webhook Deployment to n
// replicas and waits until exactly n of its pods exist (and, for n > 0, are
// available); the scale is restored to 2 when the test ends.
func shipScaleSandboxWebhook(t *testing.T, env *sandbox.Env, n int) {
	t.Helper()
	scale := func(n int) error {
		_, err := shipKubectl(t, nil, "-n", env.WebhookNamespace, "scale", "deployment/vault-secrets-webhook", fmt.Sprintf("--replicas=%d", n))
		return err
	}
	if err := scale(n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Cleanup(func() { _ = scale(2) })
		poll(t, waitTimeout, "the sandbox webhook's pods to be gone", func() (bool, error) {
			out, err := shipKubectl(t, nil, "-n", env.WebhookNamespace, "get", "pods", "-l", "app.kubernetes.io/instance=vault-secrets-webhook", "-o", "name")
			return err == nil && len(strings.TrimSpace(string(out))) == 0, nil
		})
		return
	}
	if out, err := shipKubectl(t, nil, "-n", env.WebhookNamespace, "rollout", "status", "deployment/vault-secrets-webhook", "--timeout=180s"); err != nil {
		t.Fatalf("the sandbox webhook did not come back: %v\n%s", err, out)
	}
}
