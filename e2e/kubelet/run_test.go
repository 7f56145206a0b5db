package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// These tests run pods from a fake API server: they check the process and
// mount mechanics. integration_test.go runs pods stored in the sandbox's
// real kube-apiserver.

var (
	testAppOnce sync.Once
	testAppPath string
	testAppErr  error
)

// buildTestApp builds e2e/cmd/testapp once per test binary.
func buildTestApp(t *testing.T) string {
	t.Helper()
	testAppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "standin-testapp-")
		if err != nil {
			testAppErr = err
			return
		}
		testAppPath = filepath.Join(dir, "testapp")
		out, err := exec.Command("go", "build", "-o", testAppPath, "../cmd/testapp").CombinedOutput()
		if err != nil {
			testAppErr = err
			t.Logf("go build: %s", out)
		}
	})
	if testAppErr != nil {
		t.Fatalf("failed to build testapp: %v", testAppErr)
	}
	return testAppPath
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kubelet stand-in needs root")
	}
}

// fakeCluster serves pods, secrets and configmaps of namespace "ns" and
// answers TokenRequests.
type fakeCluster struct {
	srv     *httptest.Server
	caFile  string
	mu      sync.Mutex
	objects map[string]any // API path -> object
	tokens  []authenticationv1.TokenRequest
}

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	f := &fakeCluster{objects: map[string]any{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeCluster) add(resource, name string, obj any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[kube.CorePath("ns", resource, name)] = obj
}

func (f *fakeCluster) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
		var tr authenticationv1.TokenRequest
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.tokens = append(f.tokens, tr)
		tr.Status.Token = "jwt-for-" + tr.Spec.BoundObjectRef.Name
		_ = json.NewEncoder(w).Encode(&tr)
		return
	}
	obj, ok := f.objects[r.URL.Path]
	if r.Method != http.MethodGet || !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","reason":"NotFound","code":404,"message":"not found"}`))
		return
	}
	_ = json.NewEncoder(w).Encode(obj)
}

func (f *fakeCluster) options(pod string) Options {
	return Options{
		Kube:      kube.Config{Server: f.srv.URL, CAFile: f.caFile},
		Namespace: "ns",
		Pod:       pod,
		Timeout:   time.Minute,
	}
}

// runPod runs a pod and returns its exit code, stdout and stderr.
func runPod(t *testing.T, opts Options) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.Stdout, opts.Stderr = &stdout, &stderr
	code, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return code, stdout.String(), stderr.String()
}

func TestRunFakeCluster(t *testing.T) {
	requireRoot(t)
	testApp := buildTestApp(t)
	f := newFakeCluster(t)
	base := t.TempDir() // mount points live here, so the host is left clean
	// A nonroot container must be able to reach its mount points.
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.add("secrets", "db", &corev1.Secret{Data: map[string][]byte{"password": []byte("pw1"), "user": []byte("admin")}})
	f.add("configmaps", "cfg", &corev1.ConfigMap{Data: map[string]string{"mode": "fast"}})
	f.add("configmaps", "kube-root-ca.crt", &corev1.ConfigMap{Data: map[string]string{"ca.crt": "CA-PEM"}})

	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}
	}
	sh := func(name, script string, mounts ...corev1.VolumeMount) corev1.Container {
		return corev1.Container{Name: name, Image: "busybox:1.36", Command: []string{"sh", "-c", script}, VolumeMounts: mounts}
	}
	mnt := func(name, path string, ro bool) corev1.VolumeMount {
		return corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: ro}
	}
	work, mem, sec := filepath.Join(base, "work"), filepath.Join(base, "mem"), filepath.Join(base, "sec")
	volumes := []corev1.Volume{
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db"}}},
		{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: ptr(int64(3607))}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
	}
	saMount := mnt("kube-api-access-x", "/var/run/secrets/kubernetes.io/serviceaccount", true)

	pods := map[string]*corev1.Pod{
		"env": {ObjectMeta: meta("env"), Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{
			Name: "app", Image: "127.0.0.1:5000/testapp:v1", Args: []string{"$(GREETING)", "$$(GREETING)"},
			EnvFrom: []corev1.EnvFromSource{{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}},
			Env: []corev1.EnvVar{
				{Name: "GREETING", Value: "hi-$(DB_user)"},
				{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
		}}}},
		"volumes": {ObjectMeta: meta("volumes"), Spec: corev1.PodSpec{Volumes: volumes,
			InitContainers: []corev1.Container{sh("prep", "echo hello > "+work+"/greeting && echo in-memory > "+mem+"/m && echo prep-done", mnt("work", work, false), mnt("mem", mem, false))},
			Containers: []corev1.Container{sh("main",
				"cat "+work+"/greeting "+mem+"/m "+sec+"/password; echo; "+
					"d=/var/run/secrets/kubernetes.io/serviceaccount; cat $d/token; echo; cat $d/ca.crt; echo; cat $d/namespace; echo; "+
					"grep -c ' "+mem+" .* tmpfs ' /proc/self/mountinfo; "+
					"(echo x > "+sec+"/new) 2>/dev/null || echo read-only; pwd",
				mnt("work", work, false), mnt("mem", mem, false), mnt("sec", sec, true), saMount)},
		}},
		"nonroot": {ObjectMeta: meta("nonroot"), Spec: corev1.PodSpec{Volumes: volumes[:3],
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(1000)), FSGroup: ptr(int64(2000))},
			Containers: []corev1.Container{func() corev1.Container {
				c := sh("main", "id -u; id -g; cat "+sec+"/password; echo; echo x > "+mem+"/f && echo wrote; echo $HOME", mnt("mem", mem, false), mnt("sec", sec, true))
				c.WorkingDir = "/tmp"
				return c
			}()},
		}},
		"exit": {ObjectMeta: meta("exit"), Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "testapp", Env: []corev1.EnvVar{{Name: "TESTAPP_EXIT", Value: "3"}},
		}}}},
		"sleepy": {ObjectMeta: meta("sleepy"), Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "testapp", Env: []corev1.EnvVar{{Name: "TESTAPP_SLEEP", Value: "1h"}, {Name: "MARK", Value: "ready-now"}},
		}}}},
		"shell-sleep": {ObjectMeta: meta("shell-sleep"), Spec: corev1.PodSpec{Containers: []corev1.Container{
			sh("main", "echo started && sleep 10000"),
		}}},
		"init-fails": {ObjectMeta: meta("init-fails"), Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sh("bad", "echo failing; exit 4")},
			Containers:     []corev1.Container{sh("main", "echo main-ran")},
		}},
		"sidecar": {ObjectMeta: meta("sidecar"), Spec: corev1.PodSpec{
			Volumes: volumes[:1],
			InitContainers: []corev1.Container{func() corev1.Container {
				c := sh("side", "echo side-up; touch "+work+"/side-up; sleep 10000", mnt("work", work, false))
				c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
				return c
			}()},
			// The stand-in, like a kubelet without a startup probe, does not
			// wait for the sidecar: the main container does.
			Containers: []corev1.Container{sh("main", "until [ -e "+work+"/side-up ]; do sleep 0.05; done; echo main-ran", mnt("work", work, false))},
		}},
		"vault-env": {ObjectMeta: meta("vault-env"), Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "copy-vault-env", Image: "ghcr.io/vault-secrets-webhook/vault-env:latest", Command: []string{"/usr/local/bin/vault-env", "copy", "/vault/"}}},
			Containers:     []corev1.Container{sh("main", "ls -l /usr/local/bin; test -e /usr/local/bin/vault-env || echo host-view")},
		}},
		"nginx":   {ObjectMeta: meta("nginx"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27", Command: []string{"nginx"}}}}},
		"missing": {ObjectMeta: meta("missing"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "alpine", Command: []string{"no-such-program-xyz"}}}}},
	}
	for name, p := range pods {
		f.add("pods", name, p)
	}

	tests := []struct {
		name        string
		pod         string
		until       string
		timeout     time.Duration
		wantCode    int
		wantOut     []string // lines of stdout, in order
		notOut      []string
		wantErr     []string // substrings of stderr
		maxDuration time.Duration
	}{
		{
			name: "env and args", pod: "env",
			wantOut: []string{"ARG[0]=/usr/local/bin/testapp", "ARG[1]=hi-admin", "ARG[2]=$(GREETING)", "DB_password=pw1", "DB_user=admin", "GREETING=hi-admin", "HOME=/root", "HOSTNAME=env", "KUBERNETES_SERVICE_HOST=127.0.0.1", "MODE=fast", "PATH=" + DefaultPath, "POD=env"},
			notOut:  []string{roleEnv},
		},
		{
			name: "volumes", pod: "volumes",
			wantOut: []string{"hello", "in-memory", "pw1", "jwt-for-volumes", "CA-PEM", "ns", "1", "read-only", "/"},
			wantErr: []string{"[init prep] prep-done"},
		},
		{
			name: "nonroot", pod: "nonroot",
			wantOut: []string{"1000", "1000", "pw1", "wrote", "/"},
		},
		{name: "exit code", pod: "exit", wantCode: 3},
		{name: "until output", pod: "sleepy", until: "MARK=ready", wantCode: 0, wantOut: []string{"MARK=ready-now"}, maxDuration: 20 * time.Second},
		{name: "until output from a shell", pod: "shell-sleep", until: "started", wantCode: 0, wantOut: []string{"started"}, maxDuration: 20 * time.Second},
		{name: "until output never seen", pod: "exit", until: "never-printed", wantCode: 3, wantErr: []string{"without printing"}},
		{name: "timeout", pod: "sleepy", timeout: 2 * time.Second, wantCode: ExitTimeout, wantErr: []string{"timed out"}, maxDuration: 20 * time.Second},
		{name: "init container fails", pod: "init-fails", wantCode: 4, notOut: []string{"main-ran"}, wantErr: []string{"[init bad] failing", "init container bad"}},
		{name: "sidecar stopped at the end", pod: "sidecar", wantOut: []string{"main-ran"}, wantErr: []string{"[sidecar side] side-up"}, maxDuration: 20 * time.Second},
		{name: "vault-env image", pod: "vault-env", wantOut: []string{"host-view"}, wantErr: []string{"[init copy-vault-env] ARG[0]=/usr/local/bin/vault-env", "[init copy-vault-env] ARG[2]=/vault/"}},
		{name: "unknown image", pod: "nginx", wantCode: ExitError, wantErr: []string{`image "nginx:1.27"`}},
		{name: "program not found", pod: "missing", wantCode: ExitNoFile, wantErr: []string{"no-such-program-xyz"}},
		{name: "pod not found", pod: "nope", wantCode: ExitError, wantErr: []string{"failed to get pod ns/nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.options(tt.pod)
			opts.TestApp = testApp
			opts.VaultEnv = testApp // prints its argv: enough to see the mapping
			opts.UntilOutput = tt.until
			if tt.timeout > 0 {
				opts.Timeout = tt.timeout
			}
			start := time.Now()
			code, stdout, stderr := runPod(t, opts)
			took := time.Since(start)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if !containsLinesInOrder(stdout, tt.wantOut) {
				t.Errorf("stdout:\n%s\nwant lines in order: %q\nstderr:\n%s", stdout, tt.wantOut, stderr)
			}
			for _, s := range tt.notOut {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout contains %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, stderr)
				}
			}
			if tt.maxDuration > 0 && took > tt.maxDuration {
				t.Errorf("took %v, want under %v", took, tt.maxDuration)
			}
		})
	}

	t.Run("token request bound to the pod", func(t *testing.T) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var found bool
		for _, tr := range f.tokens {
			ref := tr.Spec.BoundObjectRef
			if ref != nil && ref.Name == "volumes" {
				found = true
				if ref.Kind != "Pod" || ref.UID != "uid-volumes" || len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != "vault" || *tr.Spec.ExpirationSeconds != 3607 {
					t.Errorf("token request = %+v", tr.Spec)
				}
			}
		}
		if !found {
			t.Error("no token request for pod volumes")
		}
	})
	t.Run("host does not see the mounts", func(t *testing.T) {
		mi, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(mi, []byte(base)) {
			t.Errorf("host mountinfo mentions %s", base)
		}
		for _, d := range []string{work, mem, sec} {
			entries, err := os.ReadDir(d)
			if err != nil {
				t.Errorf("mount point %s: %v", d, err)
			} else if len(entries) != 0 {
				t.Errorf("host sees files in %s: %v", d, entries)
			}
		}
	})
}

// containsLinesInOrder reports whether want appear as whole lines of out,
// in that order.
func containsLinesInOrder(out string, want []string) bool {
	lines := strings.Split(out, "\n")
	i := 0
	for _, l := range lines {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	return i == len(want)
}
