// Command image builds this project's container images as OCI image
// layouts, with no container engine and no registry, and pushes layouts to a
// registry over plain HTTP. Builds are deterministic: the same checkout, Go
// toolchain and host files (CA bundle, busybox) give the same digests.
//
//	go run ./scripts/image build [flags] IMAGE...   write OUT/NAME/ layouts, print "NAME DIGEST DIR"
//	go run ./scripts/image push --registry HOST:PORT DIR...
//
// IMAGE is one of (see catalog.go):
//
//	vault-secrets-webhook  REPO/vault-secrets-webhook:TAG, EXPOSE 8443
//	vault-env              REPO/vault-env:TAG, also usable as an image volume (/vault-env)
//	testapp                docker.io/library/testapp:{latest,1,canary} (e2e/cmd/testapp)
//	mysqllogin             docker.io/library/mysqllogin:latest (e2e/cmd/mysqllogin)
//	pause                  registry.k8s.io/pause:{3.10,3.10.1} (e2e/cmd/pause)
//	busybox                docker.io/library/busybox:{latest,1.36} and
//	                       docker.io/library/alpine:{latest,3,3.20} (two layouts)
//	distroless             localhost/vsw-lookalike/distroless-static:nonroot
//	golang                 localhost/vsw-lookalike/golang:local (busybox + this Go toolchain)
//	vault                  docker.io/hashicorp/vault:{latest,VERSION} look-alike: busybox + the
//	                       sandbox's vault binary at /bin/vault (scripts/tools.sh path vault),
//	                       for the Vault Agent containers
//	sandbox                the seven images the sandbox's node runs: vault-secrets-webhook,
//	                       vault-env, testapp, mysqllogin, pause, busybox, vault
//
// The first two are the product images; the others exist for the sandbox
// and the tests only. Every image but busybox and golang is shell-free, and
// build fails if one is not. Binaries are built from the checkout in the
// current directory with the project's reproducible flags:
// CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags '-s -w -buildid= -X main.version=VERSION'.
//
// Push uploads each layout's blobs (HEAD, then monolithic POST+PUT), puts its
// manifest (or index) under every name the layout carries, with the
// registry host dropped ("ghcr.io/x/y:v1" goes to HOST:PORT/x/y:v1, "alpine:3"
// to HOST:PORT/library/alpine:3: the paths containerd asks a hosts.toml
// mirror for), reads each tag back and fails unless the digest matches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/scripts/image/oci"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// errUsage is returned for a malformed command line.
var errUsage = errors.New("usage: image build [flags] IMAGE... | image push --registry HOST:PORT DIR...")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "build":
		opts, images, err := parseBuild(args[1:], stderr)
		if err != nil {
			return err
		}
		return buildAll(ctx, opts, images, stdout, stderr)
	case "push":
		return push(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// buildOptions are the build command's settings.
type buildOptions struct {
	out       string
	version   string
	repo      string
	tags      []string
	platforms []oci.Platform
	caBundle  string
	busybox   string
	vault     string
	goroot    string
	goproxy   string
	gosumdb   string
}

func parseBuild(args []string, stderr io.Writer) (*buildOptions, []string, error) {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &buildOptions{}
	var tags, platforms string
	fs.StringVar(&o.out, "out", "bin/images", "directory of the layouts (OUT/NAME/)")
	fs.StringVar(&o.version, "version", "devel", "main.version of the binaries")
	fs.StringVar(&o.repo, "repo", "ghcr.io/vault-secrets-webhook", "repository prefix of the product images")
	fs.StringVar(&tags, "tag", "latest", "comma-separated tags of the product images")
	fs.StringVar(&platforms, "platform", "linux/amd64", "comma-separated platforms (linux/amd64, linux/arm64); several make an image index")
	fs.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle for /etc/ssl/certs (Debian's ca-certificates, installed by scripts/tools.sh)")
	fs.StringVar(&o.busybox, "busybox", "/bin/busybox", "static busybox for the busybox and golang images (Debian's busybox-static)")
	fs.StringVar(&o.vault, "vault", "", "vault binary for the vault image (default: scripts/tools.sh path vault)")
	fs.StringVar(&o.goroot, "goroot", "", "Go toolchain for the golang image (default: go env GOROOT)")
	fs.StringVar(&o.goproxy, "goproxy", "", "GOPROXY of the golang image (default: go env GOPROXY)")
	fs.StringVar(&o.gosumdb, "gosumdb", "", "GOSUMDB of the golang image (default: go env GOSUMDB)")
	if err := fs.Parse(args); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() == 0 {
		return nil, nil, fmt.Errorf("%w: name at least one image", errUsage)
	}
	for _, t := range strings.Split(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.tags = append(o.tags, t)
		}
	}
	if len(o.tags) == 0 {
		return nil, nil, fmt.Errorf("%w: -tag is empty", errUsage)
	}
	for _, s := range strings.Split(platforms, ",") {
		p, err := oci.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return nil, nil, fmt.Errorf("failed to parse -platform: %w", err)
		}
		o.platforms = append(o.platforms, p)
	}
	var images []string
	for _, name := range fs.Args() {
		if name == "sandbox" {
			images = append(images, sandboxImages...)
			continue
		}
		if _, ok := catalog[name]; !ok {
			return nil, nil, fmt.Errorf("%w: unknown image %q", errUsage, name)
		}
		images = append(images, name)
	}
	return o, images, nil
}

func buildAll(ctx context.Context, o *buildOptions, images []string, stdout, stderr io.Writer) error {
	b := &builder{opts: o, bins: make(map[string][]byte)}
	for _, name := range images {
		start := time.Now()
		outs, err := catalog[name](b, ctx)
		if err != nil {
			return fmt.Errorf("failed to build image %s: %w", name, err)
		}
		for _, out := range outs {
			if err := checkShells(out); err != nil {
				return err
			}
			dir := filepath.Join(o.out, out.dir)
			if err := out.layout.Write(dir); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-22s %s %s\n", out.dir, out.layout.Root.Digest, dir)
		}
		fmt.Fprintf(stderr, "image: %s built in %.1fs\n", name, time.Since(start).Seconds())
	}
	return nil
}

// checkShells fails unless an image meant to be shell-free is.
func checkShells(out output) error {
	if out.shell {
		return nil
	}
	_, ms, err := out.layout.Manifests()
	if err != nil {
		return err
	}
	for _, m := range ms {
		files, err := out.layout.Files(m)
		if err != nil {
			return err
		}
		if found := oci.FindShells(files); len(found) > 0 {
			return fmt.Errorf("%w: image %s must have no shell, has %v", errShell, out.dir, found)
		}
	}
	return nil
}

var errShell = errors.New("shell in a shell-free image")

func push(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry := fs.String("registry", "", "registry HOST:PORT (plain HTTP)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *registry == "" || fs.NArg() == 0 {
		return fmt.Errorf("%w: need -registry and at least one layout directory", errUsage)
	}
	p := &oci.Pusher{Client: &http.Client{Timeout: 2 * time.Minute}, Registry: *registry}
	for _, dir := range fs.Args() {
		start := time.Now()
		l, err := oci.ReadLayout(dir)
		if err != nil {
			return err
		}
		d, err := p.Push(ctx, l)
		if err != nil {
			return fmt.Errorf("failed to push %s: %w", dir, err)
		}
		for _, n := range l.Names {
			repo, tag, _ := oci.Repository(n)
			fmt.Fprintf(stdout, "%s/%s:%s@%s\n", *registry, repo, tag, d)
		}
		fmt.Fprintf(stderr, "image: pushed %s in %.1fs\n", dir, time.Since(start).Seconds())
	}
	return nil
}
