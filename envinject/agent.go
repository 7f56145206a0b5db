package envinject

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The Vault Agent, the seed product's second way to deliver secrets: the
// user's ConfigMap (vault-agent-configmap, key config.hcl) configures a
// `vault agent` whose templates render files into an in-memory volume that
// the application containers mount at vault-configfile-path.
//
//   - vault-agent: "true" (or vault-agent-once: "true"): the agent is the
//     first init container and runs with -exit-after-auth: it logs in,
//     writes its sinks (the token vault-env then uses, at AgentTokenFile,
//     when vault-agent is set) and renders its templates once.
//   - vault-agent-configmap alone: the agent is a native sidecar (an init
//     container with restartPolicy Always) that keeps re-rendering; a
//     startup probe holds the later containers back until it rendered a
//     file (or wrote the token), and it stops when the app containers do,
//     so Jobs complete.
//
// The agent runs `vault agent` directly (not the image's entrypoint, which
// wants setcap) with the same restricted security context as every injected
// container.

// AgentMode is how the Vault Agent runs in a pod.
type AgentMode int

// The agent modes.
const (
	AgentNone    AgentMode = iota
	AgentInit              // first init container, -exit-after-auth
	AgentSidecar           // native sidecar
)

// Names and paths of the agent's volumes.
const (
	AgentSecretsVolumeName = "vault-agent-secrets"
	agentSecretsSizeLimit  = "64Mi"
)

// agentMode is the pod's agent mode.
func (s *Settings) agentMode() AgentMode {
	switch {
	case s.VaultAgentConfigMap == "":
		return AgentNone
	case s.VaultAgent || s.VaultAgentOnce:
		return AgentInit
	default:
		return AgentSidecar
	}
}

// Default resources of the agent (annotations vault-agent-cpu-request, ...).
// Measured on the sandbox's node (cgroup v1, vault 1.21.1 sidecar rendering
// one template): peak 80 MiB charged, of which 21 MiB RSS and the rest page
// cache of the 360 MB binary (reclaimable). The request covers the RSS with
// room; the limit leaves the page cache room without OOM kills.
const (
	defaultAgentCPURequest    = "50m"
	defaultAgentMemoryRequest = "64Mi"
	defaultAgentMemoryLimit   = "256Mi"
)

// parseAgentSettings reads the agent's annotations into s.
func parseAgentSettings(src *settingsSource, s *Settings) {
	s.ConfigFilePath = strings.TrimSuffix(src.str(AnnConfigFilePath, DefaultConfigFilePath), "/")
	switch p := s.ConfigFilePath + "/"; {
	case !isPlainAbsPath(s.ConfigFilePath):
		src.errs = append(src.errs, &SettingsError{Annotation: AnnConfigFilePath, Reason: "must be an absolute path of letters, digits, '.', '_', '-' and '/'"})
	case p == MountPath || strings.HasPrefix(p, TLSMountPath) || strings.HasPrefix(p, TokenMountPath) || strings.HasPrefix(p, AgentConfigMountPath):
		src.errs = append(src.errs, &SettingsError{Annotation: AnnConfigFilePath, Reason: "is where the webhook mounts vault-env, the Vault CA, a token or the agent's config"})
	}
	s.AgentResources = resourcesJSON{Requests: map[string]string{}, Limits: map[string]string{}}
	for _, r := range []struct {
		name, def string
		into      map[string]string
		key       string
	}{
		{AnnAgentCPURequest, defaultAgentCPURequest, s.AgentResources.Requests, "cpu"},
		{AnnAgentCPULimit, "", s.AgentResources.Limits, "cpu"},
		{AnnAgentMemoryRequest, defaultAgentMemoryRequest, s.AgentResources.Requests, "memory"},
		{AnnAgentMemoryLimit, defaultAgentMemoryLimit, s.AgentResources.Limits, "memory"},
	} {
		v := src.str(r.name, r.def)
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() < 0 {
			src.errs = append(src.errs, &SettingsError{Annotation: r.name, Reason: "not a resource quantity (like 100m or 128Mi)"})
			continue
		}
		r.into[r.key] = q.String()
	}
	if v := src.str(AnnAgentEnvVariables, ""); v != "" {
		// encoding/json matches the keys name and value case-insensitively,
		// as the seed product does.
		var vars []struct{ Name, Value string }
		if err := json.Unmarshal([]byte(v), &vars); err != nil {
			src.errs = append(src.errs, &SettingsError{Annotation: AnnAgentEnvVariables, Reason: `not a JSON list of {"name": ..., "value": ...}`})
		}
		for _, e := range vars {
			if !isEnvName(e.Name) {
				src.errs = append(src.errs, &SettingsError{Annotation: AnnAgentEnvVariables, Reason: "not an environment variable name: " + quoteShort(e.Name)})
				continue
			}
			s.AgentEnv = append(s.AgentEnv, corev1.EnvVar{Name: e.Name, Value: e.Value})
		}
	}
	s.AgentShareProcessNS = src.boolean(AnnAgentShareProcessNS, false)
}

// isPlainAbsPath accepts absolute paths made of [A-Za-z0-9._/-] with no
// "." or ".." element: safe to write into a probe's shell command.
func isPlainAbsPath(p string) bool {
	if !strings.HasPrefix(p, "/") || p == "/" || len(p) > 256 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/-", r)) {
			return false
		}
	}
	for _, el := range strings.Split(p[1:], "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return true
}

// isEnvName accepts C identifiers (what a shell and vault agent can read).
func isEnvName(n string) bool {
	if n == "" || len(n) > 256 {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// quoteShort quotes s for a message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// agentContainer is the Vault Agent container of the pod's mode. It mounts
// the rendered-files volume at vault-configfile-path, its config, the Vault
// CA and the ServiceAccount token mount of the app containers (the apiserver
// mounts tokens only into containers that existed before the webhooks ran),
// and, when the pod has one, the vault-env volume (read-write: the token
// sink /vault/.vault-token lives there).
func (b *builder) agentContainer(withVaultEnv bool) containerJSON {
	s := b.s
	cmd := []string{"vault", "agent", "-config=" + AgentConfigMountPath + "config.hcl"}
	c := corev1.Container{
		Name:                     AgentContainerName,
		Image:                    s.VaultImage,
		ImagePullPolicy:          corev1.PullPolicy(s.VaultImagePullPolicy),
		SecurityContext:          s.securityContext(),
		Env:                      []corev1.EnvVar{{Name: "VAULT_ADDR", Value: s.VaultAddr}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	// The vault-env volume first: the agent, which starts before every
	// other container, then creates the mount points below /vault in it,
	// which the app containers (where it is read-only) need.
	if withVaultEnv {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, MountPath: MountPath})
	}
	c.VolumeMounts = append(c.VolumeMounts,
		corev1.VolumeMount{Name: AgentSecretsVolumeName, MountPath: s.ConfigFilePath},
		corev1.VolumeMount{Name: AgentConfigVolumeName, MountPath: AgentConfigMountPath, ReadOnly: true})
	if s.SkipVerify != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: "VAULT_SKIP_VERIFY", Value: s.SkipVerify})
	}
	if s.VaultNamespace != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: "VAULT_NAMESPACE", Value: s.VaultNamespace})
	}
	if s.TLSSecret != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: "VAULT_CACERT", Value: TLSMountPath + "ca.crt"})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: TLSVolumeName, MountPath: TLSMountPath, ReadOnly: true})
	}
	c.Env = append(c.Env, s.AgentEnv...)
	if b.saMount != nil {
		c.VolumeMounts = append(c.VolumeMounts, *b.saMount)
	}
	if s.agentMode() == AgentInit {
		cmd = append(cmd, "-exit-after-auth")
	} else {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
		c.StartupProbe = &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c",
				"ls -A " + s.ConfigFilePath + " | grep -q . || test -s " + AgentTokenFile}}},
			PeriodSeconds:    1,
			FailureThreshold: 120,
		}
	}
	c.Command = cmd
	return containerJSON{Container: c, Resources: s.AgentResources}
}

// agentSecretsVolume is the in-memory volume the agent renders into.
var agentSecretsVolume = memoryVolume(AgentSecretsVolumeName, agentSecretsSizeLimit)

// findSATokenMount returns the first ServiceAccount token mount (at dir) of
// the pod's containers, or nil.
func findSATokenMount(pod *corev1.Pod, dir string) *corev1.VolumeMount {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			for _, vm := range c.VolumeMounts {
				if strings.TrimSuffix(vm.MountPath, "/") == dir {
					v := vm
					return &v
				}
			}
		}
	}
	return nil
}
