package oci

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale (go test -update rewrites it):\ngot  %s\nwant %s", p, got, want)
	}
}

func testImage(t *testing.T, p Platform) *Image {
	t.Helper()
	l, err := BuildLayer(testEntries(), true)
	if err != nil {
		t.Fatal(err)
	}
	return &Image{
		Platform: p, Layers: []*Layer{l}, History: []string{"test layer"},
		Config: ContainerConfig{
			User: "65532:65532", Env: []string{"PATH=/usr/local/bin:/bin"},
			Entrypoint: []string{"/usr/local/bin/app"}, Cmd: []string{"--flag"},
			WorkingDir: "/home/nonroot", ExposedPorts: map[string]struct{}{"8443/tcp": {}},
		},
	}
}

var amd64 = Platform{OS: "linux", Architecture: "amd64"}

func TestGoldenDocuments(t *testing.T) {
	l, err := NewLayout([]string{"ghcr.io/x/app:v1"}, testImage(t, amd64))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := l.decode(l.Root.Digest, &m); err != nil {
		t.Fatal(err)
	}
	golden(t, "config.json", l.Blobs[m.Config.Digest])
	golden(t, "manifest.json", l.Blobs[l.Root.Digest])
	if l.Root.MediaType != MediaTypeManifest || l.Root.Platform != nil {
		t.Errorf("one platform: root %+v, want a manifest without platform", l.Root)
	}
}

func TestNewLayoutIndex(t *testing.T) {
	arm64, err := ParsePlatform("linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLayout([]string{"ghcr.io/x/app:v1"}, testImage(t, amd64), testImage(t, arm64))
	if err != nil {
		t.Fatal(err)
	}
	if l.Root.MediaType != MediaTypeIndex {
		t.Fatalf("two platforms: root is %s, want an index", l.Root.MediaType)
	}
	descs, ms, err := l.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || descs[0].Platform.String() != "linux/amd64" || descs[1].Platform.String() != "linux/arm64/v8" {
		t.Fatalf("index: %+v", descs)
	}
	for i, want := range []string{"amd64", "arm64"} {
		c, err := l.Config(ms[i])
		if err != nil {
			t.Fatal(err)
		}
		if c.Architecture != want {
			t.Errorf("manifest %d: architecture %s, want %s", i, c.Architecture, want)
		}
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	names := []string{"ghcr.io/x/app:v1", "ghcr.io/x/app:latest"}
	l, err := NewLayout(names, testImage(t, amd64))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "app")
	if err := l.Write(dir); err != nil {
		t.Fatal(err)
	}
	// A second write replaces the first.
	if err := l.Write(dir); err != nil {
		t.Fatal(err)
	}
	r, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Root.Digest != l.Root.Digest || !slices.Equal(r.Names, names) {
		t.Errorf("read back root %s names %v, want %s %v", r.Root.Digest, r.Names, l.Root.Digest, names)
	}
	_, ms, err := r.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.Files(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	if f := files["home/nonroot"]; f.Type != tar.TypeDir || f.UID != 65532 || f.Mode != 0o700 {
		t.Errorf("home/nonroot: %+v", f)
	}
	if got := FindShells(files); len(got) != 0 {
		t.Errorf("shells %v in an image without one", got)
	}
	// A corrupted blob is refused.
	blob := filepath.Join(dir, "blobs", "sha256", ms[0].Layers[0].Digest[len("sha256:"):])
	if err := os.WriteFile(blob, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLayout(dir); !errors.Is(err, ErrInvalidLayout) {
		t.Errorf("corrupt blob: got %v, want ErrInvalidLayout", err)
	}
}

func TestFilesWhiteoutsAndShells(t *testing.T) {
	lower, err := BuildLayer([]Entry{
		{Path: "bin/sh", Kind: Symlink, Mode: 0o777, Target: "busybox"},
		{Path: "bin/busybox", Kind: File, Mode: 0o755},
		{Path: "opt/a/x", Kind: File, Mode: 0o644},
		{Path: "usr/bin/bash", Kind: File, Mode: 0o755},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	upper, err := BuildLayer([]Entry{
		{Path: "bin/.wh.sh", Kind: File},
		{Path: "opt/a/.wh..wh..opq", Kind: File},
		{Path: "opt/a/y", Kind: File},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	img := &Image{Platform: amd64, Layers: []*Layer{lower, upper}}
	l, err := NewLayout([]string{"x:1"}, img)
	if err != nil {
		t.Fatal(err)
	}
	_, ms, err := l.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	files, err := l.Files(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["bin/sh"]; ok {
		t.Error("bin/sh survives its whiteout")
	}
	if _, ok := files["opt/a/x"]; ok {
		t.Error("opt/a/x survives the opaque whiteout")
	}
	if _, ok := files["opt/a/y"]; !ok {
		t.Error("opt/a/y is missing")
	}
	if got, want := FindShells(files), []string{"bin/busybox", "usr/bin/bash"}; !slices.Equal(got, want) {
		t.Errorf("shells %v, want %v", got, want)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name, repo, tag string
		ok              bool
	}{
		{"ghcr.io/vault-secrets-webhook/vault-env:latest", "vault-secrets-webhook/vault-env", "latest", true},
		{"docker.io/library/alpine:3.20", "library/alpine", "3.20", true},
		{"alpine:3", "library/alpine", "3", true},
		{"someone/app:1", "someone/app", "1", true},
		{"registry.k8s.io/pause:3.10", "pause", "3.10", true},
		{"localhost/vsw-lookalike/golang:local", "vsw-lookalike/golang", "local", true},
		{"127.0.0.1:5000/e2e/testapp:v1", "e2e/testapp", "v1", true},
		{"127.0.0.1:5000/e2e/testapp", "", "", false},
		{"alpine", "", "", false},
		{"alpine:", "", "", false},
		{"alpine@sha256:00", "", "", false},
	}
	for _, tt := range tests {
		repo, tag, err := Repository(tt.name)
		if (err == nil) != tt.ok || repo != tt.repo || tag != tt.tag {
			t.Errorf("Repository(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.name, repo, tag, err, tt.repo, tt.tag, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("Repository(%q): error %v is not ErrInvalidName", tt.name, err)
		}
	}
	if _, err := NewLayout([]string{"alpine"}, testImage(t, amd64)); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NewLayout with an untagged name: %v", err)
	}
	if _, err := ParsePlatform("windows/amd64"); !errors.Is(err, ErrInvalidPlatform) {
		t.Errorf("ParsePlatform(windows/amd64): %v", err)
	}
}
