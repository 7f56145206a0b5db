// Package sandbox tells tests where the local sandbox (scripts/sandbox) is and
// how to reach each of its servers. `scripts/sandbox up` writes env.json into
// the sandbox directory; tests find that directory through VSW_SANDBOX.
//
// Tests that need a real server call [Get]. When VSW_SANDBOX is unset the test
// is skipped, unless VSW_E2E_REQUIRED=1 (set by `make test`), in which case it
// fails: a suite that silently skips its integration tests cannot fail.
package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Env describes a running sandbox. Every address is a local address of this
// machine: 127.0.0.1, or one of the node's bridge, which pods reach too.
type Env struct {
	Dir string `json:"dir"` // the sandbox directory (logs, PID files, pki)

	// Kubernetes: an admin identity in system:masters.
	KubeServer    string `json:"kubeServer"`    // https://APISERVICEIP:443, the kubernetes Service's address
	KubeCAFile    string `json:"kubeCAFile"`    // CA that signed the apiserver's serving cert
	KubeTokenFile string `json:"kubeTokenFile"` // bearer token of the admin identity
	Kubeconfig    string `json:"kubeconfig"`    // kubeconfig for kubectl with the same identity

	EtcdEndpoint string `json:"etcdEndpoint"` // http://127.0.0.1:PORT

	// Vault dev server: KV v2 at secret/, kubernetes auth at auth/kubernetes
	// with role "default" for ServiceAccount default/default.
	// Also KV v1 at kv/ and transit at transit/ (enabled up front so tests in
	// parallel packages need not race to enable them).
	VaultAddr  string `json:"vaultAddr"`  // http://GATEWAY:PORT (pods reach it)
	VaultToken string `json:"vaultToken"` // root token
	// VaultPolicy names the sandbox's (deliberately broad) policy; give it to
	// roles that tests create for their own namespaces.
	VaultPolicy string `json:"vaultPolicy"`

	// RegistryAddr is GATEWAY:PORT, plain HTTP, no auth. containerd
	// resolves the images of docker.io, ghcr.io, registry.k8s.io and quay.io
	// from it, so pods name images as users do (alpine, busybox, testapp,
	// ghcr.io/vault-secrets-webhook/vault-env).
	RegistryAddr string `json:"registryAddr"`

	// The node: one kubelet with containerd and runc, pods on a bridge.
	Node Node `json:"node"`

	// The webhook built from this checkout, installed as users install it
	// (kubectl apply -k of manifests/, through an overlay that sets only the
	// Vault address) and reached by the apiserver through its Service.
	// WebhookNamespace is its namespace (never mutated); kube-system and
	// kube-public are excluded too.
	WebhookNamespace  string `json:"webhookNamespace"`
	WebhookConfigName string `json:"webhookConfigName"` // the MutatingWebhookConfiguration
	WebhookService    string `json:"webhookService"`    // the Service's name in WebhookNamespace
	VaultEnvImage     string `json:"vaultEnvImage"`     // the image of the copy init container
	// Overlay is the kustomization the sandbox applied.
	Overlay string `json:"overlay"`

	// Binaries, so tests can start extra servers of their own.
	Bin Binaries `json:"bin"`
}

// Node describes the sandbox's node.
type Node struct {
	Name             string `json:"name"`
	Gateway          string `json:"gateway"` // the bridge's address in the pod range
	PodCIDR          string `json:"podCIDR"`
	ContainerdSocket string `json:"containerdSocket"`
	// RegistryHosts is containerd's registry configuration directory: a
	// test that runs a registry of its own writes HOST:PORT/hosts.toml
	// there (containerd reads it at each pull).
	RegistryHosts string `json:"registryHosts"`
	// HostBefore is the host's state recorded before `up` (package
	// e2e/sandbox/node), to compare with while the sandbox runs.
	HostBefore string `json:"hostBefore"`
}

// Binaries are absolute paths of the tools the sandbox was built with.
type Binaries struct {
	Kubectl     string `json:"kubectl"`
	Vault       string `json:"vault"`
	Etcdctl     string `json:"etcdctl"`
	Registry    string `json:"registry"` // Debian's docker-registry
	RedisServer string `json:"redisServer"`
	Htpasswd    string `json:"htpasswd"`
	VaultEnv    string `json:"vaultEnv"` // built from this checkout
	Webhook     string `json:"webhook"`  // built from this checkout
	Ctr         string `json:"ctr"`      // containerd's client
	TestApp     string `json:"testApp"`  // prints its argv and environment
}

// Load reads env.json from dir.
func Load(dir string) (*Env, error) {
	b, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err != nil {
		return nil, fmt.Errorf("failed to read sandbox description: %w", err)
	}
	var e Env
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", filepath.Join(dir, "env.json"), err)
	}
	return &e, nil
}

// Get returns the sandbox named by VSW_SANDBOX, skipping the test when there
// is none, or failing it when VSW_E2E_REQUIRED=1.
func Get(t testing.TB) *Env {
	t.Helper()
	dir := os.Getenv("VSW_SANDBOX")
	if dir == "" {
		if os.Getenv("VSW_E2E_REQUIRED") == "1" {
			t.Fatal("VSW_E2E_REQUIRED=1 but VSW_SANDBOX is not set: start one with scripts/sandbox up")
		}
		t.Skip("no sandbox: set VSW_SANDBOX (scripts/sandbox up) to run this test")
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
