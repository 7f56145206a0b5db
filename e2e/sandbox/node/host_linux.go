package node

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Prepare writes the node's configuration files and readies the host: the
// bridge with the sandbox's addresses, and the kubelet root directory as an
// rshared bind mount (so the volumes the kubelet mounts from its own mount
// namespace reach containerd). It records which hard-coded host paths
// existed before, so [Clean] removes only what the node created.
func Prepare(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	p := c.Paths()
	for _, d := range []string{p.ContainerdRoot, p.ContainerdState, p.RegistryHosts, p.CNIConfDir,
		p.CNIDataDir, p.KubeletRoot, p.PodLogs, p.Sysctl, p.Opt} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("failed to create %s: %w", d, err)
		}
	}
	files := map[string]string{
		p.ContainerdConfig: c.ContainerdConfig(),
		filepath.Join(p.CNIConfDir, "10-vsw.conflist"): c.CNIConfig(),
		p.KubeletConfig: c.KubeletConfig(),
		p.ResolvConf:    "# the sandbox's pods have no DNS\n",
	}
	for host, toml := range c.RegistryHosts() {
		files[filepath.Join(p.RegistryHosts, host, "hosts.toml")] = toml
	}
	for _, name := range tunableNames() {
		files[filepath.Join(p.Sysctl, strings.ReplaceAll(name, "/", "."))] = Tunables[name] + "\n"
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("failed to create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("failed to write %s: %w", path, err)
		}
	}
	if err := recordLeftovers(c); err != nil {
		return err
	}
	if err := addBridge(c); err != nil {
		return err
	}
	if err := addCgroupRoot(c.CgroupRoot); err != nil {
		return err
	}
	return shareKubeletRoot(p.KubeletRoot)
}

// Leftovers are the paths outside Config.Dir that the kubelet, containerd
// and runc hard-code; [Clean] removes those that did not exist before
// [Prepare].
var Leftovers = []string{
	"/var/lib/kubelet",    // the device-plugin socket directory
	"/var/log/containers", // the kubelet's log symlinks
	"/var/log/pods",
	"/run/containerd", // shim sockets (containerd-shim-runc-v2 hard-codes /run/containerd/s)
	"/var/run/netns",
	"/run/netns",
	"/run/mount/utab",
	"/run/runc",
	"/var/lib/cni", // libcni's result cache (containerd offers no setting for it)
}

func leftoverRecord(c Config) string { return filepath.Join(c.Dir, "preexisting") }

func recordLeftovers(c Config) error {
	if _, err := os.Stat(leftoverRecord(c)); err == nil {
		return nil // recorded by an earlier Prepare of the same node
	}
	var existed []string
	for _, p := range Leftovers {
		if _, err := os.Lstat(p); err == nil {
			existed = append(existed, p)
		}
	}
	return os.WriteFile(leftoverRecord(c), []byte(strings.Join(existed, "\n")+"\n"), 0o600)
}

func addBridge(c Config) error {
	if _, err := os.Stat("/sys/class/net/" + c.Bridge); err == nil {
		return nil
	}
	for _, args := range [][]string{
		{"link", "add", c.Bridge, "type", "bridge"},
		{"addr", "add", netip.PrefixFrom(c.Gateway, c.PodCIDR.Bits()).String(), "dev", c.Bridge},
		{"addr", "add", netip.PrefixFrom(c.APIServiceIP, 32).String(), "dev", c.Bridge},
		{"link", "set", c.Bridge, "up"},
	} {
		if err := run("ip", args...); err != nil {
			return fmt.Errorf("failed to set up bridge %s: %w", c.Bridge, err)
		}
	}
	return nil
}

func shareKubeletRoot(dir string) error {
	if slices.Contains(mountPoints(), dir) {
		return nil
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("failed to bind-mount %s: %w", dir, err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("failed to make %s rshared: %w", dir, err)
	}
	return nil
}

// ExecKubelet replaces the process with the kubelet, in a mount namespace of
// its own in which each of [Tunables] reads the value the kubelet wants from
// a file of the node's: it finds its settings in place and writes none to
// the host. The kubelet root directory is rshared, so the volumes it mounts
// still reach containerd in the host's namespace.
func ExecKubelet(c Config, kubelet string, args []string) error {
	runtime.LockOSThread() // the namespace belongs to this thread, which execs
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("failed to create the kubelet's mount namespace: %w", err)
	}
	// the host's / is private here; make sure ours is too before binding
	// over /proc/sys, so the binds can never propagate back
	if err := syscall.Mount("", "/proc", "", syscall.MS_PRIVATE|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("failed to make /proc private: %w", err)
	}
	p := c.Paths()
	for _, name := range tunableNames() {
		src := filepath.Join(p.Sysctl, strings.ReplaceAll(name, "/", "."))
		dst := filepath.Join("/proc/sys", name)
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("failed to bind %s over %s: %w", src, dst, err)
		}
	}
	argv := append([]string{kubelet}, append(c.KubeletArgs(), args...)...)
	return syscall.Exec(kubelet, argv, os.Environ())
}

// Clean undoes what the node did to the host, whether or not its processes
// stopped cleanly: it kills the container processes still running under the
// node's containerd, unmounts everything under Config.Dir, removes the
// pods' network namespaces, the bridge, the kubelet's cgroups and the
// hard-coded paths the node created. It returns every failure, joined.
func Clean(c Config) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(killShims(c))
	add(unmountUnder(c.Dir))
	add(removeCgroups(c.CgroupRoot))
	if _, err := os.Stat("/sys/class/net/" + c.Bridge); err == nil {
		add(run("ip", "link", "del", c.Bridge))
	}
	removeOwnLogLinks(c)
	if other := otherNode(c); other != "" {
		// The hard-coded paths are shared: leave them to the last node.
		fmt.Fprintf(os.Stderr, "node: %s still runs; leaving the shared runtime paths to it\n", other)
	} else {
		add(removeLeftovers(c))
	}
	return errors.Join(errs...)
}

// otherNode names a process of another node on this machine (a kubelet or
// a runc shim that is not this node's), or returns "".
func otherNode(c Config) string {
	p := c.Paths()
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		switch filepath.Base(args[0]) {
		case "kubelet":
			if !slices.Contains(args, "--root-dir="+p.KubeletRoot) {
				return "kubelet (pid " + e.Name() + ")"
			}
		case "containerd-shim-runc-v2":
			if i := slices.Index(args, "-address"); i >= 0 && i+1 < len(args) && args[i+1] != p.ContainerdSocket {
				return "a containerd shim (pid " + e.Name() + ")"
			}
		}
	}
	return ""
}

// killShims kills the runc shims of the node's containerd (they outlive it),
// which takes their containers with them.
func killShims(c Config) error {
	socket := c.Paths().ContainerdSocket
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("failed to list processes: %w", err)
	}
	for _, e := range procs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasSuffix(args[0], "containerd-shim-runc-v2") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == socket {
				var pid int
				fmt.Sscan(e.Name(), &pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return nil
}

// unmountUnder unmounts every mount below dir, deepest first.
func unmountUnder(dir string) error {
	var errs []error
	for _, m := range mountsUnder(dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("failed to unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

func mountsUnder(dir string) []string {
	var out []string
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	// deepest first
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// mountPoints lists the mount points of this mount namespace, only those
// of the given file system types if any are given.
func mountPoints(fsTypes ...string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		_, after, _ := strings.Cut(line, " - ")
		fsType, _, _ := strings.Cut(after, " ")
		if f := strings.Fields(line); len(f) > 4 && (len(fsTypes) == 0 || slices.Contains(fsTypes, fsType)) {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupMounts lists the cgroup (v1 and v2) mount points.
func cgroupMounts() []string { return mountPoints("cgroup", "cgroup2") }

// addCgroupRoot creates root in every cgroup hierarchy; in cpuset it copies
// the parent's CPUs and memory nodes, without which no task may join.
func addCgroupRoot(root string) error {
	for _, m := range cgroupMounts() {
		d := filepath.Join(m, root)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("failed to create cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := os.ReadFile(filepath.Join(m, f))
			if err != nil {
				continue // not the cpuset controller
			}
			if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
				return fmt.Errorf("failed to set %s of cgroup %s: %w", f, d, err)
			}
		}
	}
	return nil
}

// removeCgroups removes the node's cgroup root, with the kubelet's kubepods
// hierarchy under it, from every cgroup hierarchy, killing what still runs
// in it.
func removeCgroups(root string) error {
	var errs []error
	for _, m := range cgroupMounts() {
		var dirs []string // none when m has no root: WalkDir passes the error to the callback
		_ = filepath.WalkDir(filepath.Join(m, root), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			killCgroup(d)
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("failed to remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

func killCgroup(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeLeftovers removes the hard-coded paths that did not exist before
// Prepare, and the kubelet's log symlinks into Config.Dir from the ones that
// did.
func removeLeftovers(c Config) error {
	b, err := os.ReadFile(leftoverRecord(c))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // never prepared
		}
		return fmt.Errorf("failed to read the node's record of host paths: %w", err)
	}
	existed := strings.Fields(string(b))
	var errs []error
	for _, p := range Leftovers {
		if slices.Contains(existed, p) {
			continue
		}
		_ = unmountUnder(p)
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// removeOwnLogLinks removes the kubelet's log symlinks that point into the
// node's directory, whoever else uses /var/log/containers.
func removeOwnLogLinks(c Config) {
	const d = "/var/log/containers"
	entries, _ := os.ReadDir(d)
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(d, e.Name()))
		if err == nil && strings.HasPrefix(target, c.Dir+"/") {
			_ = os.Remove(filepath.Join(d, e.Name()))
		}
	}
}

func run(name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}
