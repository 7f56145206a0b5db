package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/scripts/image/oci"
)

// TestDockerfileBuilds keeps the Dockerfile from rotting: `make image`
// builds the images with scripts/image, so this builds the Dockerfile,
// unchanged, with buildah (no daemon) from local look-alikes of its two
// base images, written by scripts/image under fixed names:
//
//   - GO_IMAGE: busybox + this machine's Go toolchain (GOTOOLCHAIN=local),
//     with GOPROXY=file:///goproxy, the host's module download cache
//     bind-mounted read-only (so `go mod download` needs no network), and
//     the host's Go build cache mounted for speed (the output does not
//     depend on it: the builds are reproducible);
//   - RUNTIME_IMAGE: the distroless-equivalent base.
//
// It asserts each image runs as 65532, has its binary as ENTRYPOINT, has no
// shell, and that the binary is bit-identical to the one scripts/image puts
// in the image of the same name (so both paths build the same program).
// buildah's storage lives in the test's temp dir and is removed; the test
// fails if it leaves a mount behind. Runs when VSW_E2E_REQUIRED=1 (it needs
// root, buildah, skopeo and runc: scripts/tools.sh installs them).
func TestDockerfileBuilds(t *testing.T) {
	if os.Getenv("VSW_E2E_REQUIRED") != "1" {
		t.Skip("builds the Dockerfile with buildah (a few minutes): set VSW_E2E_REQUIRED=1")
	}
	const runc = "/usr/sbin/runc"
	for _, tool := range []string{"buildah", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/tools.sh apt installs it): %v", tool, err)
		}
	}
	if _, err := os.Stat(runc); err != nil {
		t.Fatalf("runc is needed (scripts/tools.sh apt installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	start := time.Now()
	step := func(what string, t0 time.Time) { t.Logf("%s: %.1fs", what, time.Since(t0).Seconds()) }
	run := func(dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, stdout.Bytes(), lastLines(stderr.String(), 40))
		}
		return stdout.String()
	}
	goEnv := func(name string) string { return strings.TrimSpace(run(root, "go", "env", name)) }
	gomodcache, gocache := goEnv("GOMODCACHE"), goEnv("GOCACHE")

	// The file:// proxy serves the host's download cache: make sure it has
	// every .mod file of the module graph (a no-op when it does).
	t0 := time.Now()
	run(root, "go", "mod", "download")
	const version = "dockerfile-test"
	run(root, "go", "run", "./scripts/image", "build", "-out", filepath.Join(tmp, "bases"),
		"-goproxy", "file:///goproxy", "-gosumdb", "off", "distroless", "golang")
	run(root, "go", "run", "./scripts/image", "build", "-out", filepath.Join(tmp, "ours"), "-version", version,
		"vault-secrets-webhook", "vault-env")
	step("look-alike bases and scripts/image images", t0)

	storage := []string{"--root", filepath.Join(tmp, "storage"), "--runroot", filepath.Join(tmp, "runroot"), "--storage-driver", "overlay"}
	// buildah's network library keeps a lock file in its CNI config
	// directory (/etc/cni/net.d by default) even for --network host: point
	// it into the temp dir, so the host is left as it was.
	conf := filepath.Join(tmp, "containers.conf")
	if err := os.WriteFile(conf, []byte("[network]\nnetwork_backend = \"cni\"\nnetwork_config_dir = \""+filepath.Join(tmp, "cni")+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_CONF", conf)
	buildah := func(args ...string) string {
		t.Helper()
		return run(root, "buildah", append(slices.Clone(storage), args...)...)
	}
	t.Cleanup(func() {
		// Containers, images, then mounts: nothing may stay behind.
		for _, args := range [][]string{{"rm", "--all"}, {"rmi", "--all", "--force"}} {
			cmd := exec.Command("buildah", append(slices.Clone(storage), args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("buildah %v: %v\n%s", args, err, out)
			}
		}
		if m := mountsUnder(t, tmp); len(m) > 0 {
			t.Errorf("buildah left mounts under %s: %v", tmp, m)
		}
	})
	t0 = time.Now()
	for dir, name := range map[string]string{"golang": "localhost/vsw-lookalike/golang:local", "distroless": "localhost/vsw-lookalike/distroless-static:nonroot"} {
		// skopeo, not buildah pull: buildah would name the image after the
		// layout's path (which may have upper case) before it can be tagged.
		_, tag, _ := strings.Cut(name, ":")
		run(root, "skopeo", "copy", "--quiet", "oci:"+filepath.Join(tmp, "bases", dir)+":"+tag,
			"containers-storage:[overlay@"+filepath.Join(tmp, "storage")+"+"+filepath.Join(tmp, "runroot")+"]"+name)
	}
	step("load the bases into buildah storage", t0)

	for _, target := range []string{"vault-secrets-webhook", "vault-env"} {
		t0 := time.Now()
		image := "localhost/dockerfile-test/" + target + ":test"
		buildah("bud", "--runtime", runc, "--network", "host", "--timestamp", "0", "--layers=false", "--pull=never",
			"--build-arg", "TARGETOS=linux", "--build-arg", "TARGETARCH=amd64", "--build-arg", "VERSION="+version,
			"--build-arg", "GO_IMAGE=localhost/vsw-lookalike/golang:local",
			"--build-arg", "RUNTIME_IMAGE=localhost/vsw-lookalike/distroless-static:nonroot",
			"--volume", filepath.Join(gomodcache, "cache", "download")+":/goproxy:ro",
			"--volume", gocache+":/root/.cache/go-build",
			"--target", target, "--tag", image, "--file", "Dockerfile", ".")
		out := filepath.Join(tmp, "out", target)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		buildah("push", "--quiet", image, "oci:"+out+":test")
		step("buildah bud --target "+target, t0)

		c, files, _ := readImage(t, out)
		_, _, ours := readImage(t, filepath.Join(tmp, "ours", target))
		bin := "usr/local/bin/" + target
		if c.Config.User != "65532:65532" || !slices.Equal(c.Config.Entrypoint, []string{"/" + bin}) {
			t.Errorf("%s: User %q, Entrypoint %q; want 65532:65532 and /%s", target, c.Config.User, c.Config.Entrypoint, bin)
		}
		if shells := oci.FindShells(files); len(shells) > 0 {
			t.Errorf("%s: has shells %v", target, shells)
		}
		f := files[bin]
		if f.Type != tar.TypeReg || f.Mode&0o111 == 0 || f.Size < 1<<20 {
			t.Errorf("%s: /%s is %+v, want an executable", target, bin, f)
		} else if ours.Digest == "" || f.Digest != ours.Digest {
			t.Errorf("%s: the Dockerfile's /%s (%s) differs from scripts/image's (%s)", target, bin, f.Digest, ours.Digest)
		}
	}
	t.Logf("total: %.1fs", time.Since(start).Seconds())
}

// readImage returns the config and files of a single-platform layout, and
// the files map's entry for each product binary path.
func readImage(t *testing.T, dir string) (*oci.Config, map[string]oci.FileInfo, oci.FileInfo) {
	t.Helper()
	_, c, files, err := oci.ReadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bin oci.FileInfo
	for p, f := range files {
		if strings.HasPrefix(p, "usr/local/bin/") && f.Type == tar.TypeReg {
			bin = f
		}
	}
	return c, files, bin
}

// mountsUnder lists the mount points below dir (from /proc/self/mountinfo).
func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("failed to read mountinfo: %v", err)
		return nil
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			found = append(found, f[4])
		}
	}
	return found
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
