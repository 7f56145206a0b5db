// Command vault-secrets-webhook is the mutating admission webhook: it wraps
// containers whose environment names Vault secrets with vault-env.
//
// Flags (each can also be set by the environment variable in brackets; the
// flag wins; --help and README's table, both from flagSpecs, say what they
// mean and their defaults):
// --listen-address [LISTEN_ADDRESS], --tls-cert-file [TLS_CERT_FILE],
// --tls-key-file [TLS_KEY_FILE], --tls-reload-interval [TLS_RELOAD_INTERVAL],
// --tls-self-signed [TLS_SELF_SIGNED], --tls-hosts [TLS_HOSTS],
// --client-ca-file [CLIENT_CA_FILE],
// --client-allowed-names [CLIENT_ALLOWED_NAMES],
// --health-listen-address [HEALTH_LISTEN_ADDRESS],
// --webhook-config-name [WEBHOOK_CONFIG_NAME], --kube-server [KUBE_SERVER],
// --kube-ca-file [KUBE_CA_FILE], --kube-token-file [KUBE_TOKEN_FILE],
// --vault-addr [VAULT_ADDR], --vault-env-image [VAULT_ENV_IMAGE],
// --namespace [POD_NAMESPACE], --excluded-namespaces [EXCLUDED_NAMESPACES],
// --allowed-vault-addrs [ALLOWED_VAULT_ADDRS],
// --least-privilege [LEAST_PRIVILEGE],
// --registry-insecure-hosts [REGISTRY_INSECURE_HOSTS],
// --registry-ca-file [REGISTRY_CA_FILE],
// --registry-default-platform [REGISTRY_DEFAULT_PLATFORM],
// --registry-timeout [REGISTRY_TIMEOUT],
// --default-image-pull-secret [DEFAULT_IMAGE_PULL_SECRET],
// --allow-object-skip-verify [VAULT_ALLOW_OBJECT_SKIP_VERIFY],
// --log-level [LOG_LEVEL], --shutdown-timeout [SHUTDOWN_TIMEOUT].
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
// 2 s (see objectCacheTTL for why that staleness is harmless).
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
