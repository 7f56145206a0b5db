package admission

import (
	"bytes"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// decodePodStrict decodes a pod rejecting unknown fields: a patch that
// writes a misspelt field fails here.
func decodePodStrict(b []byte) (*corev1.Pod, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p corev1.Pod
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// validateMutated checks the invariants of a pod after the webhook's patch:
// the structural rules the apiserver enforces that a patch could break, and
// the shape of the mutation itself.
func validateMutated(p *corev1.Pod) error {
	vols := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		if vols[v.Name] {
			return fmt.Errorf("duplicate volume %q", v.Name)
		}
		vols[v.Name] = true
	}
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	for _, c := range all {
		if names[c.Name] {
			return fmt.Errorf("duplicate container %q", c.Name)
		}
		names[c.Name] = true
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				return fmt.Errorf("container %q mounts unknown volume %q", c.Name, m.Name)
			}
			if paths[m.MountPath] {
				return fmt.Errorf("container %q mounts %s twice", c.Name, m.MountPath)
			}
			paths[m.MountPath] = true
		}
		seen := map[string]bool{}
		for _, e := range c.Env {
			if seen[e.Name] && (len(e.Name) > 6 && e.Name[:6] == "VAULT_") {
				return fmt.Errorf("container %q has %s twice", c.Name, e.Name)
			}
			seen[e.Name] = true
		}
		wrapped := len(c.Command) == 1 && c.Command[0] == envinject.BinaryPath
		if wrapped {
			if !paths[envinject.MountPath] {
				return fmt.Errorf("wrapped container %q does not mount %s", c.Name, envinject.MountPath)
			}
			if len(c.EnvFrom) == 0 && (!seen["VAULT_ADDR"] || !seen["VAULT_ROLE"]) {
				return fmt.Errorf("wrapped container %q lacks VAULT_ADDR/VAULT_ROLE", c.Name)
			}
		}
	}
	if _, ok := p.Annotations[envinject.MutatedAnnotation]; ok {
		// The injected init containers come first: the Vault Agent (when
		// there is one), then copy-vault-env (when a container is wrapped).
		inits := p.Spec.InitContainers
		if len(inits) > 0 && inits[0].Name == envinject.AgentContainerName {
			inits = inits[1:]
		}
		anyWrapped := false
		for _, c := range all {
			if len(c.Command) == 1 && c.Command[0] == envinject.BinaryPath {
				anyWrapped = true
				for _, m := range c.VolumeMounts {
					if m.Name == envinject.VolumeName && !m.ReadOnly {
						return fmt.Errorf("wrapped container %q mounts %s read-write", c.Name, envinject.VolumeName)
					}
				}
			}
		}
		imageVolume := false
		for _, v := range p.Spec.Volumes {
			if v.Name == envinject.VolumeName && v.Image != nil {
				imageVolume = true
			}
		}
		if imageVolume {
			for _, c := range p.Spec.InitContainers {
				if c.Name == envinject.InitContainerName {
					return fmt.Errorf("%s with an image volume", envinject.InitContainerName)
				}
			}
		} else if anyWrapped {
			if len(inits) == 0 || inits[0].Name != envinject.InitContainerName {
				return fmt.Errorf("%s does not come right after the agent (or first)", envinject.InitContainerName)
			}
			if !vols[envinject.VolumeName] {
				return fmt.Errorf("no %s volume", envinject.VolumeName)
			}
		}
	}
	return nil
}
