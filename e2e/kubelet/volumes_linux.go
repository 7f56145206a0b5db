package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
)

// prepareVolumes materialises every volume that the init containers or
// the chosen container mount, under cfg.Root/volumes.
func (p *podRun) prepareVolumes(ctx context.Context, main *corev1.Container) error {
	needed := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, p.pod.Spec.InitContainers...), *main) {
		for _, m := range c.VolumeMounts {
			needed[m.Name] = true
		}
	}
	var fsGroup *int64
	if sc := p.pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for i := range p.pod.Spec.Volumes {
		v := &p.pod.Spec.Volumes[i]
		if !needed[v.Name] {
			continue
		}
		dir := filepath.Join(p.cfg.Root, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("failed to create volume %s: %w", v.Name, err)
		}
		switch {
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium == corev1.StorageMediumMemory {
				opts := "mode=0777"
				if v.EmptyDir.SizeLimit != nil && !v.EmptyDir.SizeLimit.IsZero() {
					opts += ",size=" + strconv.FormatInt(v.EmptyDir.SizeLimit.Value(), 10)
				}
				if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
					return fmt.Errorf("failed to mount tmpfs for volume %s: %w", v.Name, err)
				}
			}
			if err := os.Chmod(dir, 0o777); err != nil { // the kubelet's emptyDir mode
				return fmt.Errorf("failed to create volume %s: %w", v.Name, err)
			}
			if fsGroup != nil {
				_ = os.Chown(dir, 0, int(*fsGroup))
			}
		case v.HostPath != nil:
			dir = v.HostPath.Path
			if v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathDirectoryOrCreate {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("failed to create hostPath volume %s: %w", v.Name, err)
				}
			}
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("failed to use hostPath volume %s: %w", v.Name, err)
			}
		case v.Secret != nil, v.ConfigMap != nil, v.DownwardAPI != nil, v.Projected != nil:
			files, err := VolumeFiles(p.pod, v, p.objs, p.tokenSource(ctx))
			if err != nil {
				return err
			}
			// Like the kubelet: these volumes live in memory.
			if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
				return fmt.Errorf("failed to mount tmpfs for volume %s: %w", v.Name, err)
			}
			if err := writeVolumeFiles(dir, files, fsGroup); err != nil {
				return fmt.Errorf("failed to write volume %s: %w", v.Name, err)
			}
		default:
			return fmt.Errorf("volume %s: only emptyDir, hostPath, secret, configMap, downwardAPI and projected volumes are supported by the kubelet stand-in", v.Name)
		}
		p.volumes[v.Name] = dir
	}
	return nil
}

func writeVolumeFiles(dir string, files []VolumeFile, fsGroup *int64) error {
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		mode := f.Mode
		if fsGroup != nil {
			mode |= 0o040 // group-readable, like the kubelet's volume ownership
		}
		if err := os.WriteFile(path, f.Data, mode); err != nil {
			return err
		}
		if err := os.Chmod(path, mode); err != nil { // not subject to umask
			return err
		}
		if fsGroup != nil {
			if err := os.Chown(path, 0, int(*fsGroup)); err != nil {
				return err
			}
		}
	}
	return nil
}

// tokenSource issues tokens for the pod's ServiceAccount, bound to the pod.
func (p *podRun) tokenSource(ctx context.Context) TokenSource {
	return func(audience string, exp int64) ([]byte, error) {
		sa := p.pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.pod.Name, UID: p.pod.UID},
		}}
		if audience != "" {
			req.Spec.Audiences = []string{audience}
		}
		tr, err := p.client.CreateToken(ctx, p.pod.Namespace, sa, req)
		if err != nil {
			return nil, err
		}
		return []byte(tr.Status.Token), nil
	}
}
