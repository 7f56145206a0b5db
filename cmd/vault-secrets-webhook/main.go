// Command vault-secrets-webhook is the mutating admission webhook: it wraps
// containers whose environment names Vault secrets with vault-env.
//
// Every flag can also be set by the environment variable in brackets (the
// flag wins):
//
//	--listen-address [LISTEN_ADDRESS]             HTTPS address, default ":8443"
//	--tls-cert-file [TLS_CERT_FILE]               PEM certificate (chain), reloaded on change
//	--tls-key-file [TLS_KEY_FILE]                 PEM key
//	--tls-reload-interval [TLS_RELOAD_INTERVAL]   poll interval of the files, default 10s
//	--tls-self-signed [TLS_SELF_SIGNED]           generate CA + cert at start, publish the caBundle
//	--tls-hosts [TLS_HOSTS]                       names/IPs of the self-signed cert
//	                                              (default vault-secrets-webhook.NAMESPACE.svc and short forms)
//	--client-ca-file [CLIENT_CA_FILE]             PEM CA of the apiserver's client certificate: the
//	                                              handshake requires one (read at start)
//	--client-allowed-names [CLIENT_ALLOWED_NAMES] comma list: the client certificate's CN or a DNS
//	                                              SAN must be one of these
//	--health-listen-address [HEALTH_LISTEN_ADDRESS] plain-HTTP /healthz, /readyz, /metrics (no
//	                                              reviews), for probes when client certs are required
//	--webhook-config-name [WEBHOOK_CONFIG_NAME]   MutatingWebhookConfiguration to publish into,
//	                                              default "vault-secrets-webhook"
//	--kube-server [KUBE_SERVER]                   Kubernetes API URL (default in-cluster)
//	--kube-ca-file [KUBE_CA_FILE]                 its CA bundle
//	--kube-token-file [KUBE_TOKEN_FILE]           bearer token file (re-read when it changes)
//	--vault-addr [VAULT_ADDR]                     VAULT_ADDR for pods, default "https://vault:8200"
//	--vault-env-image [VAULT_ENV_IMAGE]           default "ghcr.io/vault-secrets-webhook/vault-env:latest"
//	--namespace [POD_NAMESPACE]                   own namespace, never mutated
//	--excluded-namespaces [EXCLUDED_NAMESPACES]   more namespaces never mutated (comma list)
//	--allowed-vault-addrs [ALLOWED_VAULT_ADDRS]   addresses the vault-addr annotation may name:
//	                                              comma list of scheme://host[:port], or "*";
//	                                              cloud metadata addresses are refused regardless
//	--least-privilege [LEAST_PRIVILEGE]           read no Secrets/ConfigMaps; wrap every container
//	                                              using secretKeyRef/configMapKeyRef/envFrom
//	--registry-insecure-hosts [REGISTRY_INSECURE_HOSTS] registry and token-realm hosts trusted:
//	                                              plain HTTP allowed, any address (loopback,
//	                                              link-local, metadata) allowed
//	--registry-ca-file [REGISTRY_CA_FILE]         PEM CA certificates trusted for registries
//	                                              besides the system roots (read at start)
//	--registry-default-platform [REGISTRY_DEFAULT_PLATFORM] OS/ARCH[/VARIANT] read from a
//	                                              multi-platform image when the pod does not
//	                                              constrain kubernetes.io/os|arch, default linux/amd64
//	--registry-timeout [REGISTRY_TIMEOUT]         bound on one image lookup, default 5s, at most
//	                                              28s; a review's ?timeout= less a margin
//	                                              (admission.LookupBudget) bounds it too
//	--default-image-pull-secret [DEFAULT_IMAGE_PULL_SECRET] NAMESPACE/NAME tried after the pod's
//	                                              and its ServiceAccount's pull secrets
//	--allow-object-skip-verify [VAULT_ALLOW_OBJECT_SKIP_VERIFY] let a pod's vault-skip-verify
//	                                              annotation apply (default false: ignored, with a warning)
//	--log-level [LOG_LEVEL]                       debug, info (default), warn, error
//	--shutdown-timeout [SHUTDOWN_TIMEOUT]         grace for in-flight reviews, default 30s
//
// Webhook-wide defaults of the pod annotations (an annotation on the pod
// wins) come from these environment variables: MUTATE_PROBES, VAULT_ROLE,
// VAULT_PATH, VAULT_AUTH_METHOD, VAULT_SKIP_VERIFY, VAULT_TLS_SECRET,
// VAULT_CLIENT_TIMEOUT, VAULT_NAMESPACE, VAULT_IGNORE_MISSING_SECRETS,
// VAULT_ENV_DAEMON, VAULT_ENV_DELAY, VAULT_ENV_PASSTHROUGH,
// VAULT_ENV_IMAGE_PULL_POLICY, VAULT_ENV_IMAGE_VOLUME, RUN_AS_NON_ROOT, RUN_AS_USER, RUN_AS_GROUP,
// READONLY_ROOT_FS, PSP_ALLOW_PRIVILEGE_ESCALATION, REGISTRY_SKIP_VERIFY,
// VAULT_LOG_LEVEL, ENABLE_JSON_LOG, TRANSIT_KEY_ID, TRANSIT_PATH,
// TRANSIT_BATCH_SIZE, SERVICE_ACCOUNT_TOKEN_VOLUME_NAME, VAULT_AGENT,
// VAULT_AGENT_ONCE, VAULT_IMAGE, VAULT_IMAGE_PULL_POLICY, VAULT_SERVICEACCOUNT,
// VAULT_AGENT_CPU_REQUEST, VAULT_AGENT_CPU_LIMIT, VAULT_AGENT_MEMORY_REQUEST,
// VAULT_AGENT_MEMORY_LIMIT, VAULT_AGENT_SHARE_PROCESS_NAMESPACE (see README,
// section "Annotations").
//
// Endpoints (all on --listen-address, TLS): POST /pods (AdmissionReview
// admission.k8s.io/v1 of a Pod), GET /healthz, GET /readyz (certificate
// valid and, when configured, the Kubernetes API reachable), GET /metrics
// (Prometheus text format: review and lookup counters from package
// admission, vsw_registry_* from the image config client's Snapshot,
// go_goroutines and process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds read from /proc).
// Secrets, ConfigMaps and ServiceAccounts read for a review are cached for
// 2 s (concurrent reads of one object share one GET; at most 1024 objects of
// each kind; failures are not cached): a Secret changed less than 2 s before
// a pod is created may be seen with its previous value, which the kubelet,
// reading it again when the container starts, could equally have done.
// Reviews in flight and their body bytes are bounded (admission.Budget:
// 128 reviews, 16 MiB beyond each review's first 64 KiB, 5 s for a body);
// one review causes at most 100 Secret/ConfigMap/image lookups.
// Logs are JSON on stderr; they never contain the
// admission object or environment values.
//
// The Go runtime keeps its own defaults (GOGC, GOMAXPROCS); the shipped
// Deployment sets GOMEMLIMIT to the container's memory limit.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time (-X main.version=…, from git describe in the
// Makefile, scripts/reproducible and the Dockerfile) and logged at start.
var version = "devel"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vault-secrets-webhook:", err)
		os.Exit(1)
	}
}
