package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// defaultFileMode is the kubelet's default for secret, configMap,
// downwardAPI and projected volume files (defaultMode 0644).
const defaultFileMode fs.FileMode = 0o644

// VolumeFile is one file of a secret, configMap, downwardAPI or projected
// volume, relative to the volume's root.
type VolumeFile struct {
	Path string // relative, cleaned, never escaping the volume
	Data []byte
	Mode fs.FileMode
}

// TokenSource issues a ServiceAccount token bound to the pod (the
// TokenRequest API); audience empty means the API server's default.
type TokenSource func(audience string, expirationSeconds int64) ([]byte, error)

// defaultTokenExpiration is serviceAccountToken's default expirationSeconds.
const defaultTokenExpiration = 3600

// VolumeFiles computes the files of a volume that the kubelet writes itself
// (secret, configMap, downwardAPI, projected), sorted by path. An optional
// source that does not exist contributes no files.
func VolumeFiles(pod *corev1.Pod, v *corev1.Volume, objs Objects, tokens TokenSource) ([]VolumeFile, error) {
	var files []VolumeFile
	var err error
	switch {
	case v.Secret != nil:
		files, err = secretFiles(v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, modeOr(v.Secret.DefaultMode, defaultFileMode), objs)
	case v.ConfigMap != nil:
		files, err = configMapFiles(v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, modeOr(v.ConfigMap.DefaultMode, defaultFileMode), objs)
	case v.DownwardAPI != nil:
		files, err = downwardFiles(pod, v.DownwardAPI.Items, modeOr(v.DownwardAPI.DefaultMode, defaultFileMode))
	case v.Projected != nil:
		files, err = projectedFiles(pod, v.Projected, objs, tokens)
	default:
		return nil, fmt.Errorf("volume %s: not a secret, configMap, downwardAPI or projected volume", v.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to build volume %s: %w", v.Name, err)
	}
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		p, err := cleanRelative(f.Path)
		if err != nil {
			return nil, fmt.Errorf("failed to build volume %s: %w", v.Name, err)
		}
		if seen[p] {
			return nil, fmt.Errorf("failed to build volume %s: two sources write %s", v.Name, p)
		}
		seen[p] = true
		files[i].Path = p
	}
	slices.SortFunc(files, func(a, b VolumeFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func modeOr(m *int32, def fs.FileMode) fs.FileMode {
	if m == nil {
		return def
	}
	return fs.FileMode(*m) & 0o777
}

// cleanRelative rejects absolute paths and paths that leave the volume.
func cleanRelative(p string) (string, error) {
	c := path.Clean(p)
	if p == "" || path.IsAbs(p) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q is not a relative path inside the volume", p)
	}
	return c, nil
}

// keyFiles maps data to files: every key when items is empty, else the
// listed keys at their paths (a missing listed key is an error unless
// optional).
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, optional bool, mode fs.FileMode) ([]VolumeFile, error) {
	var files []VolumeFile
	if len(items) == 0 {
		for k, v := range data {
			files = append(files, VolumeFile{Path: k, Data: v, Mode: mode})
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %s has no key %q", kind, name, it.Key)
		}
		files = append(files, VolumeFile{Path: it.Path, Data: v, Mode: modeOr(it.Mode, mode)})
	}
	return files, nil
}

func secretFiles(name string, items []corev1.KeyToPath, optional *bool, mode fs.FileMode, objs Objects) ([]VolumeFile, error) {
	opt := optional != nil && *optional
	s, err := objs.Secret(name)
	if errors.Is(err, ErrNotFound) && opt {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read secret %s: %w", name, err)
	}
	return keyFiles("secret", name, s.Data, items, opt, mode)
}

func configMapFiles(name string, items []corev1.KeyToPath, optional *bool, mode fs.FileMode, objs Objects) ([]VolumeFile, error) {
	opt := optional != nil && *optional
	cm, err := objs.ConfigMap(name)
	if errors.Is(err, ErrNotFound) && opt {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read configmap %s: %w", name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", name, data, items, opt, mode)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode fs.FileMode) ([]VolumeFile, error) {
	var files []VolumeFile
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI item %s: only fieldRef is supported by the kubelet stand-in", it.Path)
		}
		v, err := FieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
		files = append(files, VolumeFile{Path: it.Path, Data: []byte(v), Mode: modeOr(it.Mode, mode)})
	}
	return files, nil
}

func projectedFiles(pod *corev1.Pod, p *corev1.ProjectedVolumeSource, objs Objects, tokens TokenSource) ([]VolumeFile, error) {
	mode := modeOr(p.DefaultMode, defaultFileMode)
	var files []VolumeFile
	for _, src := range p.Sources {
		var fs []VolumeFile
		var err error
		switch {
		case src.Secret != nil:
			fs, err = secretFiles(src.Secret.Name, src.Secret.Items, src.Secret.Optional, mode, objs)
		case src.ConfigMap != nil:
			fs, err = configMapFiles(src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, mode, objs)
		case src.DownwardAPI != nil:
			fs, err = downwardFiles(pod, src.DownwardAPI.Items, mode)
		case src.ServiceAccountToken != nil:
			sat := src.ServiceAccountToken
			exp := int64(defaultTokenExpiration)
			if sat.ExpirationSeconds != nil {
				exp = *sat.ExpirationSeconds
			}
			var tok []byte
			tok, err = tokens(sat.Audience, exp)
			fs = []VolumeFile{{Path: sat.Path, Data: tok, Mode: mode}}
		default:
			err = errors.New("only secret, configMap, downwardAPI and serviceAccountToken projections are supported by the kubelet stand-in")
		}
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	return files, nil
}
