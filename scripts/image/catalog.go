package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/scripts/image/oci"
)

// VaultEnvVolumePath is where the vault-env image holds the vault-env binary
// at its root (a hard link to /usr/local/bin/vault-env), so the image
// mounted as a Kubernetes image volume at /vault gives /vault/vault-env.
const VaultEnvVolumePath = "/vault-env"

// VaultEnvVolumeDirs are the directories at the vault-env image's root for
// the webhook's mounts below /vault when the image is the vault-env volume:
// the Vault CA, a token volume, the Vault Agent's files.
var VaultEnvVolumeDirs = []string{"secrets", "tls", "token"}

// Names of the look-alike bases the Dockerfile test builds from. Fixed
// names, so buildah's image history (which records FROM) does not vary.
const (
	DistrolessName = "localhost/vsw-lookalike/distroless-static:nonroot"
	GolangName     = "localhost/vsw-lookalike/golang:local"
)

// output is one layout to write: OUT/dir.
type output struct {
	dir    string
	layout *oci.Layout
	shell  bool // the image is meant to have a shell (busybox, golang)
}

// catalog maps each image name of the command line to its recipe.
var catalog = map[string]func(*builder, context.Context) ([]output, error){
	"vault-secrets-webhook": func(b *builder, ctx context.Context) ([]output, error) {
		return b.product(ctx, "vault-secrets-webhook", "./cmd/vault-secrets-webhook", nil, []string{"8443/tcp"})
	},
	"vault-env": func(b *builder, ctx context.Context) ([]output, error) {
		extra := []oci.Entry{{Path: strings.TrimPrefix(VaultEnvVolumePath, "/"), Kind: oci.Hardlink, Mode: 0o755, Target: "usr/local/bin/vault-env"}}
		// The mount points the webhook uses below /vault, which an image
		// volume (read-only) must already have (admission/imagevolume.go).
		for _, d := range VaultEnvVolumeDirs {
			extra = append(extra, oci.Entry{Path: d, Kind: oci.Dir, Mode: 0o755})
		}
		return b.product(ctx, "vault-env", "./cmd/vault-env", extra, nil)
	},
	"testapp":    (*builder).testapp,
	"mysqllogin": (*builder).mysqllogin,
	"pause":      (*builder).pause,
	"busybox":    (*builder).busyboxImages,
	"distroless": (*builder).distroless,
	"golang":     (*builder).golang,
	"vault":      (*builder).vault,
}

// sandboxImages are what `build sandbox` means.
var sandboxImages = []string{"vault-secrets-webhook", "vault-env", "testapp", "mysqllogin", "pause", "busybox", "vault"}

// defaultPath is the PATH of every image (distroless' and alpine's).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// nonroot is distroless' nonroot user.
const nonroot = "65532:65532"

// builder builds binaries and images for one build command.
type builder struct {
	opts *buildOptions
	bins map[string][]byte // by package and platform
	base []oci.Entry       // the distroless base, read once
}

// product builds a product image: the distroless base plus the binary of
// pkg at /usr/local/bin/NAME as ENTRYPOINT, under REPO/NAME:TAG for each tag.
func (b *builder) product(ctx context.Context, name, pkg string, extra []oci.Entry, ports []string) ([]output, error) {
	var names []string
	for _, t := range b.opts.tags {
		names = append(names, b.opts.repo+"/"+name+":"+t)
	}
	cfg := oci.ContainerConfig{
		User: nonroot, Env: []string{defaultPath}, WorkingDir: "/home/nonroot",
		Entrypoint: []string{"/usr/local/bin/" + name},
	}
	if len(ports) > 0 {
		cfg.ExposedPorts = make(map[string]struct{})
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	l, err := b.goImage(ctx, names, pkg, "usr/local/bin/"+name, extra, cfg, b.opts.platforms)
	if err != nil {
		return nil, err
	}
	return []output{{dir: name, layout: l}}, nil
}

func (b *builder) testapp(ctx context.Context) ([]output, error) {
	return b.testImage(ctx, "testapp", "latest", "1", "canary")
}

// mysqllogin is the application of the daemon-mode e2e test: it logs in to
// a MySQL server repeatedly with the credentials of its environment.
func (b *builder) mysqllogin(ctx context.Context) ([]output, error) {
	return b.testImage(ctx, "mysqllogin", "latest")
}

// testImage is the image docker.io/library/NAME:TAG (each tag) of the test
// program ./e2e/cmd/NAME: the distroless base plus /usr/local/bin/NAME as
// ENTRYPOINT, run as nonroot.
func (b *builder) testImage(ctx context.Context, name string, tags ...string) ([]output, error) {
	cfg := oci.ContainerConfig{User: nonroot, Env: []string{defaultPath}, WorkingDir: "/home/nonroot", Entrypoint: []string{"/usr/local/bin/" + name}}
	var names []string
	for _, t := range tags {
		names = append(names, "docker.io/library/"+name+":"+t)
	}
	l, err := b.goImage(ctx, names, "./e2e/cmd/"+name, "usr/local/bin/"+name, nil, cfg, b.opts.platforms)
	if err != nil {
		return nil, err
	}
	return []output{{dir: name, layout: l}}, nil
}

// pause is the pod sandbox image: only /pause, run as 65535 like
// Kubernetes' own.
func (b *builder) pause(ctx context.Context) ([]output, error) {
	var images []*oci.Image
	for _, p := range b.opts.platforms {
		bin, err := b.goBuild(ctx, "./e2e/cmd/pause", p)
		if err != nil {
			return nil, err
		}
		layer, err := oci.BuildLayer([]oci.Entry{{Path: "pause", Kind: oci.File, Mode: 0o755, Data: bin}}, true)
		if err != nil {
			return nil, err
		}
		images = append(images, &oci.Image{
			Platform: p, Layers: []*oci.Layer{layer}, History: []string{"scripts/image: /pause (e2e/cmd/pause)"},
			Config: oci.ContainerConfig{User: "65535:65535", Entrypoint: []string{"/pause"}},
		})
	}
	l, err := oci.NewLayout([]string{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10.1"}, images...)
	if err != nil {
		return nil, err
	}
	return []output{{dir: "pause", layout: l}}, nil
}

// goImage is the distroless base plus one Go binary at binPath (and extra
// entries), one image per platform.
func (b *builder) goImage(ctx context.Context, names []string, pkg, binPath string, extra []oci.Entry, cfg oci.ContainerConfig, platforms []oci.Platform) (*oci.Layout, error) {
	base, err := b.distrolessEntries()
	if err != nil {
		return nil, err
	}
	var images []*oci.Image
	for _, p := range platforms {
		bin, err := b.goBuild(ctx, pkg, p)
		if err != nil {
			return nil, err
		}
		entries := slices.Concat(base, []oci.Entry{{Path: binPath, Kind: oci.File, Mode: 0o755, Data: bin}}, extra)
		layer, err := oci.BuildLayer(entries, true)
		if err != nil {
			return nil, err
		}
		images = append(images, &oci.Image{
			Platform: p, Layers: []*oci.Layer{layer}, Config: cfg,
			History: []string{"scripts/image: distroless-equivalent base + /" + binPath + " (" + pkg + ")"},
		})
	}
	return oci.NewLayout(names, images...)
}

// errHostPlatform is returned when an image made of host files is asked for
// another platform.
var errHostPlatform = errors.New("image is made of this machine's files")

// hostOnly fails unless the only platform asked for is this machine's.
func (b *builder) hostOnly(image string) (oci.Platform, error) {
	if len(b.opts.platforms) != 1 || b.opts.platforms[0].Architecture != runtime.GOARCH {
		return oci.Platform{}, fmt.Errorf("%w: %s can only be built for linux/%s", errHostPlatform, image, runtime.GOARCH)
	}
	return b.opts.platforms[0], nil
}

// goBuild builds pkg of the checkout in the current directory for p with
// the project's reproducible flags (cached per build command).
func (b *builder) goBuild(ctx context.Context, pkg string, p oci.Platform) ([]byte, error) {
	key := pkg + " " + p.String()
	if bin, ok := b.bins[key]; ok {
		return bin, nil
	}
	tmp, err := os.MkdirTemp("", "image-build-")
	if err != nil {
		return nil, fmt.Errorf("failed to create build directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.version="+b.opts.version, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("failed to build %s for %s: %w\n%s", pkg, p, err, stderr.Bytes())
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("failed to read built %s: %w", pkg, err)
	}
	b.bins[key] = bin
	return bin, nil
}

// goEnv returns `go env NAME`.
func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("failed to run go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}
