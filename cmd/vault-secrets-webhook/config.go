package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

// config is every setting of the webhook, parsed once and validated before
// any I/O.
type config struct {
	ListenAddress     string
	TLSCertFile       string
	TLSKeyFile        string
	TLSReloadInterval time.Duration
	TLSSelfSigned     bool
	TLSHosts          []string
	ClientCAFile      string
	ClientNames       []string
	HealthAddress     string
	WebhookConfigName string
	KubeServer        string
	KubeCAFile        string
	KubeTokenFile     string
	VaultAddr         string
	VaultEnvImage     string
	Namespace         string
	ExcludedNS        []string
	AllowedVaultAddrs []string
	AllowSkipVerify   bool
	LeastPrivilege    bool
	RegistryInsecure  []string
	RegistryCAFile    string
	RegistryPlatform  registry.Platform
	RegistryTimeout   time.Duration
	DefaultPullSecret string
	LogLevel          slog.Level
	ShutdownTimeout   time.Duration
	Defaults          map[string]string
}

// flagSpec binds one flag to its environment variable.
type flagSpec struct {
	name, env, def, usage string
}

var flagSpecs = []flagSpec{
	{"listen-address", "LISTEN_ADDRESS", ":8443", "address to serve HTTPS on"},
	{"tls-cert-file", "TLS_CERT_FILE", "", "PEM serving certificate (chain); reloaded when it changes"},
	{"tls-key-file", "TLS_KEY_FILE", "", "PEM key of the serving certificate"},
	{"tls-reload-interval", "TLS_RELOAD_INTERVAL", "10s", "how often the certificate files are checked for changes"},
	{"tls-self-signed", "TLS_SELF_SIGNED", "false", "generate a CA and serving certificate at start and publish the CA into --webhook-config-name"},
	{"tls-hosts", "TLS_HOSTS", "", "comma list of DNS names/IPs of the self-signed certificate (default vault-secrets-webhook.NAMESPACE.svc and its short forms)"},
	{"client-ca-file", "CLIENT_CA_FILE", "", "PEM CA whose client certificates may connect: the handshake requires one (the apiserver's, see SECURITY.md)"},
	{"client-allowed-names", "CLIENT_ALLOWED_NAMES", "", "comma list: with --client-ca-file, the client certificate's CN or a DNS SAN must be one of these"},
	{"health-listen-address", "HEALTH_LISTEN_ADDRESS", "", "also serve /healthz, /readyz and /metrics in plain HTTP here (for probes when --client-ca-file is set)"},
	{"webhook-config-name", "WEBHOOK_CONFIG_NAME", "vault-secrets-webhook", "MutatingWebhookConfiguration whose caBundle self-signed mode sets"},
	{"kube-server", "KUBE_SERVER", "", "Kubernetes API URL (default: in-cluster)"},
	{"kube-ca-file", "KUBE_CA_FILE", "", "CA bundle of the Kubernetes API (default: in-cluster)"},
	{"kube-token-file", "KUBE_TOKEN_FILE", "", "bearer token file for the Kubernetes API, re-read when it changes (default: in-cluster)"},
	{"vault-addr", "VAULT_ADDR", "https://vault:8200", "Vault address written into pods (VAULT_ADDR)"},
	{"vault-env-image", "VAULT_ENV_IMAGE", "ghcr.io/vault-secrets-webhook/vault-env:latest", "image of the copy-vault-env init container"},
	{"namespace", "POD_NAMESPACE", "", "the webhook's own namespace (never mutated)"},
	{"excluded-namespaces", "EXCLUDED_NAMESPACES", "", "comma list of more namespaces never mutated (kube-system, kube-public and --namespace always are)"},
	{"allowed-vault-addrs", "ALLOWED_VAULT_ADDRS", "", `comma list of Vault addresses the vault-addr annotation may name: "scheme://host[:port][/path]" (matched exactly: scheme, host case-insensitively, port and path, a trailing slash aside) or "*"`},
	{"allow-object-skip-verify", "VAULT_ALLOW_OBJECT_SKIP_VERIFY", "false", "let a pod's vault-skip-verify annotation turn Vault TLS verification off (otherwise the annotation is ignored with a warning and VAULT_SKIP_VERIFY applies)"},
	{"least-privilege", "LEAST_PRIVILEGE", "false", "read no Secrets or ConfigMaps: wrap every container that uses secretKeyRef, configMapKeyRef or envFrom"},
	{"registry-insecure-hosts", "REGISTRY_INSECURE_HOSTS", "", "comma list of registry and token-realm host[:port]s trusted: plain HTTP and any address (loopback, link-local, metadata) allowed"},
	{"registry-ca-file", "REGISTRY_CA_FILE", "", "PEM file of CA certificates trusted for registries in addition to the system roots"},
	{"registry-default-platform", "REGISTRY_DEFAULT_PLATFORM", "linux/amd64", "OS/ARCH[/VARIANT] whose image config is read from a multi-platform image when the pod does not constrain kubernetes.io/os or kubernetes.io/arch"},
	{"registry-timeout", "REGISTRY_TIMEOUT", "5s", "bound on one image config lookup; at most 28s, and the review's own timeout (less a margin) still applies"},
	{"default-image-pull-secret", "DEFAULT_IMAGE_PULL_SECRET", "", "NAMESPACE/NAME of a pull secret tried after the pod's and its ServiceAccount's"},
	{"log-level", "LOG_LEVEL", "info", "debug, info, warn or error"},
	{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "30s", "how long in-flight reviews may take to finish at shutdown"},
}

// configError names the flag (and variable) that is wrong.
type configError struct {
	flag, env, reason string
}

func (e *configError) Error() string {
	return fmt.Sprintf("invalid --%s (%s): %s", e.flag, e.env, e.reason)
}

// parseConfig reads flags, then the environment for flags not given.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("vault-secrets-webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*stringFlag{}
	for _, f := range flagSpecs {
		v := &stringFlag{value: f.def, isBool: f.def == "false" || f.def == "true"}
		vals[f.name] = v
		fs.Var(v, f.name, f.usage+" ["+f.env+"]")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	get := map[string]string{}
	specs := map[string]flagSpec{}
	for _, f := range flagSpecs {
		specs[f.name] = f
		v := vals[f.name].value
		if !set[f.name] {
			if e := getenv(f.env); e != "" {
				v = e
			}
		}
		get[f.name] = strings.TrimSpace(v)
	}
	fail := func(name, reason string) error {
		return &configError{flag: name, env: specs[name].env, reason: reason}
	}
	// The first malformed duration or boolean is reported.
	var err error
	dur := func(name string) time.Duration {
		d, perr := time.ParseDuration(get[name])
		if (perr != nil || d <= 0) && err == nil {
			err = fail(name, "not a positive duration")
		}
		return d
	}
	boolean := func(name string) bool {
		b, perr := strconv.ParseBool(get[name])
		if perr != nil && err == nil {
			err = fail(name, "not a boolean")
		}
		return b
	}

	c := &config{
		ListenAddress:     get["listen-address"],
		TLSCertFile:       get["tls-cert-file"],
		TLSKeyFile:        get["tls-key-file"],
		TLSReloadInterval: dur("tls-reload-interval"),
		TLSSelfSigned:     boolean("tls-self-signed"),
		TLSHosts:          list(get["tls-hosts"]),
		ClientCAFile:      get["client-ca-file"],
		ClientNames:       list(get["client-allowed-names"]),
		HealthAddress:     get["health-listen-address"],
		WebhookConfigName: get["webhook-config-name"],
		KubeServer:        get["kube-server"],
		KubeCAFile:        get["kube-ca-file"],
		KubeTokenFile:     get["kube-token-file"],
		VaultAddr:         get["vault-addr"],
		VaultEnvImage:     get["vault-env-image"],
		Namespace:         get["namespace"],
		ExcludedNS:        list(get["excluded-namespaces"]),
		AllowedVaultAddrs: list(get["allowed-vault-addrs"]),
		AllowSkipVerify:   boolean("allow-object-skip-verify"),
		LeastPrivilege:    boolean("least-privilege"),
		RegistryInsecure:  list(get["registry-insecure-hosts"]),
		RegistryCAFile:    get["registry-ca-file"],
		RegistryTimeout:   dur("registry-timeout"),
		DefaultPullSecret: get["default-image-pull-secret"],
		ShutdownTimeout:   dur("shutdown-timeout"),
		Defaults:          map[string]string{},
	}
	if err != nil {
		return nil, err
	}
	if max := admission.LookupBudget(admission.MaxReviewTimeout); c.RegistryTimeout > max {
		return nil, fail("registry-timeout", fmt.Sprintf("must be at most %v: the apiserver waits at most %v for a review", max, admission.MaxReviewTimeout))
	}
	if c.RegistryPlatform, err = parsePlatform(get["registry-default-platform"]); err != nil {
		return nil, fail("registry-default-platform", err.Error())
	}
	if err := c.LogLevel.UnmarshalText([]byte(get["log-level"])); err != nil {
		return nil, fail("log-level", "want debug, info, warn or error")
	}
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return nil, fail("listen-address", "want HOST:PORT")
	}
	if len(c.ClientNames) > 0 && c.ClientCAFile == "" {
		return nil, fail("client-allowed-names", "requires --client-ca-file")
	}
	if c.HealthAddress != "" {
		if _, _, err := net.SplitHostPort(c.HealthAddress); err != nil {
			return nil, fail("health-listen-address", "want HOST:PORT")
		}
	}
	if c.TLSSelfSigned {
		if c.TLSCertFile != "" || c.TLSKeyFile != "" {
			return nil, fail("tls-self-signed", "cannot be combined with --tls-cert-file/--tls-key-file")
		}
		if c.WebhookConfigName == "" {
			return nil, fail("webhook-config-name", "required with --tls-self-signed")
		}
		if len(c.TLSHosts) == 0 {
			if c.Namespace == "" {
				return nil, fail("tls-hosts", "required with --tls-self-signed when --namespace is not set")
			}
			svc := "vault-secrets-webhook"
			c.TLSHosts = []string{svc + "." + c.Namespace + ".svc", svc + "." + c.Namespace, svc, svc + "." + c.Namespace + ".svc.cluster.local"}
		}
	} else if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, fail("tls-cert-file", "--tls-cert-file and --tls-key-file are required unless --tls-self-signed")
	}
	if u, err := url.Parse(c.VaultAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fail("vault-addr", "want http(s)://HOST[:PORT] without user info")
	}
	if c.VaultEnvImage == "" {
		return nil, fail("vault-env-image", "empty")
	}
	for _, a := range c.AllowedVaultAddrs {
		if a == "*" {
			continue
		}
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fail("allowed-vault-addrs", fmt.Sprintf("%q is not scheme://host[:port] or *", a))
		}
	}
	if c.DefaultPullSecret != "" {
		if ns, name, ok := strings.Cut(c.DefaultPullSecret, "/"); !ok || ns == "" || name == "" {
			return nil, fail("default-image-pull-secret", "want NAMESPACE/NAME")
		}
	}
	if (c.KubeCAFile != "" || c.KubeTokenFile != "") && c.KubeServer == "" {
		return nil, fail("kube-server", "required with --kube-ca-file/--kube-token-file")
	}
	for _, a := range envinject.Annotations {
		if a.DefaultEnv == "" {
			continue
		}
		if v := strings.TrimSpace(getenv(a.DefaultEnv)); v != "" {
			c.Defaults[a.Name] = v
		}
	}
	return c, nil
}

// parsePlatform reads OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7.
func parsePlatform(s string) (registry.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	bad := func(p string) bool { return p == "" || strings.ContainsAny(p, " \t") }
	if len(parts) < 2 || len(parts) > 3 || slices.ContainsFunc(parts, bad) {
		return registry.Platform{}, errors.New("want OS/ARCH[/VARIANT], e.g. linux/amd64")
	}
	parts = append(parts, "")
	return registry.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}, nil
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var errNoKube = errors.New("no Kubernetes API configured")

// stringFlag keeps a flag's text for parsing after the environment is
// consulted; boolean flags may be given without a value.
type stringFlag struct {
	value  string
	isBool bool
}

func (f *stringFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value
}
func (f *stringFlag) Set(s string) error { f.value = s; return nil }
func (f *stringFlag) IsBoolFlag() bool   { return f.isBool }
