package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// containerSpec is what the container helper gets on fd 3: everything it
// needs to become the container's process.
type containerSpec struct {
	Name     string      `json:"name"`
	Argv     []string    `json:"argv"`
	Env      []string    `json:"env"`
	Dir      string      `json:"dir"`
	UID      *int64      `json:"uid,omitempty"`
	GID      *int64      `json:"gid,omitempty"`
	Groups   []int64     `json:"groups,omitempty"`
	Mounts   []mountSpec `json:"mounts"`
	Programs []mountSpec `json:"programs"` // image programs, e.g. /usr/local/bin/testapp
}

// mountSpec binds Source (a path in the pod namespace) at Target.
type mountSpec struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
}

// secretsDir gets a tmpfs before any mount below it, so the ServiceAccount
// mount point (/var/run/secrets/kubernetes.io/serviceaccount) is created
// inside that tmpfs rather than on the host.
const secretsDir = "/run/secrets"

// runContainerRole runs in a fresh mount namespace (a copy of the pod's):
// it mounts the container's volumes and image programs, switches to the
// container's user and directory, and execs its argv. It returns only on
// failure.
func runContainerRole() int {
	var spec containerSpec
	if err := readConfig(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
		return ExitError
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(os.Stderr, "kubelet-standin: container %s: %v\n", spec.Name, err)
		return code
	}
	if err := mountContainer(&spec); err != nil {
		return fail(ExitError, err)
	}
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return fail(ExitError, fmt.Errorf("failed to create working directory: %w", err))
	}
	if err := os.Chdir(spec.Dir); err != nil {
		return fail(ExitError, fmt.Errorf("failed to enter working directory: %w", err))
	}
	prog, err := lookPath(spec.Argv[0], envValue(spec.Env, "PATH"))
	if err != nil {
		return fail(ExitNoFile, err)
	}
	runtime.LockOSThread() // prctl and execve on the same thread
	if err := setCredentials(&spec); err != nil {
		return fail(ExitError, err)
	}
	// A change of credentials clears the parent-death signal: set it again
	// so the container dies with the stand-in.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		return fail(ExitError, fmt.Errorf("failed to set parent death signal: %w", errno))
	}
	err = syscall.Exec(prog, spec.Argv, spec.Env)
	if errors.Is(err, syscall.ENOENT) {
		return fail(ExitNoFile, fmt.Errorf("failed to exec %s: %w", prog, err))
	}
	return fail(ExitNoExec, fmt.Errorf("failed to exec %s: %w", prog, err))
}

// mountContainer performs the container's mounts. Every source is opened
// first and mounted through /proc/self/fd, so a volume mounted over a
// directory (say an emptyDir at /tmp) cannot hide a later mount's source.
func mountContainer(spec *containerSpec) error {
	all := append(slices.Clone(spec.Programs), spec.Mounts...)
	srcs := make([]*os.File, len(all))
	for i, m := range all {
		f, err := os.Open(m.Source)
		if err != nil {
			return fmt.Errorf("failed to open mount source for %s: %w", m.Target, err)
		}
		defer f.Close()
		srcs[i] = f
	}
	src := func(i int) string { return "/proc/self/fd/" + strconv.Itoa(int(srcs[i].Fd())) }

	// Image programs: a tmpfs over their directory (the image's own
	// /usr/local/bin), then the binary bound read-only onto an empty file.
	tmpfsDone := map[string]bool{}
	for i, p := range spec.Programs {
		dir := filepath.Dir(p.Target)
		if !tmpfsDone[dir] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("failed to create %s: %w", dir, err)
			}
			if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
				return fmt.Errorf("failed to mount tmpfs on %s: %w", dir, err)
			}
			tmpfsDone[dir] = true
		}
		if err := bindMount(src(i), p.Target, false, true); err != nil {
			return err
		}
	}

	// Volumes, parents before children.
	order := make([]int, len(spec.Mounts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Count(filepath.Clean(spec.Mounts[a].Target), "/") - strings.Count(filepath.Clean(spec.Mounts[b].Target), "/")
	})
	secretsTmpfs := false
	for _, i := range order {
		m := spec.Mounts[i]
		if under(hostPath(m.Target), secretsDir) && !secretsTmpfs {
			if err := os.MkdirAll(secretsDir, 0o755); err != nil {
				return fmt.Errorf("failed to create %s: %w", secretsDir, err)
			}
			if err := syscall.Mount("tmpfs", secretsDir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
				return fmt.Errorf("failed to mount tmpfs on %s: %w", secretsDir, err)
			}
			secretsTmpfs = true
		}
		fi, err := srcs[len(spec.Programs)+i].Stat()
		if err != nil {
			return fmt.Errorf("failed to stat mount source for %s: %w", m.Target, err)
		}
		if err := bindMount(src(len(spec.Programs)+i), m.Target, fi.IsDir(), m.ReadOnly); err != nil {
			return err
		}
	}
	return nil
}

// bindMount binds source at target, creating target (a directory, or an
// empty file) when it does not exist. The mount point stays behind on the
// host as an empty directory or file: mounts need one.
func bindMount(source, target string, dir, readOnly bool) error {
	if dir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("failed to create mount point %s: %w", target, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("failed to create mount point %s: %w", target, err)
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o755)
		if err != nil {
			return fmt.Errorf("failed to create mount point %s: %w", target, err)
		}
		f.Close()
	}
	if err := syscall.Mount(source, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("failed to bind mount %s: %w", target, err)
	}
	if readOnly {
		if err := syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("failed to remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// hostPath resolves the /var/run symlink (to /run on this kind of
// machine) so that mounts under /var/run/secrets are recognised.
func hostPath(p string) string {
	p = filepath.Clean(p)
	if rest, ok := strings.CutPrefix(p, "/var/run/"); ok {
		if l, err := os.Readlink("/var/run"); err == nil {
			if !filepath.IsAbs(l) {
				l = filepath.Join("/var", l)
			}
			return filepath.Join(l, rest)
		}
	}
	return p
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// setCredentials switches to the container's user and groups when its
// securityContext names them.
func setCredentials(spec *containerSpec) error {
	if spec.UID == nil && spec.GID == nil {
		return nil
	}
	groups := make([]int, len(spec.Groups))
	for i, g := range spec.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("failed to set supplementary groups: %w", err)
	}
	if spec.GID != nil {
		if err := syscall.Setgid(int(*spec.GID)); err != nil {
			return fmt.Errorf("failed to set group %d: %w", *spec.GID, err)
		}
	}
	if spec.UID != nil {
		if err := syscall.Setuid(int(*spec.UID)); err != nil {
			return fmt.Errorf("failed to set user %d: %w", *spec.UID, err)
		}
	}
	return nil
}

// lookPath finds argv[0] the way a container runtime does: as given when
// it contains a slash, else in the container's PATH.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	if path == "" {
		path = DefaultPath
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("failed to find %q in PATH %s: %w", file, path, fs.ErrNotExist)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
