package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// The seed walkthrough's container: it prints the variable, then sleeps.
var walkthroughCommand = []string{"sh", "-c", "echo $AWS_SECRET_ACCESS_KEY && echo going to sleep... && sleep 10000"}

// requireProduct fails the test when the sandbox lacks a part the walkthrough
// needs (a sandbox started before that part existed).
func requireProduct(t *testing.T, env *sandbox.Env) {
	t.Helper()
	for name, path := range map[string]string{
		"webhook configuration": env.WebhookConfigName, "vault-env": env.Bin.VaultEnv,
	} {
		if path == "" {
			t.Fatalf("the sandbox has no %s: restart it (scripts/sandbox down && scripts/sandbox up)", name)
		}
	}
}

// TestWalkthrough replays the seed's walkthrough: a Deployment whose env value
// names a Vault secret yields a controller-made Pod that the webhook mutated;
// its container prints the secret; the secret is stored nowhere in the cluster.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	// vault-env's default role is the ServiceAccount's name; role names are
	// global to Vault, so the ServiceAccount gets a name unique to this run.
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	// A value unique to the run: another test's data can never match it.
	secret := "s3cr3t-" + randomSuffix(t, 12)
	path := "demosecret/" + ns + "/aws"
	vaultPut(t, path, map[string]string{"AWS_SECRET_ACCESS_KEY": secret})
	ref := "vault:secret/data/" + path + "#AWS_SECRET_ACCESS_KEY"

	labels := map[string]string{"app.kubernetes.io/name": "vault"}
	replicas := int32(1)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "vault-test"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa,
					Containers: []corev1.Container{{
						Name:    "alpine",
						Image:   "alpine",
						Command: walkthroughCommand,
						Env:     []corev1.EnvVar{{Name: "AWS_SECRET_ACCESS_KEY", Value: ref}},
					}},
				},
			},
		},
	}
	c := kubeClient(t)
	ctx := testContext(t)
	if err := c.Create(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments", dep, nil); err != nil {
		t.Fatalf("failed to create deployment: %v", err)
	}

	pod := waitForPod(t, ns, "app.kubernetes.io/name=vault")

	t.Run("pod is controller-made", func(t *testing.T) {
		if pod.GenerateName == "" {
			t.Errorf("pod %s has no generateName", pod.Name)
		}
		if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "ReplicaSet" {
			t.Errorf("pod owner references = %+v, want one ReplicaSet", pod.OwnerReferences)
		}
	})

	t.Run("pod is mutated", func(t *testing.T) {
		var initNames []string
		for _, ic := range pod.Spec.InitContainers {
			initNames = append(initNames, ic.Name)
		}
		if !slices.Contains(initNames, "copy-vault-env") {
			t.Errorf("init containers = %v, want copy-vault-env", initNames)
		}
		ctr := pod.Spec.Containers[0]
		if want := []string{"/vault/vault-env"}; !reflect.DeepEqual(ctr.Command, want) {
			t.Errorf("command = %q, want %q", ctr.Command, want)
		}
		if !reflect.DeepEqual(ctr.Args, walkthroughCommand) {
			t.Errorf("args = %q, want the original command %q", ctr.Args, walkthroughCommand)
		}
		if got := envValue(ctr.Env, "AWS_SECRET_ACCESS_KEY"); got != ref {
			t.Errorf("env AWS_SECRET_ACCESS_KEY = %q, want the reference %q", got, ref)
		}
		mem := false
		for _, v := range pod.Spec.Volumes {
			if v.Name == "vault-env" && v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory {
				mem = true
			}
		}
		if !mem {
			t.Errorf("no in-memory emptyDir volume vault-env in %+v", pod.Spec.Volumes)
		}
	})

	t.Run("deployment template is unchanged", func(t *testing.T) {
		var got appsv1.Deployment
		if err := json.Unmarshal(getRaw(t, "/apis/apps/v1/namespaces/"+ns+"/deployments/vault-test"), &got); err != nil {
			t.Fatal(err)
		}
		spec := got.Spec.Template.Spec
		if len(spec.InitContainers) != 0 || len(spec.Containers) != 1 {
			t.Fatalf("template containers = %d init, %d regular; want 0 and 1", len(spec.InitContainers), len(spec.Containers))
		}
		ctr := spec.Containers[0]
		if !reflect.DeepEqual(ctr.Command, walkthroughCommand) || len(ctr.Args) != 0 {
			t.Errorf("template command/args = %q/%q, want %q/none", ctr.Command, ctr.Args, walkthroughCommand)
		}
		if got := envValue(ctr.Env, "AWS_SECRET_ACCESS_KEY"); got != ref {
			t.Errorf("template env AWS_SECRET_ACCESS_KEY = %q, want %q", got, ref)
		}
	})

	t.Run("container prints the secret", func(t *testing.T) {
		out, code := runContainer(t, ns, pod.Name, "alpine", "going to sleep")
		if code != 0 {
			t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
		}
		if !slices.Contains(strings.Split(out, "\n"), secret) {
			t.Errorf("output has no line %q:\n%s", secret, out)
		}
	})

	t.Run("secret is stored nowhere in the cluster", func(t *testing.T) {
		for _, p := range []string{
			"/api/v1/namespaces/" + ns + "/pods/" + pod.Name,
			"/apis/apps/v1/namespaces/" + ns + "/deployments/vault-test",
		} {
			if bytes.Contains(getRaw(t, p), []byte(secret)) {
				t.Errorf("%s contains the secret value", p)
			}
		}
		if bytes.Contains(etcdDump(t), []byte(secret)) {
			t.Error("etcd (get --prefix /registry) contains the secret value")
		}
	})
}

// TestMissingSecret: a reference to a path that does not exist makes
// vault-env exit non-zero, naming the path but printing no value, and the
// application never starts.
func TestMissingSecret(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	ns := createNamespace(t)
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	// One reference resolves (its value must not leak either), one does not.
	present := "present-" + randomSuffix(t, 12)
	vaultPut(t, "e2e/"+ns+"/present", map[string]string{"KEY": present})
	missing := "secret/data/e2e/" + ns + "/missing"

	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers: []corev1.Container{{
				Name:    "app",
				Image:   "alpine",
				Command: []string{"sh", "-c", "echo app-started; env"},
				Env: []corev1.EnvVar{
					{Name: "PRESENT", Value: "vault:secret/data/e2e/" + ns + "/present#KEY"},
					{Name: "MISSING", Value: "vault:" + missing + "#KEY"},
				},
			}},
		},
	})

	out, code := runContainer(t, ns, pod.Name, "app", "")
	t.Logf("exit code %d, output:\n%s", code, out)
	if code == 0 {
		t.Errorf("exit code 0, want non-zero; output:\n%s", out)
	}
	if !strings.Contains(out, missing) {
		t.Errorf("output does not name the missing path %q:\n%s", missing, out)
	}
	if strings.Contains(out, present) {
		t.Errorf("output contains the value of a resolved secret:\n%s", out)
	}
	if strings.Contains(out, "app-started") {
		t.Errorf("the application started:\n%s", out)
	}
}

// envValue returns the value of the variable name in env ("" when absent).
func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestSandboxDefaultRole checks the sandbox's own Vault set-up (contract C7)
// the way the walkthrough uses it: a Pod in namespace default, running as
// ServiceAccount default, logs in with role "default" (vault-env's default
// role is the ServiceAccount's name) and reads KV v2 at secret/.
func TestSandboxDefaultRole(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	name := uniqueName(t, "e2e")
	value := "default-role-" + randomSuffix(t, 12)
	vaultPut(t, "e2e/"+name, map[string]string{"VALUE": value})
	pod := createPod(t, "default", &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:    "app",
				Image:   "busybox",
				Command: []string{"sh", "-c", "echo value=$VALUE"},
				Env:     []corev1.EnvVar{{Name: "VALUE", Value: "vault:secret/data/e2e/" + name + "#VALUE"}},
			}},
		},
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kubeClient(t).Delete(ctx, "/api/v1/namespaces/default/pods/"+pod.Name); err != nil && !kube.IsNotFound(err) {
			t.Errorf("failed to delete pod default/%s: %v", pod.Name, err)
		}
	})
	if pod.Spec.ServiceAccountName != "default" {
		t.Fatalf("pod runs as %q, want default", pod.Spec.ServiceAccountName)
	}
	out, code := runContainer(t, "default", pod.Name, "app", "")
	if code != 0 {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	if !slices.Contains(strings.Split(out, "\n"), "value="+value) {
		t.Errorf("output has no line value=%s:\n%s", value, out)
	}
}
