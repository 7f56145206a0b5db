package e2e

// The registry lookup end to end: a container without a command, whose image
// sits in a registry behind htpasswd auth, is wrapped with the image's
// ENTRYPOINT + CMD read by the webhook with the pod's imagePullSecret, and
// the node runs it with the secret resolved.

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

// regAuthRegistry is a docker-registry with htpasswd auth started by the test.
type regAuthRegistry struct {
	addr, user, password string
	client               *http.Client // trusts the registry's CA
}

// regStartAuthRegistry runs the sandbox's docker-registry with one htpasswd
// user, over TLS with a certificate of a CA of the test's, on a free port of
// the node's bridge gateway (where the webhook's pod and containerd reach
// it), gives the node's containerd that CA, and stops it (by PID) when the
// test ends. The webhook does not know the CA: pods set registry-skip-verify.
func regStartAuthRegistry(t *testing.T, env *sandbox.Env) *regAuthRegistry {
	t.Helper()
	bin, htpasswd := env.Bin.Registry, env.Bin.Htpasswd
	if bin == "" || htpasswd == "" {
		t.Fatal("the sandbox names no docker-registry or htpasswd binary")
	}
	dir := t.TempDir()
	r := &regAuthRegistry{user: "puller", password: "pw-" + randomSuffix(t, 16)}
	ca := relNewCA(t)
	caFile, certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	relWriteAtomic(t, caFile, ca.PEM)
	ca.writeServing(t, certFile, keyFile, env.Node.Gateway)
	r.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(r.client.CloseIdleConnections)
	out, err := exec.Command(htpasswd, "-Bbn", r.user, r.password).Output()
	if err != nil {
		t.Fatalf("htpasswd: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", net.JoinHostPort(env.Node.Gateway, "0"))
		if err != nil {
			t.Fatal(err)
		}
		r.addr = l.Addr().String()
		l.Close()
		cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  tls:\n    certificate: %s\n    key: %s\nauth:\n  htpasswd:\n    realm: e2e\n    path: %s\n",
			filepath.Join(dir, "data"), r.addr, certFile, keyFile, filepath.Join(dir, "htpasswd"))
		cfgFile := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var logBuf bytes.Buffer
		cmd := exec.Command(bin, "serve", cfgFile)
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
		if err := cmd.Start(); err != nil {
			t.Fatalf("failed to start docker-registry: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() { cmd.Process.Kill(); <-exited }
		ready := false
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !ready; {
			select {
			case <-exited:
				deadline = time.Now()
				continue
			default:
			}
			if resp, err := r.client.Get("https://" + r.addr + "/v2/"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusUnauthorized
			}
			if !ready {
				time.Sleep(pollInterval)
			}
		}
		if ready {
			t.Cleanup(stop)
			hosts := filepath.Join(env.Node.RegistryHosts, r.addr)
			if err := os.MkdirAll(hosts, 0o700); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(hosts) })
			toml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %q\n", "https://"+r.addr, "https://"+r.addr, caFile)
			if err := os.WriteFile(filepath.Join(hosts, "hosts.toml"), []byte(toml), 0o600); err != nil {
				t.Fatal(err)
			}
			return r
		}
		stop()
	}
	t.Fatal("docker-registry did not come up")
	return nil
}

func (r *regAuthRegistry) send(t *testing.T, method, u, contentType string, body []byte, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.SetBasicAuth(r.user, r.password)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, req.URL.Path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, req.URL.Path, resp.StatusCode, want, b)
	}
	return resp
}

func regSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (r *regAuthRegistry) pushBlob(t *testing.T, repo string, data []byte) string {
	t.Helper()
	base := "https://" + r.addr
	resp := r.send(t, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := url.Parse(base)
	u := b.ResolveReference(loc)
	q := u.Query()
	q.Set("digest", regSHA(data))
	u.RawQuery = q.Encode()
	r.send(t, http.MethodPut, u.String(), "application/octet-stream", data, http.StatusCreated)
	return regSHA(data)
}

// pushImage pushes the sandbox's testapp image (its layers, read from the
// sandbox registry) under repo:tag, with entrypoint and cmd in its config.
func (r *regAuthRegistry) pushImage(t *testing.T, env *sandbox.Env, repo, tag string, entrypoint, cmd []string) {
	t.Helper()
	get := func(path, accept string) []byte {
		req, _ := http.NewRequest(http.MethodGet, "http://"+env.RegistryAddr+"/v2/library/testapp/"+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET testapp %s from the sandbox registry: HTTP %d", path, resp.StatusCode)
		}
		return b
	}
	const ociManifest = "application/vnd.oci.image.manifest.v1+json"
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []map[string]any `json:"layers"`
	}
	if err := json.Unmarshal(get("manifests/latest", ociManifest), &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("the sandbox's testapp image has no single-platform manifest: %v", err)
	}
	var config map[string]any
	if err := json.Unmarshal(get("blobs/"+m.Config.Digest, ""), &config); err != nil {
		t.Fatal(err)
	}
	cc, _ := config["config"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
		config["config"] = cc
	}
	cc["Entrypoint"], cc["Cmd"] = entrypoint, cmd
	for _, l := range m.Layers {
		r.pushBlob(t, repo, get("blobs/"+l["digest"].(string), ""))
	}
	configJSON, _ := json.Marshal(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     ociManifest,
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(configJSON), "digest": r.pushBlob(t, repo, configJSON)},
		"layers":        m.Layers,
	})
	r.send(t, http.MethodPut, "https://"+r.addr+"/v2/"+repo+"/manifests/"+tag, ociManifest, manifest, http.StatusCreated)
}

// TestRegistryEntrypointFromPrivateImage: a Deployment whose container has no
// command and whose image is private. The webhook reads the image's
// ENTRYPOINT and CMD with the pod's imagePullSecret; the stored pod's args
// hold them; the node pulls the private image with the same pull secret and
// the container prints the secret.
func TestRegistryEntrypointFromPrivateImage(t *testing.T) {
	t.Parallel()
	env := sandbox.Get(t)
	requireProduct(t, env)
	reg := regStartAuthRegistry(t, env)
	image := reg.addr + "/e2e/testapp:v1"
	entrypoint := []string{"/usr/local/bin/testapp", "--from-entrypoint"}
	cmd := []string{"--from-cmd"}
	reg.pushImage(t, env, "e2e/testapp", "v1", entrypoint, cmd)

	ns := createNamespace(t)
	sa := uniqueName(t, "sa")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)
	secret := "reg-s3cr3t-" + randomSuffix(t, 12)
	path := "e2e/" + ns + "/registry"
	vaultPut(t, path, map[string]string{"TOKEN": secret})
	ref := "vault:secret/data/" + path + "#TOKEN"

	c := kubeClient(t)
	ctx := testContext(t)
	dockerconfig, _ := json.Marshal(map[string]any{"auths": map[string]any{
		reg.addr: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.password))},
	}})
	pullSecret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerconfig},
	}
	if err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/secrets", pullSecret, nil); err != nil {
		t.Fatalf("failed to create pull secret: %v", err)
	}

	podSpec := func(pullSecrets ...string) corev1.PodSpec {
		spec := corev1.PodSpec{
			ServiceAccountName: sa,
			Containers: []corev1.Container{{
				Name:  "app",
				Image: image,
				Env:   []corev1.EnvVar{{Name: "REG_SECRET", Value: ref}},
			}},
		}
		for _, s := range pullSecrets {
			spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		return spec
	}
	labels := map[string]string{"app.kubernetes.io/name": "registry-e2e"}
	// the webhook does not know the test registry's CA (containerd does)
	skipVerify := map[string]string{"vault.security.banzaicloud.io/registry-skip-verify": "true"}
	replicas := int32(1)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "private-image"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: skipVerify}, Spec: podSpec("regcred")},
		},
	}
	if err := c.Create(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments", dep, nil); err != nil {
		t.Fatalf("failed to create deployment: %v", err)
	}
	pod := waitForPod(t, ns, "app.kubernetes.io/name=registry-e2e")

	t.Run("stored pod runs the image's entrypoint and cmd through vault-env", func(t *testing.T) {
		ctr := pod.Spec.Containers[0]
		t.Logf("stored pod %s: command %q args %q", pod.Name, ctr.Command, ctr.Args)
		if want := []string{"/vault/vault-env"}; !reflect.DeepEqual(ctr.Command, want) {
			t.Errorf("command = %q, want %q", ctr.Command, want)
		}
		if want := slices.Concat(entrypoint, cmd); !reflect.DeepEqual(ctr.Args, want) {
			t.Errorf("args = %q, want ENTRYPOINT + CMD %q", ctr.Args, want)
		}
	})

	t.Run("container prints the secret", func(t *testing.T) {
		out, code := runContainer(t, ns, pod.Name, "app", "")
		if code != 0 {
			t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
		}
		lines := strings.Split(out, "\n")
		for _, want := range []string{"REG_SECRET=" + secret, "ARG[1]=--from-entrypoint", "ARG[2]=--from-cmd"} {
			if !slices.Contains(lines, want) {
				t.Errorf("output has no line %q:\n%s", want, out)
			}
		}
	})

	t.Run("pod args given: CMD is dropped", func(t *testing.T) {
		spec := podSpec("regcred")
		spec.Containers[0].Args = []string{"--from-pod"}
		p := createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "with-args", Annotations: skipVerify}, Spec: spec})
		if want := append(slices.Clone(entrypoint), "--from-pod"); !reflect.DeepEqual(p.Spec.Containers[0].Args, want) {
			t.Errorf("args = %q, want ENTRYPOINT + pod args %q", p.Spec.Containers[0].Args, want)
		}
	})

	t.Run("without the pull secret the pod is refused, naming image and registry", func(t *testing.T) {
		p := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "no-pull-secret", Annotations: skipVerify},
			Spec:       podSpec(),
		}
		err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/pods", p, nil)
		if err == nil {
			t.Fatal("pod without the pull secret was admitted: a private image's config was served from another pod's credentials")
		}
		t.Logf("refusal: %v", err)
		if msg := err.Error(); !strings.Contains(msg, image) || strings.Contains(msg, reg.password) {
			t.Errorf("refusal %q does not name the image, or leaks the password", msg)
		}
	})

	t.Run("secret is stored nowhere in the cluster", func(t *testing.T) {
		if bytes.Contains(getRaw(t, "/api/v1/namespaces/"+ns+"/pods/"+pod.Name), []byte(secret)) {
			t.Error("the stored pod contains the secret value")
		}
		if bytes.Contains(etcdDump(t), []byte(secret)) {
			t.Error("etcd (get --prefix /registry) contains the secret value")
		}
	})
}
