// Package node is the sandbox's Kubernetes node: the files that configure
// containerd, the CNI bridge and the kubelet, the host preparation they need
// (a bridge, an rshared kubelet root), the kubelet's mount namespace that keeps
// its kernel tunables off the host, and the teardown that leaves the host as
// it was. scripts/sandbox drives it through e2e/cmd/sandbox-node; it starts
// and stops the processes itself, like every other sandbox component.
//
// Everything the node writes lives under Config.Dir, except what the kubelet
// and containerd hard-code (see [Leftovers]), which [Clean] removes.
//
// Addresses: pods get addresses in PodCIDR on a bridge of the sandbox's own
// (no default route, no masquerade, no forwarding: nothing is routed off the
// machine). The bridge also carries Gateway, where the sandbox's Vault and
// registry listen so pods reach them, and APIServiceIP, the first address of
// the service range: the apiserver listens there on 443, so the in-cluster
// address the kubelet gives every pod (KUBERNETES_SERVICE_HOST) works without
// kube-proxy.
package node

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// Config describes one sandbox node.
type Config struct {
	Dir    string // the node's directory, inside the sandbox directory
	Name   string // the Node's name (and the kubelet's hostname override)
	Bridge string // the CNI bridge's interface name (at most 15 bytes)
	// CgroupRoot is the cgroup (in every controller) that holds the
	// kubelet's kubepods hierarchy, so two sandboxes' nodes never share one.
	CgroupRoot string

	PodCIDR      netip.Prefix // pods' addresses; the first is Gateway
	Gateway      netip.Addr   // the bridge's address in PodCIDR
	ServiceCIDR  netip.Prefix // the apiserver's --service-cluster-ip-range
	APIServiceIP netip.Addr   // first address of ServiceCIDR, on the bridge

	KubeletPort        int    // the kubelet API (TLS), on Gateway
	KubeletHealthzPort int    // the kubelet's /healthz, on 127.0.0.1
	Registry           string // host:port of the sandbox registry (plain HTTP)
	// Mirrored are the registry hosts whose images containerd fetches from
	// Registry instead (so unchanged image names resolve locally).
	Mirrored   []string
	PauseImage string // the pinned sandbox (pause) image

	RuncPath          string // /usr/sbin/runc
	CNIBinDir         string // /usr/lib/cni
	KubeletCert       string // kubelet serving certificate and key
	KubeletKey        string
	ClientCAFile      string // CA of the clients the kubelet accepts (the apiserver's)
	KubeletKubeconfig string // the kubelet's kubeconfig (its node identity)
}

// ForBase returns the node of the sandbox whose ports start at base: the
// subnets and names are derived from it so that two sandboxes on one machine
// do not collide.
func ForBase(dir string, base int, registryPort int) Config {
	x := byte((base / 10) % 250)
	gw := netip.AddrFrom4([4]byte{10, 244, x, 1})
	svc := netip.AddrFrom4([4]byte{10, 96, x, 1})
	return Config{
		Dir:                dir,
		Name:               "vsw-node",
		Bridge:             "vsw" + strconv.Itoa(base),
		CgroupRoot:         "/vsw-" + strconv.Itoa(base),
		PodCIDR:            netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, x, 0}), 24),
		Gateway:            gw,
		ServiceCIDR:        netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 96, x, 0}), 24),
		APIServiceIP:       svc,
		KubeletPort:        base + 8,
		KubeletHealthzPort: base + 9,
		Registry:           netip.AddrPortFrom(gw, uint16(registryPort)).String(),
		Mirrored:           []string{"docker.io", "ghcr.io", "registry.k8s.io", "quay.io"},
		PauseImage:         "registry.k8s.io/pause:3.10",
		RuncPath:           "/usr/sbin/runc",
		CNIBinDir:          "/usr/lib/cni",
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "" || !filepath.IsAbs(c.Dir):
		return errors.New("node directory must be an absolute path")
	case c.Name == "":
		return errors.New("node name must be set")
	case !strings.HasPrefix(c.CgroupRoot, "/") || len(c.CgroupRoot) < 2 || strings.Count(c.CgroupRoot, "/") != 1:
		return fmt.Errorf("cgroup root %q must be one level below the root, like /vsw-17000", c.CgroupRoot)
	case c.Bridge == "" || len(c.Bridge) > 15:
		return fmt.Errorf("bridge name %q must be 1 to 15 bytes", c.Bridge)
	case !c.PodCIDR.IsValid() || !c.PodCIDR.Contains(c.Gateway):
		return fmt.Errorf("gateway %s must be inside the pod range %s", c.Gateway, c.PodCIDR)
	case !c.ServiceCIDR.IsValid() || !c.ServiceCIDR.Contains(c.APIServiceIP):
		return fmt.Errorf("apiserver service address %s must be inside the service range %s", c.APIServiceIP, c.ServiceCIDR)
	case c.PodCIDR.Overlaps(c.ServiceCIDR):
		return fmt.Errorf("pod range %s overlaps the service range %s", c.PodCIDR, c.ServiceCIDR)
	case c.KubeletPort <= 0 || c.KubeletHealthzPort <= 0:
		return errors.New("kubelet ports must be set")
	case c.Registry == "":
		return errors.New("registry address must be set")
	}
	return nil
}

// Paths are the node's files and directories, all under Config.Dir.
type Paths struct {
	ContainerdConfig string
	ContainerdRoot   string
	ContainerdState  string
	ContainerdSocket string
	RegistryHosts    string // containerd's registry config_path (hosts.toml per host)
	CNIConfDir       string
	CNIDataDir       string // host-local IPAM state
	KubeletRoot      string // the kubelet's --root-dir (an rshared bind mount)
	KubeletConfig    string
	PodLogs          string
	ResolvConf       string // the pods' resolv.conf: no nameserver
	Sysctl           string // files the kubelet sees in place of its tunables
	Opt              string // containerd's opt plugin directory
}

// Paths returns where the node keeps its files.
func (c Config) Paths() Paths {
	d := c.Dir
	return Paths{
		ContainerdConfig: filepath.Join(d, "containerd.toml"),
		ContainerdRoot:   filepath.Join(d, "containerd", "root"),
		ContainerdState:  filepath.Join(d, "containerd", "state"),
		ContainerdSocket: filepath.Join(d, "containerd", "containerd.sock"),
		RegistryHosts:    filepath.Join(d, "containerd", "certs.d"),
		CNIConfDir:       filepath.Join(d, "cni", "net.d"),
		CNIDataDir:       filepath.Join(d, "cni", "ipam"),
		KubeletRoot:      filepath.Join(d, "kubelet"),
		KubeletConfig:    filepath.Join(d, "kubelet.yaml"),
		PodLogs:          filepath.Join(d, "pod-logs"),
		ResolvConf:       filepath.Join(d, "resolv.conf"),
		Sysctl:           filepath.Join(d, "sysctl"),
		Opt:              filepath.Join(d, "containerd", "opt"),
	}
}

// KubeletArgs are the kubelet's command-line arguments (everything else is
// in its configuration file).
func (c Config) KubeletArgs() []string {
	p := c.Paths()
	return []string{
		"--config=" + p.KubeletConfig,
		"--kubeconfig=" + c.KubeletKubeconfig,
		"--root-dir=" + p.KubeletRoot,
		"--hostname-override=" + c.Name,
		"--node-ip=" + c.Gateway.String(),
		"--v=1",
	}
}
