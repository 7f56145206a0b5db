package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/scripts/image/oci"
)

// The distroless-equivalent base (gcr.io/distroless/static-debian12:nonroot
// in the files that matter): users root and nonroot, nsswitch, Debian's CA
// bundle, /tmp 1777, /home/nonroot 0700 owned by nonroot. No shell.
const (
	passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`
	group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`
	nsswitch = `passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
`
)

// distrolessEntries returns the base's files (the CA bundle read from the
// host: Debian's ca-certificates package, which scripts/tools.sh installs;
// two machines give the same digest when they have the same version).
func (b *builder) distrolessEntries() ([]oci.Entry, error) {
	if b.base != nil {
		return b.base, nil
	}
	ca, err := os.ReadFile(b.opts.caBundle)
	if err != nil {
		return nil, fmt.Errorf("failed to read CA bundle: %w", err)
	}
	b.base = []oci.Entry{
		{Path: "etc/passwd", Kind: oci.File, Mode: 0o644, Data: []byte(passwd)},
		{Path: "etc/group", Kind: oci.File, Mode: 0o644, Data: []byte(group)},
		{Path: "etc/nsswitch.conf", Kind: oci.File, Mode: 0o644, Data: []byte(nsswitch)},
		{Path: "etc/ssl/certs/ca-certificates.crt", Kind: oci.File, Mode: 0o644, Data: ca},
		{Path: "home/nonroot", Kind: oci.Dir, Mode: 0o700, UID: 65532, GID: 65532},
		{Path: "root", Kind: oci.Dir, Mode: 0o700},
		{Path: "tmp", Kind: oci.Dir, Mode: 0o777 | fs.ModeSticky},
		{Path: "usr/local/bin", Kind: oci.Dir, Mode: 0o755},
	}
	return b.base, nil
}

// distroless is the base alone, as the Dockerfile test's RUNTIME_IMAGE.
func (b *builder) distroless(ctx context.Context) ([]output, error) {
	base, err := b.distrolessEntries()
	if err != nil {
		return nil, err
	}
	var images []*oci.Image
	for _, p := range b.opts.platforms {
		layer, err := oci.BuildLayer(base, true)
		if err != nil {
			return nil, err
		}
		images = append(images, &oci.Image{
			Platform: p, Layers: []*oci.Layer{layer}, History: []string{"scripts/image: distroless-equivalent base"},
			Config: oci.ContainerConfig{User: nonroot, Env: []string{defaultPath}, WorkingDir: "/home/nonroot"},
		})
	}
	l, err := oci.NewLayout([]string{DistrolessName}, images...)
	if err != nil {
		return nil, err
	}
	return []output{{dir: "distroless", layout: l}}, nil
}

// requiredApplets must be in the busybox image (tests and the walkthrough
// use them; Debian's busybox-static has no printenv: use env); the image
// has a symlink for every applet `busybox --list-full` names.
var requiredApplets = []string{"sh", "cat", "echo", "env", "sleep", "ls", "grep", "id", "wget",
	"head", "tail", "true", "false", "test", "tr", "sed", "awk"}

var errApplet = errors.New("busybox lacks an applet")

// busyboxEntries are the base plus /bin/busybox and a symlink to it for
// each applet, at the path `busybox --list-full` gives.
func (b *builder) busyboxEntries(ctx context.Context) ([]oci.Entry, error) {
	base, err := b.distrolessEntries()
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(b.opts.busybox)
	if err != nil {
		return nil, fmt.Errorf("failed to read busybox: %w", err)
	}
	out, err := exec.CommandContext(ctx, b.opts.busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("failed to list busybox applets: %w", err)
	}
	entries := slices.Concat(base, []oci.Entry{{Path: "bin/busybox", Kind: oci.File, Mode: 0o755, Data: bin}})
	var applets []string
	for _, p := range strings.Fields(string(out)) {
		// Applets at their usual paths (bin/sh, usr/bin/env, ...); linuxrc
		// (top level) is for initramfs only.
		if p != "bin/busybox" && strings.Contains(p, "/") {
			entries = append(entries, oci.Entry{Path: p, Kind: oci.Symlink, Mode: 0o777, Target: "/bin/busybox"})
			applets = append(applets, path.Base(p))
		}
	}
	for _, a := range requiredApplets {
		if !slices.Contains(applets, a) {
			return nil, fmt.Errorf("%w: %s has no %s", errApplet, b.opts.busybox, a)
		}
	}
	return entries, nil
}

// busyboxImages is the test image for alpine and busybox: root user like
// theirs, CMD sh.
func (b *builder) busyboxImages(ctx context.Context) ([]output, error) {
	p, err := b.hostOnly("busybox")
	if err != nil {
		return nil, err
	}
	entries, err := b.busyboxEntries(ctx)
	if err != nil {
		return nil, err
	}
	layer, err := oci.BuildLayer(entries, true)
	if err != nil {
		return nil, err
	}
	img := &oci.Image{
		Platform: p, Layers: []*oci.Layer{layer}, History: []string{"scripts/image: distroless-equivalent base + Debian's busybox-static"},
		Config: oci.ContainerConfig{Env: []string{defaultPath}, Cmd: []string{"sh"}},
	}
	var outs []output
	for dir, names := range map[string][]string{
		"busybox": {"docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"},
		"alpine":  {"docker.io/library/alpine:latest", "docker.io/library/alpine:3", "docker.io/library/alpine:3.20"},
	} {
		l, err := oci.NewLayout(names, img)
		if err != nil {
			return nil, err
		}
		outs = append(outs, output{dir: dir, layout: l, shell: true})
	}
	slices.SortFunc(outs, func(a, b output) int { return strings.Compare(a.dir, b.dir) })
	return outs, nil
}

// golang is the Dockerfile test's GO_IMAGE: busybox plus this machine's Go
// toolchain at /usr/local/go (without its tests and docs), GOPATH /go,
// GOTOOLCHAIN=local, GOPROXY and GOSUMDB as given. Its one layer is
// uncompressed: it is big and never leaves the machine.
func (b *builder) golang(ctx context.Context) ([]output, error) {
	p, err := b.hostOnly("golang")
	if err != nil {
		return nil, err
	}
	entries, err := b.busyboxEntries(ctx)
	if err != nil {
		return nil, err
	}
	goroot, goproxy, gosumdb := b.opts.goroot, b.opts.goproxy, b.opts.gosumdb
	for _, v := range []struct {
		s    *string
		name string
	}{{&goroot, "GOROOT"}, {&goproxy, "GOPROXY"}, {&gosumdb, "GOSUMDB"}} {
		if *v.s == "" {
			if *v.s, err = goEnv(ctx, v.name); err != nil {
				return nil, err
			}
		}
	}
	tree, err := treeEntries(goroot, "usr/local/go", func(rel string, d fs.DirEntry) bool {
		top, _, _ := strings.Cut(rel, "/")
		return slices.Contains([]string{"api", "doc", "misc", "test"}, top) ||
			d.Name() == "testdata" || strings.HasSuffix(d.Name(), "_test.go")
	})
	if err != nil {
		return nil, err
	}
	version, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return nil, fmt.Errorf("failed to read Go version: %w", err)
	}
	goVersion, _, _ := strings.Cut(strings.TrimPrefix(string(version), "go"), "\n")
	entries = slices.Concat(entries, tree, []oci.Entry{
		{Path: "go", Kind: oci.Dir, Mode: 0o777 | fs.ModeSticky},
		{Path: "go/bin", Kind: oci.Dir, Mode: 0o777 | fs.ModeSticky},
		{Path: "go/src", Kind: oci.Dir, Mode: 0o777 | fs.ModeSticky},
	})
	layer, err := oci.BuildLayer(entries, false)
	if err != nil {
		return nil, err
	}
	img := &oci.Image{
		Platform: p, Layers: []*oci.Layer{layer}, History: []string{"scripts/image: busybox + the host's Go toolchain"},
		Config: oci.ContainerConfig{
			Env: []string{"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"GOLANG_VERSION=" + goVersion, "GOPATH=/go", "GOTOOLCHAIN=local", "GOPROXY=" + goproxy, "GOSUMDB=" + gosumdb},
			WorkingDir: "/go", Cmd: []string{"sh"},
		},
	}
	l, err := oci.NewLayout([]string{GolangName}, img)
	if err != nil {
		return nil, err
	}
	return []output{{dir: "golang", layout: l, shell: true}}, nil
}

// treeEntries returns the files under root as entries under prefix, owned
// by root, with their permission bits; skip(rel, d) leaves out a file or a
// whole directory.
func treeEntries(root, prefix string, skip func(rel string, d fs.DirEntry) bool) ([]oci.Entry, error) {
	var entries []oci.Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := oci.Entry{Path: prefix + "/" + rel, Mode: info.Mode().Perm()}
		switch {
		case d.IsDir():
			e.Kind = oci.Dir
		case info.Mode()&fs.ModeSymlink != 0:
			e.Kind, e.Mode = oci.Symlink, 0o777
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			e.Kind = oci.File
			if e.Data, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", root, err)
	}
	return entries, nil
}

// vault is a look-alike of docker.io/hashicorp/vault (alpine with /bin/vault)
// for the Vault Agent containers the webhook injects: busybox plus the
// sandbox's vault binary, tagged latest and its version. Its one layer is
// uncompressed (the binary is ~360 MB and never leaves the machine).
func (b *builder) vault(ctx context.Context) ([]output, error) {
	p, err := b.hostOnly("vault")
	if err != nil {
		return nil, err
	}
	bin := b.opts.vault
	if bin == "" {
		out, err := exec.CommandContext(ctx, "scripts/tools.sh", "path", "vault").Output()
		if err != nil {
			return nil, fmt.Errorf("failed to find the vault binary (scripts/tools.sh path vault): %w", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("failed to read vault binary: %w", err)
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return nil, fmt.Errorf("failed to run %s version: %w", bin, err)
	}
	// "Vault v1.21.1 (...), built ..." -> 1.21.1
	fields := strings.Fields(string(out))
	if len(fields) < 2 || !strings.HasPrefix(fields[1], "v") {
		return nil, fmt.Errorf("failed to read the vault version from %q", out)
	}
	version := strings.TrimRight(strings.TrimPrefix(fields[1], "v"), ",")
	entries, err := b.busyboxEntries(ctx)
	if err != nil {
		return nil, err
	}
	entries = append(entries, oci.Entry{Path: "bin/vault", Kind: oci.File, Mode: 0o755, Data: data})
	layer, err := oci.BuildLayer(entries, false)
	if err != nil {
		return nil, err
	}
	img := &oci.Image{
		Platform: p, Layers: []*oci.Layer{layer}, History: []string{"scripts/image: busybox + the sandbox's vault " + version},
		Config: oci.ContainerConfig{Env: []string{defaultPath}, Entrypoint: []string{"/bin/vault"}, Cmd: []string{"version"}},
	}
	l, err := oci.NewLayout([]string{"docker.io/hashicorp/vault:latest", "docker.io/hashicorp/vault:" + version}, img)
	if err != nil {
		return nil, err
	}
	return []output{{dir: "vault", layout: l, shell: true}}, nil
}
