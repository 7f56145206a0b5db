package envinject

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// AnnotationPrefix is the prefix of every pod annotation the webhook reads
// (the seed product's names, for drop-in compatibility).
const AnnotationPrefix = "vault.security.banzaicloud.io/"

// MutatedAnnotation marks a pod the webhook has mutated; a pod carrying it is
// never patched again (reinvocation, re-apply).
const MutatedAnnotation = AnnotationPrefix + "mutated"

// Annotation short names (without AnnotationPrefix).
const (
	AnnMutate               = "mutate"
	AnnMutateProbes         = "mutate-probes"
	AnnVaultAddr            = "vault-addr"
	AnnVaultRole            = "vault-role"
	AnnVaultPath            = "vault-path"
	AnnVaultAuthMethod      = "vault-auth-method"
	AnnVaultSkipVerify      = "vault-skip-verify"
	AnnVaultTLSSecret       = "vault-tls-secret"
	AnnVaultClientTimeout   = "vault-client-timeout"
	AnnVaultNamespace       = "vault-namespace"
	AnnIgnoreMissingSecrets = "vault-ignore-missing-secrets"
	AnnEnvDaemon            = "vault-env-daemon"
	AnnEnvDelay             = "vault-env-delay"
	AnnEnvPassthrough       = "vault-env-passthrough"
	AnnEnvFromPath          = "vault-env-from-path"
	AnnEnvImage             = "vault-env-image"
	AnnEnvImagePullPolicy   = "vault-env-image-pull-policy"
	AnnRunAsNonRoot         = "run-as-non-root"
	AnnRunAsUser            = "run-as-user"
	AnnRunAsGroup           = "run-as-group"
	AnnReadOnlyRootFS       = "readonly-root-fs"
	AnnAllowPrivEscalation  = "psp-allow-privilege-escalation"
	AnnRegistrySkipVerify   = "registry-skip-verify"
	AnnLogLevel             = "log-level"
	AnnEnableJSONLog        = "enable-json-log"
	AnnTransitKeyID         = "transit-key-id"
	AnnTransitPath          = "transit-path"
	AnnTransitBatchSize     = "transit-batch-size"
	AnnTokenAuthMount       = "token-auth-mount"
	AnnSATokenVolumeName    = "service-account-token-volume-name"
	AnnVaultAgent           = "vault-agent"
	AnnVaultAgentConfigMap  = "vault-agent-configmap"
	AnnVaultAgentOnce       = "vault-agent-once"
	AnnVaultImage           = "vault-image"
	AnnVaultImagePullPolicy = "vault-image-pull-policy"
	AnnVaultServiceAccount  = "vault-serviceaccount"
	AnnConfigFilePath       = "vault-configfile-path"
	AnnAgentCPURequest      = "vault-agent-cpu-request"
	AnnAgentCPULimit        = "vault-agent-cpu-limit"
	AnnAgentMemoryRequest   = "vault-agent-memory-request"
	AnnAgentMemoryLimit     = "vault-agent-memory-limit"
	AnnAgentEnvVariables    = "vault-agent-env-variables"
	AnnAgentShareProcessNS  = "vault-agent-share-process-namespace"
	AnnEnvImageVolume       = "vault-env-image-volume"
)

// Annotations lists every annotation the webhook reads, in documentation
// order. DefaultEnv names the webhook's own environment variable that sets
// the webhook-wide default (annotation over env over built-in default).
var Annotations = []struct {
	Name, Default, DefaultEnv string
}{
	{AnnMutate, "", ""},
	{AnnMutateProbes, "false", "MUTATE_PROBES"},
	{AnnVaultAddr, "(--vault-addr)", ""},
	{AnnVaultRole, "(ServiceAccount name)", "VAULT_ROLE"},
	{AnnVaultServiceAccount, "(ServiceAccount name)", "VAULT_SERVICEACCOUNT"},
	{AnnVaultPath, "kubernetes", "VAULT_PATH"},
	{AnnVaultAuthMethod, "kubernetes", "VAULT_AUTH_METHOD"},
	{AnnVaultSkipVerify, "false", "VAULT_SKIP_VERIFY"},
	{AnnVaultTLSSecret, "", "VAULT_TLS_SECRET"},
	{AnnVaultClientTimeout, "10s", "VAULT_CLIENT_TIMEOUT"},
	{AnnVaultNamespace, "", "VAULT_NAMESPACE"},
	{AnnIgnoreMissingSecrets, "false", "VAULT_IGNORE_MISSING_SECRETS"},
	{AnnEnvDaemon, "false", "VAULT_ENV_DAEMON"},
	{AnnEnvDelay, "", "VAULT_ENV_DELAY"},
	{AnnEnvPassthrough, "", "VAULT_ENV_PASSTHROUGH"},
	{AnnEnvFromPath, "", ""},
	{AnnEnvImage, "(--vault-env-image)", ""},
	{AnnEnvImagePullPolicy, "IfNotPresent", "VAULT_ENV_IMAGE_PULL_POLICY"},
	{AnnEnvImageVolume, "false", "VAULT_ENV_IMAGE_VOLUME"},
	{AnnRunAsNonRoot, "true", "RUN_AS_NON_ROOT"},
	{AnnRunAsUser, "65534", "RUN_AS_USER"},
	{AnnRunAsGroup, "65534", "RUN_AS_GROUP"},
	{AnnReadOnlyRootFS, "true", "READONLY_ROOT_FS"},
	{AnnAllowPrivEscalation, "false", "PSP_ALLOW_PRIVILEGE_ESCALATION"},
	{AnnRegistrySkipVerify, "false", "REGISTRY_SKIP_VERIFY"},
	{AnnLogLevel, "", "VAULT_LOG_LEVEL"},
	{AnnEnableJSONLog, "false", "ENABLE_JSON_LOG"},
	{AnnTransitKeyID, "", "TRANSIT_KEY_ID"},
	{AnnTransitPath, "", "TRANSIT_PATH"},
	{AnnTransitBatchSize, "", "TRANSIT_BATCH_SIZE"},
	{AnnTokenAuthMount, "", ""},
	{AnnSATokenVolumeName, "/var/run/secrets/kubernetes.io/serviceaccount", "SERVICE_ACCOUNT_TOKEN_VOLUME_NAME"},
	{AnnVaultAgent, "false", "VAULT_AGENT"},
	{AnnVaultAgentConfigMap, "", ""},
	{AnnVaultAgentOnce, "false", "VAULT_AGENT_ONCE"},
	{AnnConfigFilePath, DefaultConfigFilePath, ""},
	{AnnAgentCPURequest, defaultAgentCPURequest, "VAULT_AGENT_CPU_REQUEST"},
	{AnnAgentCPULimit, "", "VAULT_AGENT_CPU_LIMIT"},
	{AnnAgentMemoryRequest, defaultAgentMemoryRequest, "VAULT_AGENT_MEMORY_REQUEST"},
	{AnnAgentMemoryLimit, defaultAgentMemoryLimit, "VAULT_AGENT_MEMORY_LIMIT"},
	{AnnAgentEnvVariables, "", ""},
	{AnnAgentShareProcessNS, "false", "VAULT_AGENT_SHARE_PROCESS_NAMESPACE"},
	{AnnVaultImage, "hashicorp/vault:latest", "VAULT_IMAGE"},
	{AnnVaultImagePullPolicy, "IfNotPresent", "VAULT_IMAGE_PULL_POLICY"},
}

// DefaultConfigFilePath is where the Vault Agent's rendered files appear in
// the application containers (vault-configfile-path).
const DefaultConfigFilePath = "/vault/secrets"

// DefaultSATokenDir is where Kubernetes mounts the ServiceAccount token.
const DefaultSATokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Settings is the effective configuration of one pod's mutation: pod
// annotations over webhook-wide defaults over built-in defaults. Empty string
// fields mean "not set": the matching VAULT_* variable is not written and
// vault-env's own default applies.
type Settings struct {
	Skip                 bool
	MutateProbes         bool
	VaultAddr            string
	VaultRole            string
	VaultPath            string
	AuthMethod           string
	SkipVerify           string
	TLSSecret            string
	ClientTimeout        string
	VaultNamespace       string
	IgnoreMissingSecrets string
	EnvDaemon            string
	EnvDelay             string
	EnvPassthrough       string
	EnvFromPath          string
	EnvImage             string
	EnvImagePullPolicy   string
	RunAsNonRoot         bool
	RunAsUser            int64
	RunAsGroup           int64
	ReadOnlyRootFS       bool
	AllowPrivEscalation  bool
	RegistrySkipVerify   bool
	LogLevel             string
	JSONLog              string
	TransitKeyID         string
	TransitPath          string
	TransitBatchSize     string
	TokenAuthVolume      string
	TokenAuthFile        string
	SATokenDir           string
	VaultAgent           bool
	VaultAgentConfigMap  string
	VaultAgentOnce       bool
	VaultImage           string
	VaultImagePullPolicy string
	// VaultServiceAccount is the vault-role template's serviceaccount key.
	VaultServiceAccount string
	ConfigFilePath      string
	AgentResources      resourcesJSON
	AgentEnv            []corev1.EnvVar
	AgentShareProcessNS bool
	// EnvImageVolume delivers vault-env as an image volume (imagevolume.go).
	EnvImageVolume bool
}

// SettingsError says which annotation (or webhook default) is invalid.
type SettingsError struct {
	Annotation string
	Reason     string
}

func (e *SettingsError) Error() string {
	return fmt.Sprintf("annotation %s%s: %s", AnnotationPrefix, e.Annotation, e.Reason)
}

// settingsSource looks a setting up: the pod annotation first, then the
// webhook-wide default, then the built-in default.
type settingsSource struct {
	annotations map[string]string
	defaults    map[string]string
	errs        []error
}

func (s *settingsSource) raw(name string) (string, bool) {
	if len(s.annotations) > 0 {
		// The key is built on the stack: a map index by string(bytes)
		// does not allocate.
		var buf [128]byte
		k := append(append(buf[:0], AnnotationPrefix...), name...)
		if v, ok := s.annotations[string(k)]; ok {
			return strings.TrimSpace(v), true
		}
	}
	if v, ok := s.defaults[name]; ok && v != "" {
		return strings.TrimSpace(v), true
	}
	return "", false
}

func (s *settingsSource) str(name, def string) string {
	if v, ok := s.raw(name); ok {
		return v
	}
	return def
}

func (s *settingsSource) boolean(name string, def bool) bool {
	if v := s.boolText(name); v != "" {
		return v == "true"
	}
	return def
}

// boolText validates a boolean and returns it canonically, or "" when unset.
func (s *settingsSource) boolText(name string) string {
	v, ok := s.raw(name)
	if !ok || v == "" {
		return ""
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		s.errs = append(s.errs, &SettingsError{Annotation: name, Reason: "not a boolean"})
		return ""
	}
	return strconv.FormatBool(b)
}

func (s *settingsSource) integer(name string, def int64) int64 {
	v, ok := s.raw(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		s.errs = append(s.errs, &SettingsError{Annotation: name, Reason: "not a non-negative integer"})
		return def
	}
	return n
}

func (s *settingsSource) duration(name string) string {
	v, ok := s.raw(name)
	if !ok || v == "" {
		return ""
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		s.errs = append(s.errs, &SettingsError{Annotation: name, Reason: "not a duration (like 10s)"})
		return ""
	}
	return v
}

func (s *settingsSource) oneOf(name string, allowed ...string) string {
	v, ok := s.raw(name)
	if !ok || v == "" {
		return ""
	}
	if slices.Contains(allowed, v) {
		return v
	}
	s.errs = append(s.errs, &SettingsError{Annotation: name, Reason: "must be one of " + strings.Join(allowed, ", ")})
	return ""
}

var pullPolicies = []string{"Always", "IfNotPresent", "Never"}

// parseSettings merges the pod's annotations over the webhook defaults. It
// validates every value and returns all problems at once.
func parseSettings(annotations, defaults map[string]string, cfg *Config, serviceAccount string) (Settings, error) {
	src := &settingsSource{annotations: annotations, defaults: defaults}
	var s Settings
	switch v, _ := src.raw(AnnMutate); v {
	case "skip":
		s.Skip = true
	case "":
	default:
		src.errs = append(src.errs, &SettingsError{Annotation: AnnMutate, Reason: `the only value is "skip"`})
	}
	s.MutateProbes = src.boolean(AnnMutateProbes, false)
	s.VaultAddr = cfg.VaultAddr
	s.VaultRole = cmp.Or(src.str(AnnVaultRole, ""), serviceAccount)
	s.VaultPath = src.str(AnnVaultPath, "")
	s.AuthMethod = src.oneOf(AnnVaultAuthMethod, "kubernetes", "jwt")
	if cfg.AllowSkipVerify {
		s.SkipVerify = src.boolText(AnnVaultSkipVerify)
	} else {
		// The channel carries the pod's ServiceAccount token: only the
		// operator turns its verification off, whatever the pod says (the
		// ignored annotation gets a warning: annotationWarnings).
		s.SkipVerify = (&settingsSource{defaults: defaults}).boolText(AnnVaultSkipVerify)
	}
	s.TLSSecret = src.str(AnnVaultTLSSecret, "")
	if s.TLSSecret != "" && !isDNSLabelish(s.TLSSecret) {
		src.errs = append(src.errs, &SettingsError{Annotation: AnnVaultTLSSecret, Reason: "not a Secret name"})
	}
	s.ClientTimeout = src.duration(AnnVaultClientTimeout)
	s.VaultNamespace = src.str(AnnVaultNamespace, "")
	s.IgnoreMissingSecrets = src.boolText(AnnIgnoreMissingSecrets)
	s.EnvDaemon = src.boolText(AnnEnvDaemon)
	s.EnvDelay = src.duration(AnnEnvDelay)
	s.EnvPassthrough = src.str(AnnEnvPassthrough, "")
	s.EnvFromPath = src.str(AnnEnvFromPath, "")
	s.EnvImage = src.str(AnnEnvImage, cfg.VaultEnvImage)
	s.EnvImagePullPolicy = cmp.Or(src.oneOf(AnnEnvImagePullPolicy, pullPolicies...), "IfNotPresent")
	s.RunAsNonRoot = src.boolean(AnnRunAsNonRoot, true)
	s.RunAsUser = src.integer(AnnRunAsUser, 65534)
	s.RunAsGroup = src.integer(AnnRunAsGroup, 65534)
	s.ReadOnlyRootFS = src.boolean(AnnReadOnlyRootFS, true)
	s.AllowPrivEscalation = src.boolean(AnnAllowPrivEscalation, false)
	s.RegistrySkipVerify = src.boolean(AnnRegistrySkipVerify, false)
	s.LogLevel = src.oneOf(AnnLogLevel, "debug", "info", "warn", "error")
	s.JSONLog = src.boolText(AnnEnableJSONLog)
	s.TransitKeyID = src.str(AnnTransitKeyID, "")
	s.TransitPath = src.str(AnnTransitPath, "")
	if v := src.str(AnnTransitBatchSize, ""); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			src.errs = append(src.errs, &SettingsError{Annotation: AnnTransitBatchSize, Reason: "not a positive integer"})
		} else {
			s.TransitBatchSize = v
		}
	}
	if v := src.str(AnnTokenAuthMount, ""); v != "" {
		vol, file, ok := strings.Cut(v, ":")
		if !ok || !isDNSLabelish(vol) || file == "" || strings.Contains(file, "/") || file == "." || file == ".." {
			src.errs = append(src.errs, &SettingsError{Annotation: AnnTokenAuthMount, Reason: `must be "VOLUME:FILE"`})
		} else {
			s.TokenAuthVolume, s.TokenAuthFile = vol, file
		}
	}
	s.SATokenDir = strings.TrimSuffix(src.str(AnnSATokenVolumeName, DefaultSATokenDir), "/")
	if !strings.HasPrefix(s.SATokenDir, "/") {
		src.errs = append(src.errs, &SettingsError{Annotation: AnnSATokenVolumeName, Reason: "must be an absolute mount path"})
	}
	s.VaultAgent = src.boolean(AnnVaultAgent, false)
	s.VaultAgentConfigMap = src.str(AnnVaultAgentConfigMap, "")
	if s.VaultAgentConfigMap != "" && !isDNSLabelish(s.VaultAgentConfigMap) {
		src.errs = append(src.errs, &SettingsError{Annotation: AnnVaultAgentConfigMap, Reason: "not a ConfigMap name"})
	}
	s.VaultAgentOnce = src.boolean(AnnVaultAgentOnce, false)
	s.VaultImage = src.str(AnnVaultImage, "hashicorp/vault:latest")
	s.VaultImagePullPolicy = cmp.Or(src.oneOf(AnnVaultImagePullPolicy, pullPolicies...), "IfNotPresent")
	s.VaultServiceAccount = src.str(AnnVaultServiceAccount, serviceAccount)
	parseAgentSettings(src, &s)
	s.EnvImageVolume = src.boolean(AnnEnvImageVolume, false)
	if len(src.errs) > 0 {
		return s, SettingsErrors(src.errs)
	}
	return s, nil
}

// SettingsErrors is every invalid annotation of one pod.
type SettingsErrors []error

func (e SettingsErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

// isDNSLabelish accepts Kubernetes object names (DNS-1123 subdomains).
func isDNSLabelish(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
