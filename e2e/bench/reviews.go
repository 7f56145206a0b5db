package bench

import (
	"cmp"
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PlaceholderUID is the request UID in every generated review. The load
// generator overwrites it in place (same length) so every request carries a
// unique UID, as the kube-apiserver's do, and checks the response echoes it.
const PlaceholderUID = "00000000-0000-0000-0000-000000000000"

// Scenario names, as they appear in results.
const (
	ScenarioRefs     = "refs"     // 2 containers × (10 plain + 3 vault: refs), command set
	ScenarioNoRefs   = "norefs"   // the same pod with no references: must not be patched
	ScenarioEnvFrom  = "envfrom"  // references only behind envFrom/valueFrom: apiserver lookups
	ScenarioRegistry = "registry" // refs, but no command: the entrypoint comes from the registry
)

// PodOptions shape the pod of a scenario.
type PodOptions struct {
	Namespace string // default "vsw-bench"
	// Image of every container; default "ghcr.io/example/shop/api:1.4.2".
	Image string
	// NoCommand leaves command/args empty, so the webhook must learn the
	// image's entrypoint from its registry.
	NoCommand bool
	// Refs is the number of vault: references per container (whole-value).
	Refs int
	// EnvFromSecret / EnvFromConfigMap, when set, add envFrom sources (and a
	// valueFrom secretKeyRef on the first key) naming those objects.
	EnvFromSecret, EnvFromConfigMap string
	// SecretKey is the key used for the valueFrom secretKeyRef.
	SecretKey string
}

// refPaths are realistic reference values; a container uses the first Refs.
var refPaths = []string{
	"vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY",
	"vault:secret/data/shop/postgres#password",
	"vault:secret/data/shop/stripe#api_key",
	"vault:secret/data/shop/redis#password",
	"vault:secret/data/shop/jwt#signing_key",
}

// Pod builds a pod as the kube-apiserver hands it to a mutating webhook: a
// Deployment's pod after defaulting, with two containers, ten ordinary env
// variables each (two from the downward API), probes, resources and the
// projected ServiceAccount token volume.
func Pod(o PodOptions) *corev1.Pod {
	o.Namespace = cmp.Or(o.Namespace, "vsw-bench")
	o.Image = cmp.Or(o.Image, "ghcr.io/example/shop/api:1.4.2")
	tr := true
	f := false
	grace := int64(30)
	tol := int64(300)
	expiry := int64(3607)
	prio := int32(0)
	preempt := corev1.PreemptLowerPriority
	root := int64(1000)
	mode := int32(0o644)
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "shop-api-6c8f9d7b5d-",
			Namespace:    o.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":    "shop-api",
				"app.kubernetes.io/part-of": "shop",
				"pod-template-hash":         "6c8f9d7b5d",
			},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z",
				"prometheus.io/scrape":              "true",
				"prometheus.io/port":                "9090",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "shop-api-6c8f9d7b5d",
				UID: "3f1b6a52-8a0e-4c51-9c4e-2b1d0c7e9a11", Controller: &tr, BlockOwnerDeletion: &tr,
			}},
		},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{
				Name: "kube-api-access-7xq2m",
				VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: &mode,
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiry, Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{
							LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
						}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
							Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
						}}}},
					},
				}},
			}},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &grace,
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            "default",
			DeprecatedServiceAccount:      "default",
			SecurityContext:               &corev1.PodSecurityContext{RunAsNonRoot: &tr, RunAsUser: &root, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			SchedulerName:                 "default-scheduler",
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tol},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tol},
			},
			Priority:           &prio,
			EnableServiceLinks: &tr,
			PreemptionPolicy:   &preempt,
		},
	}
	for i, name := range []string{"api", "worker"} {
		c := corev1.Container{
			Name:  name,
			Image: o.Image,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(8080 + i), Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-7xq2m", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intOrString(8080 + i), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds:   1,
				PeriodSeconds:    10,
				SuccessThreshold: 1,
				FailureThreshold: 3,
			},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy:          corev1.PullIfNotPresent,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &f,
				ReadOnlyRootFilesystem:   &tr,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}
		if !o.NoCommand {
			c.Command = []string{"/usr/local/bin/shop-" + name}
			c.Args = []string{"--listen=:" + fmt.Sprint(8080+i), "--log-format=json"}
		}
		c.Env = []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
			{Name: "LOG_LEVEL", Value: "info"},
			{Name: "HTTP_PORT", Value: fmt.Sprint(8080 + i)},
			{Name: "METRICS_PORT", Value: "9090"},
			{Name: "DB_HOST", Value: "postgres.shop.svc.cluster.local"},
			{Name: "DB_NAME", Value: "shop"},
			{Name: "REDIS_URL", Value: "redis://redis.shop.svc.cluster.local:6379/0"},
			{Name: "FEATURE_FLAGS", Value: "checkout-v2,fast-search"},
			{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability:4317"},
		}
		for r := 0; r < o.Refs; r++ {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("SECRET_%d", r), Value: refPaths[r%len(refPaths)]})
		}
		if o.EnvFromSecret != "" {
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: o.EnvFromSecret}}})
			if o.SecretKey != "" {
				c.Env = append(c.Env, corev1.EnvVar{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: o.EnvFromSecret}, Key: o.SecretKey,
				}}})
			}
		}
		if o.EnvFromConfigMap != "" {
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: o.EnvFromConfigMap}}})
		}
		pod.Spec.Containers = append(pod.Spec.Containers, c)
	}
	return pod
}

// Review wraps pod in an admission.k8s.io/v1 AdmissionReview for CREATE, as a
// ReplicaSet controller's request, with [PlaceholderUID] as its UID.
func Review(pod *corev1.Pod) ([]byte, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("failed to encode pod: %w", err)
	}
	gvk := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	gvr := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             PlaceholderUID,
			Kind:            gvk,
			Resource:        gvr,
			RequestKind:     &gvk,
			RequestResource: &gvr,
			Namespace:       pod.Namespace,
			Operation:       admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{
				Username: "system:serviceaccount:kube-system:replicaset-controller",
				UID:      "6b0a7c43-5d8e-4f21-a9b3-1c2d3e4f5a6b",
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			},
			Object:  runtime.RawExtension{Raw: raw},
			Options: runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	}
	b, err := json.Marshal(&rev)
	if err != nil {
		return nil, fmt.Errorf("failed to encode admission review: %w", err)
	}
	return b, nil
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }

// Names of the objects the envfrom scenario reads through the apiserver.
const (
	EnvFromSecret    = "shop-secrets"
	EnvFromConfigMap = "shop-config"
	EnvFromKey       = "DB_PASSWORD"
)

// ScenarioSetup says where a scenario's external pieces live.
type ScenarioSetup struct {
	Namespace     string // default "vsw-bench"
	RegistryImage string // image pushed to the sandbox registry (registry scenario)
}

// ScenarioPod returns the pod of the named scenario.
func ScenarioPod(name string, s ScenarioSetup) (*corev1.Pod, error) {
	o := PodOptions{Namespace: s.Namespace}
	switch name {
	case ScenarioRefs:
		o.Refs = 3
	case ScenarioNoRefs:
	case ScenarioEnvFrom:
		o.EnvFromSecret, o.EnvFromConfigMap, o.SecretKey = EnvFromSecret, EnvFromConfigMap, EnvFromKey
	case ScenarioRegistry:
		if s.RegistryImage == "" {
			return nil, fmt.Errorf("failed to build scenario %s: no registry image", name)
		}
		o.Refs, o.NoCommand, o.Image = 3, true, s.RegistryImage
	default:
		return nil, fmt.Errorf("failed to build scenario: unknown scenario %q", name)
	}
	return Pod(o), nil
}

// ScenarioReview is [Review] of [ScenarioPod].
func ScenarioReview(name string, s ScenarioSetup) ([]byte, error) {
	p, err := ScenarioPod(name, s)
	if err != nil {
		return nil, err
	}
	return Review(p)
}
