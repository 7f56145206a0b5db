// Command sandbox-node is the host side of the sandbox's Kubernetes node, for
// scripts/sandbox (package e2e/sandbox/node has the details):
//
//	sandbox-node vars     --dir D --base N --registry-port P --pki K   shell assignments of the node's addresses
//	sandbox-node prepare  --dir D --base N --registry-port P --pki K   write its configuration, create its bridge
//	sandbox-node kubelet  --dir D --base N --registry-port P --pki K --kubelet PATH [-- ARG...]
//	                      exec the kubelet in a mount namespace that keeps its tunables off the host
//	sandbox-node clean    --dir D --base N --registry-port P --pki K   undo everything the node did to the host
//	sandbox-node snapshot FILE       record the host's state into FILE
//	sandbox-node check    FILE BASE  compare the host with FILE; exit 1 and list what it has in addition
//	                                 (but what other running sandbox nodes own), after the sandbox at BASE stopped
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/sandbox/node"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-node: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: sandbox-node vars|prepare|kubelet|clean|snapshot|check ...")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "snapshot":
		if len(args) != 1 {
			return errors.New("usage: sandbox-node snapshot FILE")
		}
		return snapshot(cmd, args[0], 0)
	case "check":
		if len(args) != 2 {
			return errors.New("usage: sandbox-node check FILE BASE")
		}
		var base int
		if _, err := fmt.Sscan(args[1], &base); err != nil {
			return fmt.Errorf("base %q is not a port number", args[1])
		}
		return snapshot(cmd, args[0], base)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	dir := fs.String("dir", "", "the node's directory")
	base := fs.Int("base", 0, "the sandbox's first port")
	registryPort := fs.Int("registry-port", 0, "the sandbox registry's port")
	pki := fs.String("pki", "", "the sandbox's PKI directory")
	kubelet := fs.String("kubelet", "", "the kubelet binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *base == 0 || *registryPort == 0 || *pki == "" {
		return errors.New("--dir, --base, --registry-port and --pki are required")
	}
	c := node.ForBase(*dir, *base, *registryPort)
	c.KubeletCert = filepath.Join(*pki, "kubelet.crt")
	c.KubeletKey = filepath.Join(*pki, "kubelet.key")
	c.ClientCAFile = filepath.Join(*pki, "ca.crt")
	c.KubeletKubeconfig = filepath.Join(*pki, "kubelet.kubeconfig")
	if err := c.Validate(); err != nil {
		return err
	}
	switch cmd {
	case "vars":
		p := c.Paths()
		for _, kv := range [][2]string{
			{"NODE_NAME", c.Name}, {"NODE_BRIDGE", c.Bridge}, {"NODE_GATEWAY", c.Gateway.String()},
			{"NODE_POD_CIDR", c.PodCIDR.String()}, {"NODE_SERVICE_CIDR", c.ServiceCIDR.String()},
			{"NODE_API_IP", c.APIServiceIP.String()}, {"NODE_KUBELET_PORT", fmt.Sprint(c.KubeletPort)},
			{"NODE_KUBELET_HEALTHZ_PORT", fmt.Sprint(c.KubeletHealthzPort)},
			{"NODE_REGISTRY", c.Registry}, {"NODE_PAUSE_IMAGE", c.PauseImage},
			{"NODE_CONTAINERD_CONFIG", p.ContainerdConfig}, {"NODE_CONTAINERD_SOCKET", p.ContainerdSocket},
			{"NODE_MIRRORED", strings.Join(c.Mirrored, " ")},
		} {
			fmt.Printf("%s=%q\n", kv[0], kv[1])
		}
		return nil
	case "prepare":
		return node.Prepare(c)
	case "kubelet":
		if *kubelet == "" {
			return errors.New("--kubelet is required")
		}
		return node.ExecKubelet(c, *kubelet, fs.Args())
	case "clean":
		return node.Clean(c)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func snapshot(cmd, file string, base int) error {
	now := node.TakeSnapshot()
	if cmd == "snapshot" {
		b, err := json.MarshalIndent(now, "", " ")
		if err != nil {
			return err
		}
		return os.WriteFile(file, b, 0o600)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("failed to read the snapshot: %w", err)
	}
	var before node.Snapshot
	if err := json.Unmarshal(b, &before); err != nil {
		return fmt.Errorf("failed to parse the snapshot %s: %w", file, err)
	}
	// Only what appeared counts: what went away meanwhile is other
	// processes' business (a build's cgroups and mounts), not a leftover.
	// Another sandbox's node running meanwhile is not a leftover either.
	others := node.FindOthers(base)
	var added []string
	for _, l := range node.Diff(before, now) {
		if strings.HasPrefix(l, "+") && !others.Theirs(l) {
			added = append(added, l)
		}
	}
	if len(added) > 0 {
		return fmt.Errorf("the host has what it had not at %s:\n%s", file, strings.Join(added, "\n"))
	}
	return nil
}
