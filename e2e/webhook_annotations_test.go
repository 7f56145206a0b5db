package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestWebhookAnnotations runs pods whose Vault login is steered by
// annotations: the real apiserver stores the mutation and vault-env, run by
// the node, logs in as told and prints the secret.
func TestWebhookAnnotations(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	tests := []struct {
		name  string
		setup func(t *testing.T, ns string, pod *corev1.Pod)
	}{
		{name: "vault-role", setup: func(t *testing.T, ns string, pod *corev1.Pod) {
			// The role is not named after the ServiceAccount.
			sa := uniqueName(t, "sa")
			createServiceAccount(t, ns, sa)
			role := uniqueName(t, "role")
			vaultWrite(t, "auth/kubernetes/role/"+role, map[string]any{
				"bound_service_account_names": []string{sa}, "bound_service_account_namespaces": []string{ns},
				"token_policies": []string{env.VaultPolicy}, "token_ttl": "10m",
			})
			t.Cleanup(func() { _ = vaultRequest(t, "DELETE", "auth/kubernetes/role/"+role, nil, nil) })
			pod.Spec.ServiceAccountName = sa
			pod.Annotations = map[string]string{"vault.security.banzaicloud.io/vault-role": role}
		}},
		{name: "token-auth-mount", setup: func(t *testing.T, ns string, pod *corev1.Pod) {
			// A Vault token in a Secret volume; no Kubernetes login at all
			// (the namespace's default ServiceAccount has no Vault role).
			var tok struct {
				Auth struct {
					ClientToken string `json:"client_token"`
				} `json:"auth"`
			}
			if err := vaultRequest(t, "POST", "auth/token/create", map[string]any{"policies": []string{env.VaultPolicy}, "ttl": "10m"}, &tok); err != nil {
				t.Fatal(err)
			}
			whCreateObject(t, ns, "Secret", "vault-token", map[string]string{"token": tok.Auth.ClientToken})
			pod.Spec.Volumes = []corev1.Volume{{Name: "vault-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vault-token"}}}}
			pod.Annotations = map[string]string{"vault.security.banzaicloud.io/token-auth-mount": "vault-token:token"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := createNamespace(t)
			secret := "an-" + randomSuffix(t, 16)
			path := "e2e/" + ns + "/annotations"
			vaultPut(t, path, map[string]string{"KEY": secret})
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
				whApp("app", []corev1.EnvVar{{Name: "ANNOTATED_SECRET", Value: "vault:secret/data/" + path + "#KEY"}}, nil)}}}
			pod.Name = "wh-" + tc.name
			tc.setup(t, ns, pod)
			stored := createPod(t, ns, pod)
			if stored.Annotations["vault.security.banzaicloud.io/mutated"] != "true" {
				t.Fatalf("pod not mutated")
			}
			out, code := runContainer(t, ns, pod.Name, "", "")
			if want := "ANNOTATED_SECRET=" + secret; code != 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d; output lacks %q:\n%s", code, want, out)
			}
		})
	}
}
