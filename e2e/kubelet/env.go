package kubelet

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ErrNotFound is what an Objects implementation returns for a Secret or
// ConfigMap that does not exist.
var ErrNotFound = errors.New("not found")

// Objects looks up the Secrets and ConfigMaps of the pod's namespace.
type Objects interface {
	Secret(name string) (*corev1.Secret, error)       // ErrNotFound when missing
	ConfigMap(name string) (*corev1.ConfigMap, error) // ErrNotFound when missing
}

// PodIP is what status.podIP, status.podIPs and status.hostIP read as: the
// stand-in runs every pod on the loopback interface.
const PodIP = "127.0.0.1"

// DefaultPath is the PATH a container gets (the usual image default).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ServiceEnv returns the variables the kubelet gives every container for
// the `kubernetes` Service, pointing at apiServer (host:port). Service links
// of the pod's own namespace are not generated.
func ServiceEnv(apiServer string) (map[string]string, error) {
	host, port, err := net.SplitHostPort(apiServer)
	if err != nil {
		return nil, fmt.Errorf("failed to parse api server address %q: %w", apiServer, err)
	}
	addr := "tcp://" + net.JoinHostPort(host, port)
	p := "KUBERNETES_PORT_" + port + "_TCP"
	return map[string]string{
		"KUBERNETES_SERVICE_HOST":       host,
		"KUBERNETES_SERVICE_PORT":       port,
		"KUBERNETES_SERVICE_PORT_HTTPS": port,
		"KUBERNETES_PORT":               addr,
		p:                               addr,
		p + "_PROTO":                    "tcp",
		p + "_PORT":                     port,
		p + "_ADDR":                     host,
	}, nil
}

// ContainerEnv computes the variables the kubelet hands the runtime for a
// container: the kubernetes Service variables (service) at the bottom; then
// every envFrom source in order (later ones win, keys get the prefix, values
// are not expanded); then env in order, where a value's $(VAR) references
// see every variable defined before it and the service variables (valueFrom
// results are not expanded). The same map expands command and args.
func ContainerEnv(pod *corev1.Pod, c *corev1.Container, objs Objects, service map[string]string) (map[string]string, error) {
	vars := make(map[string]string, len(service)+len(c.Env))
	for _, ef := range c.EnvFrom {
		data, err := envFromData(ef, objs)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve envFrom of container %s: %w", c.Name, err)
		}
		for k, v := range data {
			name := ef.Prefix + k
			if !validEnvName(name) {
				continue // the kubelet skips such keys with an event
			}
			vars[name] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			vars[e.Name] = Expand(e.Value, mapLookup(vars, service))
			continue
		}
		v, ok, err := envValueFrom(pod, e, objs)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve env %s of container %s: %w", e.Name, c.Name, err)
		}
		if ok {
			vars[e.Name] = v
		}
	}
	for k, v := range service {
		if _, ok := vars[k]; !ok {
			vars[k] = v
		}
	}
	return vars, nil
}

// ProcessEnv merges the image's variables (base: PATH, HOSTNAME, HOME) under
// the container's, as a container runtime does, into sorted KEY=VALUE lines.
func ProcessEnv(base, container map[string]string) []string {
	all := make(map[string]string, len(base)+len(container))
	for k, v := range base {
		all[k] = v
	}
	for k, v := range container {
		all[k] = v
	}
	out := make([]string, 0, len(all))
	for k, v := range all {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// validEnvName is the relaxed rule of current Kubernetes: printable ASCII
// without '=', not empty.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 32 || s[i] > 126 || s[i] == '=' {
			return false
		}
	}
	return true
}

func envFromData(ef corev1.EnvFromSource, objs Objects) (map[string]string, error) {
	switch {
	case ef.ConfigMapRef != nil:
		optional := ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional
		cm, err := objs.ConfigMap(ef.ConfigMapRef.Name)
		if errors.Is(err, ErrNotFound) && optional {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read envFrom configmap %s: %w", ef.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case ef.SecretRef != nil:
		optional := ef.SecretRef.Optional != nil && *ef.SecretRef.Optional
		s, err := objs.Secret(ef.SecretRef.Name)
		if errors.Is(err, ErrNotFound) && optional {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read envFrom secret %s: %w", ef.SecretRef.Name, err)
		}
		data := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, nil
	default:
		return nil, errors.New("failed to read envFrom: neither configMapRef nor secretRef is set")
	}
}

// envValueFrom resolves one valueFrom; ok is false when an optional source
// is missing (the variable is then not set at all).
func envValueFrom(pod *corev1.Pod, e corev1.EnvVar, objs Objects) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err := FieldValue(pod, vf.FieldRef.FieldPath)
		return v, err == nil, err
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := objs.Secret(ref.Name)
		if errors.Is(err, ErrNotFound) && optional {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("failed to read secret %s: %w", ref.Name, err)
		}
		v, found := s.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %s has no key %q", ref.Name, ref.Key)
		}
		return string(v), true, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := objs.ConfigMap(ref.Name)
		if errors.Is(err, ErrNotFound) && optional {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("failed to read configmap %s: %w", ref.Name, err)
		}
		if v, found := cm.Data[ref.Key]; found {
			return v, true, nil
		}
		if v, found := cm.BinaryData[ref.Key]; found {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configmap %s has no key %q", ref.Name, ref.Key)
	case vf.ResourceFieldRef != nil:
		return "", false, fmt.Errorf("resourceFieldRef %s is not supported by the kubelet stand-in", vf.ResourceFieldRef.Resource)
	case vf.FileKeyRef != nil:
		return "", false, errors.New("fileKeyRef is not supported by the kubelet stand-in")
	default:
		return "", false, errors.New("valueFrom has no source")
	}
}

// FieldValue reads a downward API field of the pod. Pod and host IPs read
// as PodIP.
func FieldValue(pod *corev1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs":
		return PodIP, nil
	}
	return "", fmt.Errorf("field %q is not supported", path)
}

// subscript matches `prefix['key']` and returns key.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as the downward API does:
// sorted key="value" lines, values quoted like Go's %q.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(lines, "\n")
}
