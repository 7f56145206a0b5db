package node

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// A Snapshot is the host state a node could change, by kind: mount points,
// network interfaces, network namespaces, cgroups, iptables rules, files in
// the paths runtimes hard-code, and kernel tunables. Comparing the snapshot
// taken before a sandbox's `up` with the one after its `down` tells whether
// the sandbox left the host as it found it.
type Snapshot map[string][]string

// watchedFiles are the directories whose whole contents a snapshot lists.
var watchedFiles = append(slices.Clone(Leftovers),
	"/etc/cni", "/var/lib/cni", "/opt/cni", "/etc/containerd", "/var/lib/containerd", "/opt/containerd")

// watchedSysctls are the tunables a snapshot records (the kubelet's and the
// ones a CNI gateway would turn on).
func watchedSysctls() []string {
	return append(tunableNames(), "net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding",
		"net/bridge/bridge-nf-call-iptables")
}

// TakeSnapshot records the host's state now.
func TakeSnapshot() Snapshot {
	s := Snapshot{
		"mount":     mountPoints(),
		"interface": dirNames("/sys/class/net"),
		"netns":     append(prefixed("/run/netns/", dirNames("/run/netns")), prefixed("/var/run/netns/", dirNames("/var/run/netns"))...),
		"iptables":  rules("iptables-save"),
		"ip6tables": rules("ip6tables-save"),
	}
	for _, m := range cgroupMounts() {
		_ = filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
			// the ones a node makes: other processes' (the machine's
			// own supervisor makes one per command) come and go
			if err == nil && d.IsDir() && (strings.Contains(path, "/vsw-") || strings.Contains(path, "kubepods")) {
				s["cgroup"] = append(s["cgroup"], path)
			}
			return nil
		})
	}
	for _, root := range watchedFiles {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil {
				s["file"] = append(s["file"], path)
			}
			return nil
		})
	}
	for _, name := range watchedSysctls() {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", name)); err == nil {
			s["sysctl"] = append(s["sysctl"], name+"="+strings.TrimSpace(string(b)))
		}
	}
	for k := range s {
		sort.Strings(s[k])
		s[k] = slices.Compact(s[k])
	}
	return s
}

// Diff lists, one line each, what after has that before had not ("+ kind
// item") and what it lost ("- kind item"), sorted; nil when equal.
func Diff(before, after Snapshot) []string {
	var out []string
	// lacking lists, marked sign, the items of from that in lacks.
	lacking := func(sign string, from, in Snapshot) {
		for k := range from {
			have := setOf(in[k])
			for item := range setOf(from[k]) {
				if !have[item] {
					out = append(out, fmt.Sprintf("%s %s %s", sign, k, item))
				}
			}
		}
	}
	lacking("+", after, before)
	lacking("-", before, after)
	sort.Strings(out)
	return out
}

func setOf(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, i := range items {
		m[i] = true
	}
	return m
}

func dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func prefixed(prefix string, names []string) []string {
	for i := range names {
		names[i] = prefix + names[i]
	}
	return names
}

// rules returns the rules (not the counters or comments) an
// iptables-save-like command prints; nothing when it is not installed.
func rules(cmd string) []string {
	path, err := exec.LookPath(cmd)
	if err != nil {
		return nil
	}
	out, err := exec.Command(path).Output()
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var lines []string
	table := ""
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = l[1:]
		case strings.HasPrefix(l, "-A"), strings.HasPrefix(l, ":"):
			if strings.HasPrefix(l, ":") {
				l = strings.Fields(l)[0] // chain name without policy counters
			}
			lines = append(lines, table+" "+l)
		}
	}
	return lines
}

// OthersRunning describes the other sandbox nodes running on this machine,
// so that a check of one sandbox's leftovers can tell their state from its
// own: their names (bridges and cgroup roots carry "vsw" and their base) and
// their directories.
type OthersRunning struct {
	Names []string // "vsw17000", "vsw-17000"
	Dirs  []string // node directories (the parent of each kubelet root)
}

// FindOthers returns the nodes other than the one at base whose kubelet
// runs now.
func FindOthers(base int) OthersRunning {
	var o OthersRunning
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(args[0]) != "kubelet" {
			continue
		}
		for _, a := range args {
			if root, ok := strings.CutPrefix(a, "--root-dir="); ok {
				o.Dirs = append(o.Dirs, filepath.Dir(root))
			}
			if cfg, ok := strings.CutPrefix(a, "--config="); ok {
				b, _ := os.ReadFile(cfg)
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "cgroupRoot: /vsw-"); ok && v != fmt.Sprint(base) {
						o.Names = append(o.Names, "vsw"+v, "vsw-"+v)
					}
				}
			}
		}
	}
	return o
}

// Theirs reports whether a Diff line is about another running node's state.
func (o OthersRunning) Theirs(line string) bool {
	for _, n := range o.Names {
		if strings.Contains(line, "/"+n+"/") || strings.HasSuffix(line, "/"+n) || strings.HasSuffix(line, " "+n) {
			return true
		}
	}
	for _, d := range o.Dirs {
		if strings.Contains(line, " "+d+"/") {
			return true
		}
	}
	if f := strings.Fields(line); len(f) == 3 && f[1] == "interface" && strings.HasPrefix(f[2], "veth") {
		master, err := os.Readlink("/sys/class/net/" + f[2] + "/master")
		return err == nil && slices.Contains(o.Names, filepath.Base(master))
	}
	if len(o.Dirs) > 0 {
		// the shared runtime paths stay while another node runs
		for _, p := range watchedFiles {
			if strings.Contains(line, " file "+p) {
				return true
			}
		}
		if strings.Contains(line, " netns ") {
			return true
		}
	}
	return false
}
