package node

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func testConfig() Config {
	c := ForBase("/sandbox/node", 17000, 17006)
	c.KubeletCert = "/sandbox/pki/kubelet.crt"
	c.KubeletKey = "/sandbox/pki/kubelet.key"
	c.ClientCAFile = "/sandbox/pki/ca.crt"
	c.KubeletKubeconfig = "/sandbox/pki/kubelet.kubeconfig"
	return c
}

// TestGolden pins every file the node renders; `go test -update` rewrites
// them, and a stale golden file fails.
func TestGolden(t *testing.T) {
	c := testConfig()
	files := map[string]string{
		"containerd.toml":  c.ContainerdConfig(),
		"cni.conflist":     c.CNIConfig(),
		"kubelet.yaml":     c.KubeletConfig(),
		"kubelet-args.txt": strings.Join(c.KubeletArgs(), "\n") + "\n",
	}
	for host, toml := range c.RegistryHosts() {
		files["hosts-"+strings.ReplaceAll(host, ":", "_")+".toml"] = toml
	}
	for name, got := range files {
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("failed to read golden file (run go test -update): %v", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s (run go test -update and review the diff):\n%s", name, path, got)
		}
	}
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if _, ok := files[strings.TrimSuffix(e.Name(), ".golden")]; !ok && strings.HasSuffix(e.Name(), ".golden") {
			t.Errorf("stale golden file testdata/%s", e.Name())
		}
	}
}

func TestForBaseSeparatesSandboxes(t *testing.T) {
	a, b := ForBase("/a", 17000, 17006), ForBase("/b", 20010, 20016)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Bridge == b.Bridge || a.CgroupRoot == b.CgroupRoot || a.PodCIDR.Overlaps(b.PodCIDR) ||
		a.ServiceCIDR.Overlaps(b.ServiceCIDR) {
		t.Errorf("sandboxes at different bases share a name or a range: %+v %+v", a, b)
	}
	if a.ServiceCIDR.Addr().Next() != a.APIServiceIP {
		t.Errorf("the apiserver's service address %s is not the first of %s (what the apiserver gives the kubernetes Service)", a.APIServiceIP, a.ServiceCIDR)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"relative dir", func(c *Config) { c.Dir = "node" }, "absolute"},
		{"long bridge", func(c *Config) { c.Bridge = "vsw-0123456789ab" }, "15 bytes"},
		{"gateway outside", func(c *Config) { c.Gateway = c.APIServiceIP }, "inside the pod range"},
		{"nested cgroup root", func(c *Config) { c.CgroupRoot = "/a/b" }, "one level"},
		{"overlap", func(c *Config) { c.ServiceCIDR = c.PodCIDR; c.APIServiceIP = c.Gateway }, "overlaps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	before := Snapshot{"mount": {"/", "/proc"}, "sysctl": {"vm/overcommit_memory=0"}}
	after := Snapshot{"mount": {"/", "/proc", "/x/kubelet"}, "sysctl": {"vm/overcommit_memory=1"}, "interface": {"vsw1"}}
	got := strings.Join(Diff(before, after), "\n")
	want := strings.Join([]string{
		"+ interface vsw1",
		"+ mount /x/kubelet",
		"+ sysctl vm/overcommit_memory=1",
		"- sysctl vm/overcommit_memory=0",
	}, "\n")
	if got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
	if d := Diff(after, after); d != nil {
		t.Errorf("Diff of equal snapshots = %q, want nil", d)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b\011c`); got != "/a b\tc" {
		t.Errorf("unescapeMount = %q", got)
	}
}

func TestOthersTheirs(t *testing.T) {
	o := OthersRunning{Names: []string{"vsw20010", "vsw-20010"}, Dirs: []string{"/tmp/other/node"}}
	for line, want := range map[string]bool{
		"+ cgroup /sys/fs/cgroup/cpu/vsw-20010":               true,
		"+ cgroup /sys/fs/cgroup/cpu/vsw-20010/kubepods/pod1": true,
		"+ interface vsw20010":                                true,
		"+ mount /tmp/other/node/kubelet":                     true,
		"+ file /var/lib/kubelet/device-plugins":              true, // shared while another node runs
		"+ cgroup /sys/fs/cgroup/cpu/vsw-17000":               false,
		"+ interface vsw17000":                                false,
		"+ mount /tmp/mine/node/kubelet":                      false,
		"+ sysctl vm/overcommit_memory=1":                     false,
	} {
		if got := o.Theirs(line); got != want {
			t.Errorf("Theirs(%q) = %v, want %v", line, got, want)
		}
	}
	if (OthersRunning{}).Theirs("+ file /var/lib/kubelet") {
		t.Error("with no other node, a shared path left behind is ours")
	}
}
