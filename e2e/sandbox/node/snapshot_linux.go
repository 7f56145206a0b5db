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
	kinds := map[string]bool{}
	for k := range before {
		kinds[k] = true
	}
	for k := range after {
		kinds[k] = true
	}
	for k := range kinds {
		b := setOf(before[k])
		a := setOf(after[k])
		for item := range a {
			if !b[item] {
				out = append(out, fmt.Sprintf("+ %s %s", k, item))
			}
		}
		for item := range b {
			if !a[item] {
				out = append(out, fmt.Sprintf("- %s %s", k, item))
			}
		}
	}
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
