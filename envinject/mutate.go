package envinject

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject/ref"
)

// ErrNotFound is what a Lookups implementation returns (wrapped or not) when
// the Secret or ConfigMap does not exist: the webhook then treats the
// reference as holding no Vault reference, and the kubelet fails or skips
// the pod exactly as it would without the webhook.
var ErrNotFound = errors.New("not found")

// Lookups reads the data of Secrets and ConfigMaps in the pod's namespace.
// The webhook's main wires the kube client in; tests use a map.
type Lookups interface {
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
	ConfigMapData(ctx context.Context, namespace, name string) (map[string]string, error)
}

// ImageRequest asks for an image's ENTRYPOINT and CMD.
type ImageRequest struct {
	Image          string
	Namespace      string
	ServiceAccount string   // whose imagePullSecrets to use after the pod's
	PullSecrets    []string // the pod's imagePullSecrets, in order
	SkipVerify     bool     // registry-skip-verify
	// OSValues and ArchValues are the values the pod's nodeSelector and
	// required node affinity allow for kubernetes.io/os and
	// kubernetes.io/arch (nil: unconstrained); they choose the platform of
	// a multi-platform image.
	OSValues, ArchValues []string
}

// ImageConfig is the part of an image's configuration the webhook needs.
type ImageConfig struct {
	Entrypoint, Cmd []string
	Warnings        []string
}

// ImageConfigs looks image configurations up (in the registry).
type ImageConfigs interface {
	ImageConfig(ctx context.Context, req ImageRequest) (ImageConfig, error)
}

// Config is the webhook-wide configuration of the mutation.
type Config struct {
	VaultAddr          string   // VAULT_ADDR written into pods unless vault-addr is annotated
	VaultEnvImage      string   // image of the copy-vault-env init container
	Namespace          string   // the webhook's own namespace: never mutated
	ExcludedNamespaces []string // more namespaces never mutated (kube-system and kube-public always are)
	AllowedVaultAddrs  []string // vault-addr annotations allowed ("*" or scheme://host[:port][/path], matched exactly)
	// AllowSkipVerify lets a pod's vault-skip-verify annotation apply
	// (VAULT_ALLOW_OBJECT_SKIP_VERIFY); otherwise it is ignored with a
	// warning and the webhook-wide VAULT_SKIP_VERIFY applies.
	AllowSkipVerify bool
	LeastPrivilege  bool // read no Secrets/ConfigMaps: wrap every container that uses them
	Defaults        map[string]string
	// OnLookup, when set, is told of each Secret/ConfigMap/image lookup:
	// kind is "secret", "configmap" or "image"; result "found", "not_found"
	// or "error".
	OnLookup func(kind, result string)
}

// Mutator decides how a pod is mutated. It performs no I/O of its own: the
// Lookups and ImageConfigs it is given do.
type Mutator struct {
	cfg     Config
	base    Settings // the webhook-wide settings, for pods that set none
	lookups Lookups
	images  ImageConfigs
	inits   initCache
}

// NewMutator validates cfg. lookups may be nil only in least-privilege mode;
// images may be nil (containers without a command are then refused).
func NewMutator(cfg Config, lookups Lookups, images ImageConfigs) (*Mutator, error) {
	if cfg.VaultAddr == "" {
		return nil, errors.New("failed to configure mutation: vault address is empty")
	}
	if cfg.VaultEnvImage == "" {
		return nil, errors.New("failed to configure mutation: vault-env image is empty")
	}
	if lookups == nil && !cfg.LeastPrivilege {
		return nil, errors.New("failed to configure mutation: no Secret/ConfigMap lookups outside least-privilege mode")
	}
	base, err := parseSettings(nil, cfg.Defaults, &cfg, "")
	if err != nil {
		return nil, fmt.Errorf("failed to configure mutation: webhook-wide default: %w", err)
	}
	return &Mutator{cfg: cfg, base: base, lookups: lookups, images: images}, nil
}

// Request is one pod admission.
type Request struct {
	Namespace string // the request's namespace (the pod's may be empty)
	Operation string // CREATE, UPDATE, ...
	Pod       *corev1.Pod
}

// Outcome reasons reported by Result.Reason (also metric labels).
const (
	ReasonMutated           = "mutated"
	ReasonNoReferences      = "no_references"
	ReasonSkipAnnotation    = "skip_annotation"
	ReasonExcludedNamespace = "excluded_namespace"
	ReasonAlreadyMutated    = "already_mutated"
	ReasonNotCreate         = "not_create"
)

// Result is the decision: a patch (possibly empty) and warnings for the user.
type Result struct {
	Patch    *Patch
	Reason   string
	Warnings []string
}

// Denied is a refusal the user must fix; Message is shown to them.
type Denied struct {
	Reason  RefusalReason
	Message string
}

func (d *Denied) Error() string { return d.Message }

// Mutate decides the patch for one pod.
func (m *Mutator) Mutate(ctx context.Context, req Request) (res Result, err error) {
	pod := req.Pod
	if req.Operation != "" && req.Operation != "CREATE" {
		return Result{Patch: &Patch{}, Reason: ReasonNotCreate}, nil
	}
	ns := cmp.Or(req.Namespace, pod.Namespace)
	if m.excluded(ns) {
		return Result{Patch: &Patch{}, Reason: ReasonExcludedNamespace}, nil
	}
	if isMutated(pod) {
		return Result{Patch: &Patch{}, Reason: ReasonAlreadyMutated}, nil
	}
	// Every answer from here on carries the warnings about the pod's
	// annotations (unknown, replaced, ignored).
	if annWarnings := annotationWarnings(pod.Annotations, &m.cfg); len(annWarnings) > 0 {
		defer func() {
			if err == nil {
				res.Warnings = append(annWarnings, res.Warnings...)
			}
		}()
	}
	sa := cmp.Or(pod.Spec.ServiceAccountName, "default")
	s, err := m.settings(pod.Annotations, sa)
	if err != nil {
		return Result{}, &Denied{Reason: RefusedInvalidAnnotation, Message: err.Error()}
	}
	if s.Skip {
		return Result{Patch: &Patch{}, Reason: ReasonSkipAnnotation}, nil
	}
	if v, ok := pod.Annotations[AnnotationPrefix+AnnVaultAddr]; ok {
		addr, err := checkVaultAddr(strings.TrimSpace(v), m.cfg.VaultAddr, m.cfg.AllowedVaultAddrs)
		if err != nil {
			return Result{}, &Denied{Reason: RefusedVaultAddr, Message: err.Error()}
		}
		s.VaultAddr = addr
	}
	if strings.Contains(s.VaultRole, "{{") {
		authMethod, authPath := cmp.Or(s.AuthMethod, "kubernetes"), cmp.Or(s.VaultPath, "kubernetes") // vault-env's defaults
		if s.VaultRole, err = expandRole(s.VaultRole, map[string]string{"authmethod": authMethod, "name": cmp.Or(pod.Name, pod.GenerateName),
			"namespace": ns, "path": authPath, "serviceaccount": s.VaultServiceAccount}); err != nil {
			return Result{}, &Denied{Reason: RefusedInvalidAnnotation, Message: err.Error()}
		}
	}
	if s.VaultAgent && s.VaultAgentConfigMap == "" {
		return Result{}, &Denied{Reason: RefusedInvalidAnnotation, Message: "annotation " + AnnotationPrefix + AnnVaultAgent +
			" needs " + AnnotationPrefix + AnnVaultAgentConfigMap + " (a ConfigMap with config.hcl): the webhook does not create ConfigMaps"}
	}

	lk := &lookupCache{m: m, ns: ns}
	// copy-vault-env is not among the init containers: isMutated said so.
	type target struct {
		kind string
		i    int
		c    *corev1.Container
	}
	var wrap []target
	for _, l := range []struct {
		kind string
		cs   []corev1.Container
	}{{"initContainers", pod.Spec.InitContainers}, {"containers", pod.Spec.Containers}} {
		for i := range l.cs {
			need, err := m.needsVault(ctx, lk, &l.cs[i], &s)
			if err != nil {
				return Result{}, err
			}
			if need {
				wrap = append(wrap, target{l.kind, i, &l.cs[i]})
			}
		}
	}
	if len(wrap) == 0 && s.agentMode() == AgentNone {
		return Result{Patch: &Patch{}, Reason: ReasonNoReferences}, nil
	}
	if err := checkConflicts(pod, &s); err != nil {
		return Result{}, err
	}
	var warnings []string
	if s.EnvImageVolume {
		if why := s.imageVolumeFallback(); why != "" {
			s.EnvImageVolume = false
			warnings = append(warnings, "vault-env is delivered by the copy init container, not as an image volume: "+why)
		}
	}

	// Usually five operations per wrapped container and three for the pod
	// (settings add a few more).
	b := &builder{pod: pod, s: &s, patch: &Patch{ops: make([]Op, 0, 4+6*len(wrap))},
		saMount: findSATokenMount(pod, s.SATokenDir), wrapped: len(wrap) > 0, env: s.env(), mounted: map[int]bool{}}
	for _, t := range wrap {
		w, err := m.wrap(ctx, b, lk, t.kind, t.i, t.c, ns, sa)
		if err != nil {
			return Result{}, err
		}
		warnings = append(warnings, w...)
	}
	b.agentMounts()
	b.podLevel(m.cfg.VaultEnvImage, &m.inits)
	return Result{Patch: b.patch, Reason: ReasonMutated, Warnings: warnings}, nil
}

// settings are the pod's annotations over the webhook-wide defaults. Most
// pods carry none of the webhook's annotations: they get the defaults
// NewMutator parsed, with their ServiceAccount filled in.
func (m *Mutator) settings(annotations map[string]string, sa string) (Settings, error) {
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			return parseSettings(annotations, m.cfg.Defaults, &m.cfg, sa)
		}
	}
	s := m.base
	s.VaultRole = cmp.Or(s.VaultRole, sa)
	s.VaultServiceAccount = cmp.Or(s.VaultServiceAccount, sa)
	return s, nil
}

func (m *Mutator) excluded(ns string) bool {
	return ns == "kube-system" || ns == "kube-public" || m.cfg.Namespace != "" && ns == m.cfg.Namespace ||
		slices.Contains(m.cfg.ExcludedNamespaces, ns)
}

// isMutated reports whether the webhook already mutated pod.
func isMutated(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[MutatedAnnotation]
	return ok || slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == InitContainerName })
}

// needsVault reports whether a container must be wrapped by vault-env.
func (m *Mutator) needsVault(ctx context.Context, lk *lookupCache, c *corev1.Container, s *Settings) (bool, error) {
	if s.EnvFromPath != "" {
		return true, nil
	}
	for _, e := range c.Env {
		if ref.Contains(e.Value) {
			return true, nil
		}
	}
	if m.cfg.LeastPrivilege {
		if len(c.EnvFrom) > 0 {
			return true, nil
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			if found, err := lk.holdsRef(ctx, true, r.Name, r.Key, false); found || err != nil {
				return found, err
			}
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			if found, err := lk.holdsRef(ctx, false, r.Name, r.Key, false); found || err != nil {
				return found, err
			}
		}
	}
	for _, ef := range c.EnvFrom {
		if r := ef.SecretRef; r != nil {
			if found, err := lk.holdsRef(ctx, true, r.Name, "", true); found || err != nil {
				return found, err
			}
		}
		if r := ef.ConfigMapRef; r != nil {
			if found, err := lk.holdsRef(ctx, false, r.Name, "", true); found || err != nil {
				return found, err
			}
		}
	}
	return false, nil
}

// LookupError is a Secret/ConfigMap/image lookup that failed for a reason
// other than "not found"; the pod is refused because the webhook cannot
// decide.
type LookupError struct {
	Kind, Name string
	Err        error
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("failed to read %s %s: %v", e.Kind, e.Name, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }

// lookupCache reads each Secret/ConfigMap at most once per review. A missing
// object reads as empty data. Whether the reference is optional does not
// matter to the decision: a missing object holds no Vault reference either
// way, and the kubelet applies optional as usual.
type lookupCache struct {
	m       *Mutator
	ns      string
	secrets map[string]map[string][]byte
	cms     map[string]map[string]string
	lookups int  // counted against MaxLookupsPerReview (limits.go)
	pulls   bool // the pod's pull secrets and ServiceAccount were counted
}

func (l *lookupCache) observe(kind string, err error) {
	if l.m.cfg.OnLookup == nil {
		return
	}
	switch {
	case err == nil:
		l.m.cfg.OnLookup(kind, "found")
	case errors.Is(err, ErrNotFound):
		l.m.cfg.OnLookup(kind, "not_found")
	default:
		l.m.cfg.OnLookup(kind, "error")
	}
}

// holdsRef reports whether a Secret (secret) or ConfigMap holds a Vault
// reference: at key, or in any value when all.
func (l *lookupCache) holdsRef(ctx context.Context, secret bool, name, key string, all bool) (bool, error) {
	if secret {
		data, err := cached(ctx, l, &l.secrets, "secret", "Secret", name, l.m.lookups.SecretData)
		return hasRef(data, key, all), err
	}
	data, err := cached(ctx, l, &l.cms, "configmap", "ConfigMap", name, l.m.lookups.ConfigMapData)
	return hasRef(data, key, all), err
}

func hasRef[V ~string | ~[]byte](data map[string]V, key string, all bool) bool {
	if !all {
		v, ok := data[key]
		return ok && ref.Contains(string(v))
	}
	for _, v := range data {
		if ref.Contains(string(v)) {
			return true
		}
	}
	return false
}

// cached reads an object's data through the review's cache (metric is its
// OnLookup kind, kind its name in a LookupError).
func cached[V any](ctx context.Context, l *lookupCache, cache *map[string]map[string]V, metric, kind, name string,
	read func(ctx context.Context, namespace, name string) (map[string]V, error)) (map[string]V, error) {
	if d, ok := (*cache)[name]; ok {
		return d, nil
	}
	if err := l.charge(1); err != nil {
		return nil, err
	}
	d, err := read(ctx, l.ns, name)
	l.observe(metric, err)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, &LookupError{Kind: kind, Name: l.ns + "/" + name, Err: err}
	}
	if *cache == nil {
		*cache = map[string]map[string]V{}
	}
	(*cache)[name] = d
	return d, nil
}

// checkConflicts refuses pods whose names or paths collide with what the
// mutation adds; the apiserver would refuse the mutated pod anyway, with a
// less helpful message.
func checkConflicts(pod *corev1.Pod, s *Settings) error {
	taken := func(name string) bool {
		return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	}
	for _, name := range []string{VolumeName, NoTokenVolumeName, TLSVolumeName, AgentConfigVolumeName, AgentSecretsVolumeName} {
		if taken(name) {
			return &Denied{Reason: RefusedConflict, Message: fmt.Sprintf("pod already has a volume named %q, which the webhook adds", name)}
		}
	}
	if s.agentMode() != AgentNone {
		for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for _, c := range list {
				if c.Name == AgentContainerName {
					return &Denied{Reason: RefusedConflict, Message: fmt.Sprintf("pod already has a container named %q", AgentContainerName)}
				}
			}
		}
		for _, c := range pod.Spec.Containers {
			for _, vm := range c.VolumeMounts {
				if p := strings.TrimSuffix(vm.MountPath, "/"); p == s.ConfigFilePath || strings.HasPrefix(p, s.ConfigFilePath+"/") {
					return &Denied{Reason: RefusedConflict, Message: fmt.Sprintf("container %q already mounts %s, where the webhook mounts the Vault Agent's files (%s%s)", c.Name, vm.MountPath, AnnotationPrefix, AnnConfigFilePath)}
				}
			}
		}
	}
	if s.TokenAuthVolume != "" && !taken(s.TokenAuthVolume) {
		return &Denied{Reason: RefusedInvalidAnnotation, Message: fmt.Sprintf("annotation %s%s names volume %q, which the pod does not have", AnnotationPrefix, AnnTokenAuthMount, s.TokenAuthVolume)}
	}
	return nil
}
