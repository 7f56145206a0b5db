package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/scripts/image/oci"
)

// build runs the build command and returns its stdout. Tests that call it
// first t.Chdir to the module root: binaries are built from the checkout.
func build(t *testing.T, out string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), slices.Concat([]string{"build", "-out", out, "-version", "test"}, args), &stdout, &stderr); err != nil {
		t.Fatalf("build %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.String()
}

// TestBuildDeterministic: two builds into different directories print the
// same digests.
func TestBuildDeterministic(t *testing.T) {
	t.Chdir("../..")
	images := []string{"vault-env", "busybox", "pause"}
	a := build(t, filepath.Join(t.TempDir(), "a"), images...)
	b := build(t, filepath.Join(t.TempDir(), "b"), images...)
	digests := func(s string) []string {
		var d []string
		for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
			f := strings.Fields(line)
			d = append(d, f[0]+" "+f[1])
		}
		return d
	}
	if !slices.Equal(digests(a), digests(b)) {
		t.Errorf("two builds differ:\n%s\n%s", a, b)
	}
	if n := len(digests(a)); n != 4 {
		t.Errorf("%d layouts, want 4 (vault-env, alpine, busybox, pause):\n%s", n, a)
	}
}

func readImage(t *testing.T, dir string) (*oci.Layout, *oci.Config, map[string]oci.FileInfo) {
	t.Helper()
	l, c, files, err := oci.ReadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l, c, files
}

// TestProductImages checks what users get: names, nonroot, entrypoint, the
// distroless-equivalent base, no shell, the image-volume path, and an index
// for two platforms.
func TestProductImages(t *testing.T) {
	t.Chdir("../..")
	out := filepath.Join(t.TempDir(), "img")
	build(t, out, "-tag", "v9,latest", "-platform", "linux/amd64,linux/arm64", "vault-env", "vault-secrets-webhook")
	for _, name := range []string{"vault-env", "vault-secrets-webhook"} {
		t.Run(name, func(t *testing.T) {
			l, c, files := readImage(t, filepath.Join(out, name))
			wantNames := []string{"ghcr.io/vault-secrets-webhook/" + name + ":v9", "ghcr.io/vault-secrets-webhook/" + name + ":latest"}
			if !slices.Equal(l.Names, wantNames) {
				t.Errorf("names %v, want %v", l.Names, wantNames)
			}
			if l.Root.MediaType != oci.MediaTypeIndex {
				t.Errorf("two platforms: root %s, want an index", l.Root.MediaType)
			}
			if c.Config.User != "65532:65532" || !slices.Equal(c.Config.Entrypoint, []string{"/usr/local/bin/" + name}) || c.Architecture != "amd64" {
				t.Errorf("config %+v", c)
			}
			if _, ok := c.Config.ExposedPorts["8443/tcp"]; ok != (name == "vault-secrets-webhook") {
				t.Errorf("ExposedPorts %v", c.Config.ExposedPorts)
			}
			if shells := oci.FindShells(files); len(shells) > 0 {
				t.Errorf("shells %v", shells)
			}
			for p, want := range map[string]oci.FileInfo{
				"usr/local/bin/" + name:             {Type: tar.TypeReg, Mode: 0o755},
				"etc/ssl/certs/ca-certificates.crt": {Type: tar.TypeReg, Mode: 0o644},
				"etc/passwd":                        {Type: tar.TypeReg, Mode: 0o644},
				"etc/group":                         {Type: tar.TypeReg, Mode: 0o644},
				"etc/nsswitch.conf":                 {Type: tar.TypeReg, Mode: 0o644},
				"tmp":                               {Type: tar.TypeDir, Mode: 0o1777},
				"home/nonroot":                      {Type: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532},
			} {
				got := files[p]
				got.Size, got.Digest = 0, ""
				if got != want {
					t.Errorf("%s: %+v, want %+v", p, got, want)
				}
			}
			if files["usr/local/bin/"+name].Size < 1<<20 {
				t.Errorf("binary is %d bytes", files["usr/local/bin/"+name].Size)
			}
			link, ok := files[strings.TrimPrefix(VaultEnvVolumePath, "/")]
			if ok != (name == "vault-env") || ok && (link.Type != tar.TypeLink || link.Linkname != "usr/local/bin/vault-env") {
				t.Errorf("%s: %+v, %v", VaultEnvVolumePath, link, ok)
			}
		})
	}
}

func TestTestImages(t *testing.T) {
	t.Chdir("../..")
	out := filepath.Join(t.TempDir(), "img")
	build(t, out, "testapp", "busybox", "pause")
	_, c, files := readImage(t, filepath.Join(out, "alpine"))
	if c.Config.User != "" || !slices.Equal(c.Config.Cmd, []string{"sh"}) {
		t.Errorf("alpine config %+v: want root and CMD sh like alpine's", c.Config)
	}
	for _, a := range append(slices.Clone(requiredApplets), "busybox") {
		found := false
		for p, f := range files {
			if strings.HasSuffix(p, "/"+a) && (f.Type == tar.TypeSymlink && f.Linkname == "/bin/busybox" || p == "bin/busybox") {
				found = true
			}
		}
		if !found {
			t.Errorf("alpine: no %s", a)
		}
	}
	l, c, _ := readImage(t, filepath.Join(out, "testapp"))
	if !slices.Equal(c.Config.Entrypoint, []string{"/usr/local/bin/testapp"}) || len(c.Config.Cmd) != 0 || !slices.Contains(l.Names, "docker.io/library/testapp:latest") {
		t.Errorf("testapp %v %+v", l.Names, c.Config)
	}
	l, c, files = readImage(t, filepath.Join(out, "pause"))
	if !slices.Equal(c.Config.Entrypoint, []string{"/pause"}) || len(files) != 1 || !slices.Contains(l.Names, "registry.k8s.io/pause:3.10") {
		t.Errorf("pause %v %+v %v", l.Names, c.Config, files)
	}
}

func TestCheckShells(t *testing.T) {
	layer, err := oci.BuildLayer([]oci.Entry{{Path: "bin/sh", Kind: oci.File, Mode: 0o755}}, true)
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.NewLayout([]string{"x:1"}, &oci.Image{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}, Layers: []*oci.Layer{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkShells(output{dir: "x", layout: l}); !errors.Is(err, errShell) {
		t.Errorf("bin/sh in a shell-free image: %v", err)
	}
	if err := checkShells(output{dir: "x", layout: l, shell: true}); err != nil {
		t.Errorf("bin/sh in a shell image: %v", err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil, {"frobnicate"}, {"build"}, {"build", "nope"}, {"build", "-platform", "linux/s390x", "vault-env"},
		{"build", "-tag", ",", "vault-env"}, {"push"}, {"push", "-registry", "127.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); !errors.Is(err, errUsage) && !errors.Is(err, oci.ErrInvalidPlatform) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"build", "-out", t.TempDir(), "-platform", "linux/arm64", "busybox"}, &stdout, &stderr)
	if !errors.Is(err, errHostPlatform) {
		t.Errorf("busybox for arm64: %v", err)
	}
}
