package kubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// TestSandboxPod runs a pod stored in the sandbox's kube-apiserver: the
// ServiceAccount admission plugin has added its kube-api-access volume, the
// controller manager its kube-root-ca.crt, and the token comes from the
// real TokenRequest API.
func TestSandboxPod(t *testing.T) {
	requireRoot(t)
	env := sandbox.Get(t)
	kcfg := kube.Config{Server: env.KubeServer, CAFile: env.KubeCAFile, TokenFile: env.KubeTokenFile, Timeout: 20 * time.Second}
	c, err := kube.New(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	testApp := env.Bin.TestApp
	if testApp == "" {
		testApp = buildTestApp(t)
	}
	ctx := t.Context()
	ns := freshNamespace(t, c)

	// Pods need the namespace's default ServiceAccount, and the projected
	// token volume needs kube-root-ca.crt: both come from the controller
	// manager within seconds.
	waitFor(t, 60*time.Second, "default ServiceAccount and kube-root-ca.crt in "+ns, func() error {
		if _, err := c.GetServiceAccount(ctx, ns, "default"); err != nil {
			return err
		}
		_, err := c.GetConfigMap(ctx, ns, "kube-root-ca.crt")
		return err
	})

	create := func(resource string, obj any) {
		t.Helper()
		if err := c.Create(ctx, kube.CorePath(ns, resource, ""), obj, nil); err != nil {
			t.Fatalf("create %s: %v", resource, err)
		}
	}
	create("secrets", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Data: map[string][]byte{"user": []byte("admin"), "password": []byte("pw-plain")}})
	create("configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"mode": "fast", "LEVEL": "info"}})
	// The mount point is created on the host (left empty): keep it in a
	// temporary directory.
	work := t.TempDir() + "/work"
	workMount := []corev1.VolumeMount{{Name: "work", MountPath: work}}
	create("pods", &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"app": "it"}},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			InitContainers: []corev1.Container{{
				Name: "prep", Image: "busybox", Command: []string{"sh", "-c", "echo written-by-init > " + work + "/file"},
				VolumeMounts: workMount,
			}},
			Containers: []corev1.Container{
				{
					Name: "app", Image: "testapp", Args: []string{"$(GREETING)"},
					EnvFrom: []corev1.EnvFromSource{
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
						{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
					},
					Env: []corev1.EnvVar{
						{Name: "GREETING", Value: "hello-$(DB_user)"},
						{Name: "LEVEL", Value: "debug"},
						{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
						{Name: "MY_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
						{Name: "MY_SA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
					},
					VolumeMounts: workMount,
				},
				{
					Name: "check", Image: "alpine:3.20",
					Command:      []string{"sh", "-c", "cat " + work + "/file; d=/var/run/secrets/kubernetes.io/serviceaccount; cat $d/namespace; echo; cat $d/token"},
					VolumeMounts: workMount,
				},
			},
		},
	})
	pod, err := c.GetPod(ctx, ns, "app")
	if err != nil {
		t.Fatal(err)
	}

	opts := Options{Kube: kcfg, Namespace: ns, Pod: "app", Timeout: time.Minute, TestApp: testApp, VaultEnv: env.Bin.VaultEnv}

	t.Run("env", func(t *testing.T) {
		code, stdout, stderr := runPod(t, opts)
		if code != 0 {
			t.Fatalf("exit code %d\nstderr:\n%s", code, stderr)
		}
		want := []string{
			"ARG[0]=/usr/local/bin/testapp", "ARG[1]=hello-admin",
			"DB_password=pw-plain", "DB_user=admin", "GREETING=hello-admin", "HOSTNAME=app",
			"LEVEL=debug", "MY_NS=" + ns, "MY_SA=default", "PW=pw-plain", "mode=fast",
		}
		if !containsLinesInOrder(stdout, want) {
			t.Errorf("stdout:\n%s\nwant lines in order: %q", stdout, want)
		}
	})

	t.Run("emptyDir and projected token", func(t *testing.T) {
		o := opts
		o.Container = "check"
		code, stdout, stderr := runPod(t, o)
		if code != 0 {
			t.Fatalf("exit code %d\nstderr:\n%s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 3 || lines[0] != "written-by-init" || lines[1] != ns {
			t.Fatalf("stdout:\n%s", stdout)
		}
		// The token is a real one, bound to the pod.
		review := &authenticationv1.TokenReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
			Spec:     authenticationv1.TokenReviewSpec{Token: lines[2]},
		}
		var out authenticationv1.TokenReview
		if err := c.Create(ctx, kube.GroupPath("authentication.k8s.io", "v1", "", "tokenreviews", ""), review, &out); err != nil {
			t.Fatal(err)
		}
		if want := "system:serviceaccount:" + ns + ":default"; !out.Status.Authenticated || out.Status.User.Username != want {
			t.Errorf("token review: %+v, want authenticated as %s", out.Status, want)
		}
		if got := out.Status.User.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Errorf("token not bound to pod uid %s: extra %v", pod.UID, out.Status.User.Extra)
		}
	})

	t.Run("command", func(t *testing.T) {
		if env.Bin.Kubelet == "" {
			t.Skip("the sandbox built no kubelet-standin binary")
		}
		cmd := exec.CommandContext(ctx, env.Bin.Kubelet, "--sandbox", env.Dir, "--namespace", ns, "--pod", "app",
			"--testapp", testApp, "--until-output", "GREETING=hello-admin", "--timeout", "1m")
		cmd.Env = append(os.Environ(), "TESTAPP_SLEEP=1h") // not passed on: the pod's env is its own
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(string(out), "GREETING=hello-admin") || strings.Contains(string(out), "TESTAPP_SLEEP") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func freshNamespace(t *testing.T, c *kube.Client) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "standin-it-" + hex.EncodeToString(b)
	if err := c.Create(t.Context(), kube.CorePath("", "namespaces", ""), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Delete(ctx, kube.CorePath("", "namespaces", ns)); err != nil && !kube.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})
	return ns
}

// waitFor polls cond every 200ms until it returns nil or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", limit, what, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(errors.Join(t.Context().Err(), err))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
