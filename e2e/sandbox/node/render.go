package node

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The files below are rendered from Config alone (no I/O), so golden tests
// pin them; every setting that is not a default carries its reason.

// ContainerdConfig renders containerd 2.x's config.toml (version 3).
func (c Config) ContainerdConfig() string {
	p := c.Paths()
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, `# containerd for the vault-secrets-webhook sandbox node (generated).
version = 3
root = %s
state = %s
# no drop-in directory of the host's
imports = []

[grpc]
  address = %s

[ttrpc]
  address = %s

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = %s

  # NRI would look for plugins in /opt/nri and /etc/nri
  [plugins.'io.containerd.nri.v1.nri']
    disable = true

  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'

    # never pulled: imported into the sandbox registry under this name
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %s

    # hosts.toml per registry host: every image name resolves to the
    # sandbox registry over plain HTTP, so nothing is pulled from outside
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = %s

  [plugins.'io.containerd.cri.v1.runtime']
    # required here: runc cannot write oom_score_adj below its own in this
    # container (CAP_SYS_RESOURCE is withheld)
    restrict_oom_score_adj = true
    # pods' network namespaces live in the state directory, not /var/run/netns
    netns_mounts_under_state_dir = true

    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'

        # Debian's runc (crun cannot run in cgroup v1 hybrid mode); the
        # kubelet uses the cgroupfs driver
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %s
          SystemdCgroup = false

    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%s]
      conf_dir = %s
      max_conf_num = 1

  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = %s

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`, q(p.ContainerdRoot), q(p.ContainerdState), q(p.ContainerdSocket), q(p.ContainerdSocket+".ttrpc"),
		q(p.Opt), q(c.PauseImage), q(p.RegistryHosts), q(c.RuncPath), q(c.CNIBinDir), q(p.CNIConfDir), q(filepath.Join(p.Opt, "image-verifier")))
	return b.String()
}

// RegistryHosts maps each host directory name under Paths.RegistryHosts to
// its hosts.toml: the sandbox registry itself, and each mirrored host.
func (c Config) RegistryHosts() map[string]string {
	out := make(map[string]string, len(c.Mirrored)+1)
	for _, h := range append([]string{c.Registry}, c.Mirrored...) {
		// containerd looks for HOST[:PORT]/hosts.toml
		out[h] = fmt.Sprintf(`# %s is served by the sandbox registry (generated)
server = "http://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`, h, c.Registry, c.Registry)
	}
	return out
}

// CNIConfig renders the pod network: a bridge the sandbox created (so the
// plugin need not be the gateway: no forwarding is turned on), host-local
// addresses, and routes to the bridge's own addresses only.
func (c Config) CNIConfig() string {
	p := c.Paths()
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "vsw-sandbox",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      c.Bridge,
				"isGateway":   false,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": p.CNIDataDir,
					"ranges": [][]map[string]string{{{
						"subnet":     c.PodCIDR.String(),
						"rangeStart": c.PodCIDR.Addr().Next().Next().String(),
						"gateway":    c.Gateway.String(),
					}}},
					// no default route: a pod reaches the bridge's
					// addresses and nothing else
					"routes": []map[string]string{
						{"dst": c.APIServiceIP.String() + "/32", "gw": c.Gateway.String()},
					},
				},
			},
			map[string]any{"type": "loopback"},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return string(b) + "\n"
}

// Tunables are the kernel settings the kubelet insists on (it writes them
// when they differ, with no opt-out). The kubelet runs in a mount namespace
// of its own where a file holding each value is bound over its /proc/sys
// file, so the host's values never change.
var Tunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// tunableNames returns the keys of Tunables, sorted.
func tunableNames() []string { return slices.Sorted(maps.Keys(Tunables)) }

// KubeletConfig renders the KubeletConfiguration.
func (c Config) KubeletConfig() string {
	p := c.Paths()
	q := strconv.Quote
	return fmt.Sprintf(`# kubelet for the vault-secrets-webhook sandbox node (generated).
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API (logs, exec, port-forward) on the bridge, where the apiserver dials
# the node's InternalIP; clients must present a certificate of the sandbox CA
# and are authorised by the apiserver (SubjectAccessReview).
address: %s
port: %d
readOnlyPort: 0
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
healthzBindAddress: 127.0.0.1
healthzPort: %d
containerRuntimeEndpoint: %s
podLogsDir: %s
# no nameserver: pods send no DNS query anywhere
resolvConf: %s
clusterDomain: cluster.local
# This machine: cgroup v1 (hybrid), no systemd, swap allowed, no
# CAP_SYS_RESOURCE; the host's iptables are left alone.
cgroupDriver: cgroupfs
cgroupRoot: %s
failCgroupV1: false
failSwapOn: false
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
# The sandbox's images are never garbage-collected, and a shared disk does
# not evict the sandbox's pods.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
serializeImagePulls: false
# Fast feedback for tests: status and pod lifecycle without long waits.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
shutdownGracePeriod: 0s
`, c.Gateway, c.KubeletPort, q(c.KubeletCert), q(c.KubeletKey), q(c.ClientCAFile),
		c.KubeletHealthzPort, q("unix://"+p.ContainerdSocket), q(p.PodLogs), q(p.ResolvConf), c.CgroupRoot)
}
