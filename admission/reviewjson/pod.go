package reviewjson

import corev1 "k8s.io/api/core/v1"

// The fields of an AdmissionReview the webhook reads, written once: the
// fast decoder reads exactly these, and Project keeps exactly these of what
// encoding/json decoded. Whoever makes the mutation read another Pod field
// adds it here; the golden tests (decoded through this package) catch one
// that is missing. Tables are leaves where the apiserver's small structs
// carry fields the mutation does not read (an env var's resourceFieldRef, a
// volume mount's propagation, ...): those are decoded whole.

var reviewTable = object(
	str("apiVersion", func(r *Review) *string { return &r.APIVersion }),
	str("kind", func(r *Review) *string { return &r.Kind }),
	ptr("request", func(r *Review) **Request { return &r.Request }, requestTable),
)

var requestTable = object(
	str("uid", func(r *Request) *string { return &r.UID }),
	obj("kind", func(r *Request) *GVK { return &r.Kind }, object(
		str("group", func(k *GVK) *string { return &k.Group }),
		str("version", func(k *GVK) *string { return &k.Version }),
		str("kind", func(k *GVK) *string { return &k.Kind }),
	)),
	str("subResource", func(r *Request) *string { return &r.SubResource }),
	str("namespace", func(r *Request) *string { return &r.Namespace }),
	str("operation", func(r *Request) *string { return &r.Operation }),
	optBool("dryRun", func(r *Request) **bool { return &r.DryRun }),
	ptr("object", func(r *Request) **corev1.Pod { return &r.Pod }, podTable),
)

var podTable = object(
	// ObjectMeta's fields, set on the Pod itself (it embeds them).
	obj("metadata", func(p *corev1.Pod) *corev1.Pod { return p }, object(
		str("name", func(p *corev1.Pod) *string { return &p.Name }),
		str("generateName", func(p *corev1.Pod) *string { return &p.GenerateName }),
		str("namespace", func(p *corev1.Pod) *string { return &p.Namespace }),
		strMap("annotations", func(p *corev1.Pod) *map[string]string { return &p.Annotations }),
	)),
	obj("spec", func(p *corev1.Pod) *corev1.PodSpec { return &p.Spec }, object(
		str("serviceAccountName", func(s *corev1.PodSpec) *string { return &s.ServiceAccountName }),
		array("imagePullSecrets", func(s *corev1.PodSpec) *[]corev1.LocalObjectReference { return &s.ImagePullSecrets }, leaf(
			str("name", func(r *corev1.LocalObjectReference) *string { return &r.Name }),
		)),
		strMap("nodeSelector", func(s *corev1.PodSpec) *map[string]string { return &s.NodeSelector }),
		viaJSON("affinity", func(s *corev1.PodSpec) **corev1.Affinity { return &s.Affinity }),
		array("volumes", func(s *corev1.PodSpec) *[]corev1.Volume { return &s.Volumes }, object(
			str("name", func(v *corev1.Volume) *string { return &v.Name }),
		)),
		array("initContainers", func(s *corev1.PodSpec) *[]corev1.Container { return &s.InitContainers }, containerTable),
		array("containers", func(s *corev1.PodSpec) *[]corev1.Container { return &s.Containers }, containerTable),
	)),
)

var containerTable = object(
	str("name", func(c *corev1.Container) *string { return &c.Name }),
	str("image", func(c *corev1.Container) *string { return &c.Image }),
	strs("command", func(c *corev1.Container) *[]string { return &c.Command }),
	strs("args", func(c *corev1.Container) *[]string { return &c.Args }),
	array("env", func(c *corev1.Container) *[]corev1.EnvVar { return &c.Env }, leaf(
		str("name", func(e *corev1.EnvVar) *string { return &e.Name }),
		str("value", func(e *corev1.EnvVar) *string { return &e.Value }),
		ptr("valueFrom", func(e *corev1.EnvVar) **corev1.EnvVarSource { return &e.ValueFrom }, leaf(
			ptr("secretKeyRef", func(s *corev1.EnvVarSource) **corev1.SecretKeySelector { return &s.SecretKeyRef }, leaf(
				str("name", func(r *corev1.SecretKeySelector) *string { return &r.Name }),
				str("key", func(r *corev1.SecretKeySelector) *string { return &r.Key }),
				optBool("optional", func(r *corev1.SecretKeySelector) **bool { return &r.Optional }),
			)),
			ptr("configMapKeyRef", func(s *corev1.EnvVarSource) **corev1.ConfigMapKeySelector { return &s.ConfigMapKeyRef }, leaf(
				str("name", func(r *corev1.ConfigMapKeySelector) *string { return &r.Name }),
				str("key", func(r *corev1.ConfigMapKeySelector) *string { return &r.Key }),
				optBool("optional", func(r *corev1.ConfigMapKeySelector) **bool { return &r.Optional }),
			)),
			ptr("fieldRef", func(s *corev1.EnvVarSource) **corev1.ObjectFieldSelector { return &s.FieldRef }, leaf(
				str("apiVersion", func(f *corev1.ObjectFieldSelector) *string { return &f.APIVersion }),
				str("fieldPath", func(f *corev1.ObjectFieldSelector) *string { return &f.FieldPath }),
			)),
		)),
	)),
	array("envFrom", func(c *corev1.Container) *[]corev1.EnvFromSource { return &c.EnvFrom }, leaf(
		str("prefix", func(e *corev1.EnvFromSource) *string { return &e.Prefix }),
		ptr("secretRef", func(e *corev1.EnvFromSource) **corev1.SecretEnvSource { return &e.SecretRef }, leaf(
			str("name", func(r *corev1.SecretEnvSource) *string { return &r.Name }),
			optBool("optional", func(r *corev1.SecretEnvSource) **bool { return &r.Optional }),
		)),
		ptr("configMapRef", func(e *corev1.EnvFromSource) **corev1.ConfigMapEnvSource { return &e.ConfigMapRef }, leaf(
			str("name", func(r *corev1.ConfigMapEnvSource) *string { return &r.Name }),
			optBool("optional", func(r *corev1.ConfigMapEnvSource) **bool { return &r.Optional }),
		)),
	)),
	array("volumeMounts", func(c *corev1.Container) *[]corev1.VolumeMount { return &c.VolumeMounts }, leaf(
		str("name", func(m *corev1.VolumeMount) *string { return &m.Name }),
		str("mountPath", func(m *corev1.VolumeMount) *string { return &m.MountPath }),
		str("subPath", func(m *corev1.VolumeMount) *string { return &m.SubPath }),
		boolean("readOnly", func(m *corev1.VolumeMount) *bool { return &m.ReadOnly }),
	)),
	optStr("restartPolicy", func(c *corev1.Container) **corev1.ContainerRestartPolicy { return &c.RestartPolicy }),
	ptr("livenessProbe", func(c *corev1.Container) **corev1.Probe { return &c.LivenessProbe }, probeTable),
	ptr("readinessProbe", func(c *corev1.Container) **corev1.Probe { return &c.ReadinessProbe }, probeTable),
	ptr("startupProbe", func(c *corev1.Container) **corev1.Probe { return &c.StartupProbe }, probeTable),
)

// probeTable reads a probe's exec command (mutate-probes runs it through
// vault-env), all the mutation reads of a probe; a probe without one reads
// as nil.
var probeTable = func() *table[corev1.Probe] {
	t := object(
		ptr("exec", func(p *corev1.Probe) **corev1.ExecAction { return &p.Exec }, object(
			strs("command", func(e *corev1.ExecAction) *[]string { return &e.Command }),
		)),
	)
	t.keep = func(p *corev1.Probe) bool { return p.Exec != nil }
	return t
}()
