package e2e

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// TestWebhookWorkloads: pods made by a Deployment (ReplicaSet, generateName,
// no pod name at admission) and by a StatefulSet are mutated and run.
func TestWebhookWorkloads(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	for _, kind := range []string{"Deployment", "StatefulSet"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ns := createNamespace(t)
			sa := uniqueName(t, "sa")
			createServiceAccount(t, ns, sa)
			vaultRole(t, ns, sa)
			secret := "wl-" + randomSuffix(t, 16)
			path := "e2e/" + ns + "/workload"
			vaultPut(t, path, map[string]string{"KEY": secret})

			labels := map[string]string{"app.kubernetes.io/name": "wh-" + strings.ToLower(kind)}
			tmpl := corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa,
					Containers:         []corev1.Container{whApp("app", []corev1.EnvVar{{Name: "WORKLOAD_SECRET", Value: "vault:secret/data/" + path + "#KEY"}}, nil)},
				},
			}
			replicas := int32(1)
			selector := &metav1.LabelSelector{MatchLabels: labels}
			var obj any
			var apiPath string
			switch kind {
			case "Deployment":
				obj = &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: kind}, ObjectMeta: metav1.ObjectMeta{Name: "wh"},
					Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: selector, Template: tmpl}}
				apiPath = kube.GroupPath("apps", "v1", ns, "deployments", "")
			case "StatefulSet":
				obj = &appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: kind}, ObjectMeta: metav1.ObjectMeta{Name: "wh"},
					Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: selector, Template: tmpl, ServiceName: "wh"}}
				apiPath = kube.GroupPath("apps", "v1", ns, "statefulsets", "")
			}
			if err := kubeClient(t).Create(testContext(t), apiPath, obj, nil); err != nil {
				t.Fatalf("failed to create %s: %v", kind, err)
			}
			pod := waitForPod(t, ns, "app.kubernetes.io/name="+labels["app.kubernetes.io/name"])
			if pod.Annotations["vault.security.banzaicloud.io/mutated"] != "true" || len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != "copy-vault-env" {
				t.Fatalf("pod %s was not mutated: %+v", pod.Name, pod.Spec.InitContainers)
			}
			out, code := runContainer(t, ns, pod.Name, "", "")
			if want := "WORKLOAD_SECRET=" + secret; code != 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d; output lacks %q:\n%s", code, want, out)
			}
		})
	}
}

// TestWebhookRestrictedPodSecurity: in a namespace that enforces Pod
// Security "restricted", a restricted pod naming a Vault secret is admitted
// after mutation (the injected init container passes the policy), and runs.
func TestWebhookRestrictedPodSecurity(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	c := kubeClient(t)
	ctx := testContext(t)
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest"}}}`)
	if err := c.Patch(ctx, "/api/v1/namespaces/"+ns, kube.PatchMerge, patch, nil); err != nil {
		t.Fatalf("failed to label namespace: %v", err)
	}
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	secret := "rs-" + randomSuffix(t, 16)
	path := "e2e/" + ns + "/restricted"
	vaultPut(t, path, map[string]string{"KEY": secret})

	app := whApp("app", []corev1.EnvVar{{Name: "RESTRICTED_SECRET", Value: "vault:secret/data/" + path + "#KEY"}}, nil)
	f, uid := false, int64(1000)
	t2 := true
	app.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f,
		RunAsNonRoot:             &t2,
		RunAsUser:                &uid,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}

	// Enforcement is on: an unrestricted pod is refused.
	bad := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "unrestricted"},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{whApp("app", []corev1.EnvVar{{Name: "X", Value: "vault:secret/data/" + path + "#KEY"}}, nil)}}}
	if err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods", bad, nil); err == nil || !kube.IsForbidden(err) {
		t.Fatalf("an unrestricted pod was not refused: %v", err)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "restricted"}, Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{app}}}
	stored := createPod(t, ns, pod)
	whCheckGolden(t, "restricted", stored, map[string]string{ns: "$NS", sa: "$SA", env.VaultAddr: "$VAULT_ADDR"})
	out, code := runContainer(t, ns, pod.Name, "", "")
	if want := "RESTRICTED_SECRET=" + secret; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d; output lacks %q:\n%s", code, want, out)
	}
}
