package e2e

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// TestImageVolumeDelivery: with vault-env-image-volume the pod's vault-env
// volume is the vault-env image itself (volumes[].image), there is no copy
// init container, and the wrapped container, run by the real node, prints
// its secret resolved by /vault/vault-env from that volume; a second
// wrapped container finds the mount point of the Vault CA volume in it.
func TestImageVolumeDelivery(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	secret := "iv-" + randomSuffix(t, 16)
	path := "e2e/" + ns + "/iv"
	vaultPut(t, path, map[string]string{"KEY": secret})
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Annotations: map[string]string{agentAnn + "vault-env-image-volume": "true"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: "alpine",
				Command: []string{"sh", "-c", "echo IV_SECRET=$IV_SECRET; ls -l /vault/vault-env; touch /vault/x 2>/dev/null && echo writable || echo read-only"},
				Env:     []corev1.EnvVar{{Name: "IV_SECRET", Value: "vault:secret/data/" + path + "#KEY"}},
			}},
		},
	})
	if len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("init containers %v, want none", agentInitNames(pod))
	}
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "vault-env" && v.Image != nil && strings.HasSuffix(v.Image.Reference, "/vault-env:latest")
	}) {
		t.Fatalf("no image volume vault-env in %+v", pod.Spec.Volumes)
	}
	out, code := runContainer(t, ns, pod.Name, "app", "")
	if code != 0 || !strings.Contains(out, "IV_SECRET="+secret) || !strings.Contains(out, "read-only") {
		t.Fatalf("exit code %d, want 0, the secret and a read-only /vault; output:\n%s", code, out)
	}
}
