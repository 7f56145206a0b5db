package e2e

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// Vault Agent file secrets on the sandbox's real node: the agent of the
// user's ConfigMap (the sandbox's hashicorp/vault look-alike, the real vault
// binary) logs in with the pod's ServiceAccount and renders a template from
// the sandbox's Vault into /vault/secrets, which the app reads as a file.

const agentAnn = "vault.security.banzaicloud.io/"

// agentSetup creates a ServiceAccount, a Vault role for it whose name is
// NOT the ServiceAccount's (so vault-env could not log in on its own: the
// default role is the ServiceAccount's name), a secret, and the agent's
// ConfigMap "agent-config" rendering it into /vault/secrets/config; sink
// adds the token sink /vault/.vault-token. It returns the ServiceAccount,
// the secret's path and value.
func agentSetup(t *testing.T, ns string, sink bool) (sa, path, secret string) {
	t.Helper()
	sa = uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	role := uniqueName(t, "agent-role")
	env := sandbox.Get(t)
	vaultWrite(t, "auth/kubernetes/role/"+role, map[string]any{
		"bound_service_account_names":      []string{sa},
		"bound_service_account_namespaces": []string{ns},
		"token_policies":                   []string{env.VaultPolicy},
		"token_ttl":                        "1h",
	})
	t.Cleanup(func() {
		if err := vaultRequest(t, "DELETE", "auth/kubernetes/role/"+role, nil, nil); err != nil {
			t.Errorf("failed to delete vault role: %v", err)
		}
	})
	secret = "agent-" + randomSuffix(t, 16)
	path = "e2e/" + ns + "/agent"
	vaultPut(t, path, map[string]string{"password": secret})
	sinkHCL := ""
	if sink {
		sinkHCL = `
  sink "file" {
    config = { path = "/vault/.vault-token" }
  }`
	}
	config := fmt.Sprintf(`auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = { role = %q }
  }%s
}
template {
  destination = "/vault/secrets/config"
  contents    = "password={{ with secret \"secret/data/%s\" }}{{ .Data.data.password }}{{ end }}"
}
`, role, sinkHCL, path)
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "agent-config"},
		Data:       map[string]string{"config.hcl": config},
	}
	if err := kubeClient(t).Create(testContext(t), "/api/v1/namespaces/"+ns+"/configmaps", cm, nil); err != nil {
		t.Fatalf("failed to create the agent ConfigMap: %v", err)
	}
	return sa, path, secret
}

// agentInitNames returns the names of a pod's init containers.
func agentInitNames(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.InitContainers {
		out = append(out, c.Name)
	}
	return out
}

// TestAgentSidecarDeployment: a Deployment with vault-agent-configmap and no
// vault: reference at all gets the agent as a native sidecar; the app cats
// the rendered file and kubectl logs shows it.
func TestAgentSidecarDeployment(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	sa, _, secret := agentSetup(t, ns, false)
	labels := map[string]string{"app.kubernetes.io/name": "agent-sidecar"}
	replicas := int32(1)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "files"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{agentAnn + "vault-agent-configmap": "agent-config"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa,
					Containers: []corev1.Container{{
						Name: "app", Image: "alpine",
						Command: []string{"sh", "-c", "cat /vault/secrets/config; echo; echo rendered; sleep 10000"},
					}},
				},
			},
		},
	}
	if err := kubeClient(t).Create(testContext(t), kube.GroupPath("apps", "v1", ns, "deployments", ""), dep, nil); err != nil {
		t.Fatalf("failed to create deployment: %v", err)
	}
	pod := waitForPod(t, ns, "app.kubernetes.io/name=agent-sidecar")
	if names := agentInitNames(pod); len(names) != 1 || names[0] != "vault-agent" || !isSidecar(pod, "vault-agent") {
		t.Fatalf("init containers = %v, want the vault-agent native sidecar alone", names)
	}
	out, code := runContainer(t, ns, pod.Name, "app", "rendered")
	if code != 0 || !strings.Contains(out, "password="+secret) {
		t.Fatalf("exit code %d, want 0 and the rendered file (password=<secret>); output:\n%s\nagent log:\n%s", code, out, podLog(t, ns, pod.Name, "vault-agent", false))
	}
}

// TestAgentInitToken: vault-agent: "true" runs the agent first, with
// -exit-after-auth: it renders the file once and leaves its token for
// vault-env, which resolves a vault: reference with it (the pod's
// ServiceAccount has no Vault role of its own name, so vault-env could not
// log in by itself).
func TestAgentInitToken(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	sa, path, secret := agentSetup(t, ns, true)
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Annotations: map[string]string{
			agentAnn + "vault-agent": "true", agentAnn + "vault-agent-configmap": "agent-config",
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: "alpine",
				Command: []string{"sh", "-c", "echo env=$FROM_ENV; cat /vault/secrets/config; echo"},
				Env:     []corev1.EnvVar{{Name: "FROM_ENV", Value: "vault:secret/data/" + path + "#password"}},
			}},
		},
	})
	if names := agentInitNames(pod); len(names) != 2 || names[0] != "vault-agent" || names[1] != "copy-vault-env" || isSidecar(pod, "vault-agent") {
		t.Fatalf("init containers = %v, want vault-agent (run to completion), copy-vault-env", names)
	}
	out, code := runContainer(t, ns, pod.Name, "app", "")
	if code != 0 || !strings.Contains(out, "env="+secret) || !strings.Contains(out, "password="+secret) {
		t.Fatalf("exit code %d, want 0, the env value and the rendered file; output:\n%s", code, out)
	}
}

// TestAgentSidecarJob: a Job whose pod has the long-lived agent completes
// (the native sidecar stops when the app container has exited).
func TestAgentSidecarJob(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	sa, _, secret := agentSetup(t, ns, false)
	backoff := int32(0)
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{agentAnn + "vault-agent-configmap": "agent-config"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa,
					RestartPolicy:      corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "app", Image: "alpine",
						Command: []string{"sh", "-c", "cat /vault/secrets/config"},
					}},
				},
			},
		},
	}
	c := kubeClient(t)
	ctx := testContext(t)
	if err := c.Create(ctx, kube.GroupPath("batch", "v1", ns, "jobs", ""), job, nil); err != nil {
		t.Fatalf("failed to create job: %v", err)
	}
	pod := waitForPod(t, ns, "batch.kubernetes.io/job-name=once")
	out, code := runContainer(t, ns, pod.Name, "app", "")
	if code != 0 || !strings.Contains(out, "password="+secret) {
		t.Fatalf("exit code %d, want 0 and the rendered file; output:\n%s", code, out)
	}
	poll(t, containerTimeout, "job "+ns+"/once to complete", func() (bool, error) {
		var j batchv1.Job
		if err := c.Get(ctx, kube.GroupPath("batch", "v1", ns, "jobs", "once"), &j); err != nil {
			return false, err
		}
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
				return false, fmt.Errorf("job failed: %s", cond.Message)
			}
		}
		return j.Status.Succeeded == 1, nil
	})
}

// TestAgentRoleTemplateRefused: the apiserver refuses a pod whose vault-role
// template names an unknown key, with the webhook's message naming it.
func TestAgentRoleTemplateRefused(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "app", Annotations: map[string]string{
			agentAnn + "vault-role": "{{.namespace}}-{{.podname}}",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "alpine", Command: []string{"true"},
			Env: []corev1.EnvVar{{Name: "S", Value: "vault:secret/data/x#y"}},
		}}},
	}
	err := kubeClient(t).Create(testContext(t), "/api/v1/namespaces/"+ns+"/pods", pod, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown template key "podname"`) {
		t.Fatalf("create error = %v, want a refusal naming the key podname", err)
	}
}
