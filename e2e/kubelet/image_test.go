package kubelet

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestClassifyImage(t *testing.T) {
	tests := []struct {
		image string
		repo  string
		kind  ImageKind
		ok    bool
	}{
		{"ghcr.io/vault-secrets-webhook/vault-env:latest", "vault-env", ImageVaultEnv, true},
		{"vault-env", "vault-env", ImageVaultEnv, true},
		{"alpine", "alpine", ImageShell, true},
		{"docker.io/library/alpine:3.20", "alpine", ImageShell, true},
		{"busybox@sha256:0123", "busybox", ImageShell, true},
		{"127.0.0.1:5000/testapp", "testapp", ImageTestApp, true},
		{"127.0.0.1:5000/e2e/testapp:v1@sha256:ab", "testapp", ImageTestApp, true},
		{"nginx:1.27", "nginx", 0, false},
		{"registry:5000/alpine-extra", "alpine-extra", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if r := Repository(tt.image); r != tt.repo {
				t.Errorf("Repository = %q, want %q", r, tt.repo)
			}
			kind, err := ClassifyImage(tt.image)
			if (err == nil) != tt.ok || kind != tt.kind {
				t.Errorf("ClassifyImage = %v, %v; want %v ok=%v", kind, err, tt.kind, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tt.image) {
				t.Errorf("error does not name the image: %v", err)
			}
		})
	}
}

func TestArgv(t *testing.T) {
	env := map[string]string{"GREETING": "hi", "DIR": "/vault/"}
	tests := []struct {
		name    string
		c       corev1.Container
		want    []string
		wantErr string
	}{
		{
			name: "shell command and args expanded",
			c:    corev1.Container{Image: "alpine", Command: []string{"sh", "-c"}, Args: []string{"echo $(GREETING) $$(GREETING) $HOME $(NOPE)"}},
			want: []string{"sh", "-c", "echo hi $(GREETING) $HOME $(NOPE)"},
		},
		{
			name:    "shell without command",
			c:       corev1.Container{Name: "app", Image: "alpine:3", Args: []string{"echo"}},
			wantErr: "does not know the ENTRYPOINT of image alpine:3",
		},
		{
			name: "vault-env argv0 replaced",
			c:    corev1.Container{Image: "ghcr.io/vault-secrets-webhook/vault-env:latest", Command: []string{"/usr/local/bin/vault-env", "copy", "$(DIR)"}},
			want: []string{VaultEnvPath, "copy", "/vault/"},
		},
		{
			name: "vault-env argv0 replaced whatever it is",
			c:    corev1.Container{Image: "vault-env", Command: []string{"vault-env"}},
			want: []string{VaultEnvPath},
		},
		{
			name:    "vault-env without command",
			c:       corev1.Container{Image: "vault-env", Args: []string{"copy"}},
			wantErr: "does not know the ENTRYPOINT",
		},
		{
			name: "testapp entrypoint with args",
			c:    corev1.Container{Image: "testapp", Args: []string{"a", "$(GREETING)"}},
			want: []string{TestAppPath, "a", "hi"},
		},
		{
			name: "testapp named in command",
			c:    corev1.Container{Image: "testapp", Command: []string{"testapp", "x"}},
			want: []string{TestAppPath, "x"},
		},
		{
			name: "testapp wrapped by vault-env",
			c:    corev1.Container{Image: "testapp", Command: []string{"/vault/vault-env"}, Args: []string{"/usr/local/bin/testapp", "x"}},
			want: []string{"/vault/vault-env", "/usr/local/bin/testapp", "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, err := ClassifyImage(tt.c.Image)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Argv(&tt.c, kind, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
				t.Errorf("argv = %q, want %q", got, tt.want)
			}
		})
	}
}
