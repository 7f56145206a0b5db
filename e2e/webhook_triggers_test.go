package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

const whTestapp = "/usr/local/bin/testapp"

// whApp is a testapp container that prints its environment.
func whApp(name string, env []corev1.EnvVar, envFrom []corev1.EnvFromSource) corev1.Container {
	return corev1.Container{Name: name, Image: "testapp", Command: []string{whTestapp}, Args: []string{"--" + name}, Env: env, EnvFrom: envFrom}
}

// whCreateObject creates a Secret or ConfigMap holding data in ns.
func whCreateObject(t *testing.T, ns, kind, name string, data map[string]string) {
	t.Helper()
	c := kubeClient(t)
	var obj any
	switch kind {
	case "Secret":
		s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		obj = s
	case "ConfigMap":
		obj = &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
	}
	if err := c.Create(testContext(t), "/api/v1/namespaces/"+ns+"/"+strings.ToLower(kind)+"s", obj, nil); err != nil {
		t.Fatalf("failed to create %s %s/%s: %v", kind, ns, name, err)
	}
}

// TestWebhookTriggers creates, for each way a pod can name a Vault secret, a
// pod through the real apiserver (which calls the webhook and applies its
// patch), compares the stored pod with its golden projection, and runs it
// on the node: the container prints the secret.
func TestWebhookTriggers(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)

	type trigger struct {
		name string
		// build returns the pod given the Vault reference (whose key is
		// KEY); it may create Secrets/ConfigMaps in ns.
		build func(t *testing.T, ns, ref string) *corev1.Pod
		// want is what the container's output must hold ({secret} is
		// replaced by the secret value).
		want string
		// logOf names the container whose log holds want, when it is not
		// the first app container (a sidecar).
		logOf string
	}
	single := func(c corev1.Container) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	}
	triggers := []trigger{
		{name: "direct-value", want: "DB_PASSWORD={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			return single(whApp("app", []corev1.EnvVar{{Name: "DB_PASSWORD", Value: ref}}, nil))
		}},
		{name: "inline", want: "DSN=postgres://app:{secret}@db:5432/app", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			return single(whApp("app", []corev1.EnvVar{{Name: "DSN", Value: "postgres://app:${" + ref + "}@db:5432/app"}}, nil))
		}},
		{name: "valuefrom-secret", want: "FROM_SECRET={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			whCreateObject(t, ns, "Secret", "refs", map[string]string{"password": ref})
			return single(whApp("app", []corev1.EnvVar{{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "refs"}, Key: "password"}}}}, nil))
		}},
		{name: "valuefrom-configmap", want: "FROM_CM={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			whCreateObject(t, ns, "ConfigMap", "refs", map[string]string{"password": ref})
			return single(whApp("app", []corev1.EnvVar{{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "refs"}, Key: "password"}}}}, nil))
		}},
		{name: "envfrom-secret", want: "ENVFROM_SECRET={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			whCreateObject(t, ns, "Secret", "refs", map[string]string{"ENVFROM_SECRET": ref, "PLAIN": "x"})
			return single(whApp("app", nil, []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "refs"}}}}))
		}},
		{name: "envfrom-configmap", want: "P_ENVFROM_CM={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			whCreateObject(t, ns, "ConfigMap", "refs", map[string]string{"ENVFROM_CM": ref})
			return single(whApp("app", nil, []corev1.EnvFromSource{{Prefix: "P_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "refs"}}}}))
		}},
		{name: "from-path", want: "KEY={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			path := strings.TrimPrefix(strings.SplitN(ref, "#", 2)[0], "vault:")
			p := single(whApp("app", nil, nil))
			p.Annotations = map[string]string{"vault.security.banzaicloud.io/vault-env-from-path": path}
			return p
		}},
		{name: "init-container", want: "[init migrate] INIT_SECRET={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			return &corev1.Pod{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{whApp("migrate", []corev1.EnvVar{{Name: "INIT_SECRET", Value: ref}}, nil)},
				Containers:     []corev1.Container{{Name: "app", Image: "alpine", Command: []string{"true"}}},
			}}
		}},
		{name: "native-sidecar", logOf: "proxy", want: "SIDECAR_SECRET={secret}", build: func(t *testing.T, ns, ref string) *corev1.Pod {
			always := corev1.ContainerRestartPolicyAlways
			marker := "sidecar-" + ns // unique to the run; the golden sees $NS
			side := whApp("proxy", []corev1.EnvVar{{Name: "SIDECAR_SECRET", Value: ref}, {Name: "TESTAPP_SLEEP", Value: "5m"}}, nil)
			side.Args = []string{marker}
			side.RestartPolicy = &always
			// The kubelet starts the app once the sidecar runs; the
			// sidecar's own log shows what vault-env gave it.
			return &corev1.Pod{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{side},
				Containers:     []corev1.Container{{Name: "app", Image: "alpine", Command: []string{"true"}}},
			}}
		}},
	}
	for _, tc := range triggers {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := createNamespace(t)
			sa := uniqueName(t, "sa")
			createServiceAccount(t, ns, sa)
			vaultRole(t, ns, sa)
			secret := "wh-" + randomSuffix(t, 16)
			path := "e2e/" + ns + "/wh"
			vaultPut(t, path, map[string]string{"KEY": secret})
			ref := "vault:secret/data/" + path + "#KEY"

			pod := tc.build(t, ns, ref)
			pod.Name = "wh-" + tc.name
			pod.Spec.ServiceAccountName = sa
			stored := createPod(t, ns, pod)
			whCheckGolden(t, "trigger-"+tc.name, stored, map[string]string{ns: "$NS", sa: "$SA", env.VaultAddr: "$VAULT_ADDR"})

			out, code := runContainer(t, ns, pod.Name, "", "")
			want := strings.ReplaceAll(tc.want, "{secret}", secret)
			if tc.logOf != "" && code == 0 {
				poll(t, waitTimeout, "the log of "+tc.logOf, func() (bool, error) {
					out = podLog(t, ns, pod.Name, tc.logOf, false)
					return strings.Contains(out, want), nil
				})
			}
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d; output lacks %q:\n%s", code, want, out)
			}
		})
	}
}
