package envinject

import (
	"slices"
	"strings"
)

// vault-env as an image volume (vault-env-image-volume, webhook-wide
// VAULT_ENV_IMAGE_VOLUME): instead of the copy-vault-env init container and
// its in-memory volume, the vault-env image itself is the pod's vault-env
// volume (volumes[].image, Kubernetes 1.33+ with a runtime that supports it,
// e.g. containerd 2.1+), mounted read-only at /vault: the image keeps the
// binary at its root (/vault-env, a hard link) and the mount points the
// webhook uses below /vault (tls, token, secrets). No copy, no tmpfs pages
// charged to the pod, read-only by construction, one container fewer.
//
// It cannot hold the Vault Agent's token sink (/vault/.vault-token), nor a
// mount point the image does not have: for vault-agent, or a
// vault-configfile-path below /vault other than /vault/secrets, the pod gets
// the copy init container, with a warning.

// imageVolumeDirs are the directories the vault-env image has at its root
// for the mounts below /vault (scripts/image builds them).
var imageVolumeDirs = []string{"tls", "token", "secrets"}

// imageVolumeFallback returns why the image volume cannot be used for the
// pod ("" when it can).
func (s *Settings) imageVolumeFallback() string {
	if s.VaultAgent {
		return "the Vault Agent's token sink (" + AgentTokenFile + ") needs a writable volume"
	}
	if s.agentMode() != AgentNone && strings.HasPrefix(s.ConfigFilePath+"/", MountPath) {
		if slices.Contains(imageVolumeDirs, strings.TrimPrefix(s.ConfigFilePath, MountPath)) {
			return ""
		}
		return AnnotationPrefix + AnnConfigFilePath + " " + s.ConfigFilePath + " is not a directory of the vault-env image"
	}
	return ""
}

// imageVolume is the vault-env volume as an image volume.
func (s *Settings) imageVolume(image string) map[string]any {
	return map[string]any{
		"name":  VolumeName,
		"image": map[string]any{"reference": image, "pullPolicy": s.EnvImagePullPolicy},
	}
}
