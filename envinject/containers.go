package envinject

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Names and paths the mutation adds to a pod.
const (
	InitContainerName     = "copy-vault-env"
	AgentContainerName    = "vault-agent"
	VolumeName            = "vault-env"
	TLSVolumeName         = "vault-env-tls"
	AgentConfigVolumeName = "vault-env-agent-config"
	// NoTokenVolumeName is an empty, read-only in-memory volume that
	// copy-vault-env mounts where Kubernetes mounts the ServiceAccount token
	// (see initContainer).
	NoTokenVolumeName    = "vault-env-no-sa-token"
	MountPath            = "/vault/"
	BinaryPath           = "/vault/vault-env"
	TLSMountPath         = "/vault/tls/"
	TokenMountPath       = "/vault/token/"
	AgentConfigMountPath = "/vault/agent/"
	AgentTokenFile       = "/vault/.vault-token"
	// VaultEnvInImage is where the vault-env image keeps its binary.
	VaultEnvInImage = "/usr/local/bin/vault-env"
)

// Resources of the injected containers.
//
// copy-vault-env copies one binary into the in-memory volume. Its memory is
// vault-env's own RSS plus the tmpfs pages the copy writes, which the kernel
// charges to the writing container's memory cgroup; the request covers that
// peak as the node's cgroup measures it (BENCHMARKS.md, pod start), and the
// limit leaves room for an unstripped or larger build without OOM kills.
// The Vault Agent's defaults are in agent.go.
var (
	initResources = resourcesJSON{
		Requests: map[string]string{"cpu": "10m", "memory": "16Mi"},
		Limits:   map[string]string{"memory": "64Mi"},
	}
	// volumeSizeLimit bounds the in-memory volume: the binary (under
	// 12 MiB stripped, scripts/bench checks it) and the agent's token file.
	volumeSizeLimit = "32Mi"
)

// resourcesJSON is corev1.ResourceRequirements as it appears on the wire;
// quantities are written as canonical strings.
type resourcesJSON struct {
	Limits   map[string]string `json:"limits,omitempty"`
	Requests map[string]string `json:"requests,omitempty"`
}

// containerJSON is a container whose resources are written as strings.
type containerJSON struct {
	corev1.Container
	Resources resourcesJSON `json:"resources"`
}

// builder accumulates the patch of one pod.
type builder struct {
	pod   *corev1.Pod
	s     *Settings
	patch *Patch
	// env is the settings' variables (Settings.env).
	env []corev1.EnvVar
	// saMount is the ServiceAccount token mount of the first container
	// that has one (the vault-agent container gets a copy: the apiserver
	// mounts tokens only into containers that existed before the webhooks
	// ran).
	saMount *corev1.VolumeMount
	// wrapped is whether any container starts through vault-env (the pod
	// then gets the vault-env volume and copy-vault-env).
	wrapped bool
	// mounted records the app containers whose volumeMounts list the patch
	// created (so later mounts use /-).
	mounted map[int]bool
}

// wrap rewrites one container to start through vault-env.
func (m *Mutator) wrap(ctx context.Context, b *builder, lk *lookupCache, kind string, i int, c *corev1.Container, ns, sa string) ([]string, error) {
	for _, vm := range c.VolumeMounts {
		p := strings.TrimSuffix(vm.MountPath, "/")
		if p == "/vault" || strings.HasPrefix(p, "/vault/") {
			return nil, &Denied{Reason: RefusedConflict, Message: fmt.Sprintf("container %q already mounts %s, where the webhook mounts vault-env", c.Name, vm.MountPath)}
		}
	}
	var warnings []string
	args := append(make([]string, 0, len(c.Command)+len(c.Args)), c.Command...)
	if len(c.Command) == 0 {
		if m.images == nil {
			return nil, &Denied{Reason: RefusedNoCommand, Message: fmt.Sprintf("container %q has no command: set command (and args) explicitly; this webhook cannot read image %q's entrypoint", c.Name, c.Image)}
		}
		req := ImageRequest{Image: c.Image, Namespace: ns, ServiceAccount: sa, SkipVerify: b.s.RegistrySkipVerify}
		for _, ps := range b.pod.Spec.ImagePullSecrets {
			req.PullSecrets = append(req.PullSecrets, ps.Name)
		}
		n := 1
		if !lk.pulls {
			n, lk.pulls = 1+len(req.PullSecrets)+1, true // + the ServiceAccount
		}
		if err := lk.charge(n); err != nil {
			return nil, err
		}
		req.OSValues = platformValues(b.pod, "kubernetes.io/os")
		req.ArchValues = platformValues(b.pod, "kubernetes.io/arch")
		ic, err := m.images.ImageConfig(ctx, req)
		if m.cfg.OnLookup != nil {
			if err != nil {
				m.cfg.OnLookup("image", "error")
			} else {
				m.cfg.OnLookup("image", "found")
			}
		}
		if err != nil {
			var d *Denied
			if errors.As(err, &d) {
				return nil, d
			}
			return nil, &LookupError{Kind: "image", Name: c.Image, Err: err}
		}
		warnings = append(warnings, ic.Warnings...)
		args = append(args, ic.Entrypoint...)
		if len(c.Args) == 0 {
			args = append(args, ic.Cmd...)
		}
		if len(args) == 0 {
			return nil, &Denied{Reason: RefusedNoCommand, Message: fmt.Sprintf("container %q has no command and image %q has no ENTRYPOINT or CMD", c.Name, c.Image)}
		}
	}
	args = append(args, c.Args...)

	paths := newContainerPaths(kind, i)
	p := b.patch
	p.Set(paths.command, []string{BinaryPath})
	p.Set(paths.args, args)

	hasMounts := len(c.VolumeMounts) > 0
	// Read-only: only copy-vault-env (and the Vault Agent's token sink)
	// writes the vault-env volume, so no application container can replace
	// the vault-env binary its siblings run.
	p.Append(paths.volumeMounts, hasMounts, corev1.VolumeMount{Name: VolumeName, MountPath: MountPath, ReadOnly: true})
	if kind == "containers" {
		b.mounted[i] = true
	}
	if b.s.TLSSecret != "" {
		p.Append(paths.volumeMounts, hasMounts, corev1.VolumeMount{Name: TLSVolumeName, MountPath: TLSMountPath, ReadOnly: true})
	}
	if b.s.TokenAuthVolume != "" {
		p.Append(paths.volumeMounts, hasMounts, corev1.VolumeMount{Name: b.s.TokenAuthVolume, MountPath: TokenMountPath, ReadOnly: true})
	}

	// The webhook's settings are explicit env entries, which win over
	// envFrom (Kubernetes' precedence); only a variable the pod author wrote
	// in the container's own env wins over them. VAULT_ENV_SPEC_VARS tells
	// vault-env which settings were written in env (by the author or here):
	// any other (from a ConfigMap or Secret through envFrom, or from the
	// image) cannot steer its login.
	inEnv := func(name string) bool {
		return slices.ContainsFunc(c.Env, func(v corev1.EnvVar) bool { return v.Name == name })
	}
	var spec []string
	for _, v := range c.Env {
		if steersVaultEnv(v.Name) {
			spec = append(spec, v.Name)
		}
	}
	for k := range b.env {
		e := &b.env[k] // by pointer: the patch only reads it
		if inEnv(e.Name) {
			continue
		}
		spec = append(spec, e.Name)
		p.Append(paths.env, len(c.Env) > 0, e)
	}
	if !inEnv(SpecVarsEnv) {
		slices.Sort(spec)
		p.Append(paths.env, len(c.Env) > 0, &corev1.EnvVar{Name: SpecVarsEnv, Value: strings.Join(slices.Compact(spec), ",")})
	}

	if b.s.MutateProbes {
		for _, pr := range []struct {
			field string
			probe *corev1.Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe == nil || pr.probe.Exec == nil || len(pr.probe.Exec.Command) == 0 {
				continue
			}
			p.Set(paths.base+"/"+pr.field+"/exec/command", append([]string{BinaryPath}, pr.probe.Exec.Command...))
		}
	}
	return warnings, nil
}

// SpecVarsEnv is vault-env's VAULT_ENV_SPEC_VARS: the names of the settings
// written in the container's own env.
const SpecVarsEnv = "VAULT_ENV_SPEC_VARS"

// steersVaultEnv reports whether a variable can steer vault-env's login:
// its settings and vault/api's (VAULT_*), the JWT file, and the proxy
// variables. vault-env applies the same rule to its own, exact, list.
func steersVaultEnv(name string) bool {
	if strings.HasPrefix(name, "VAULT_") && name != SpecVarsEnv {
		return true
	}
	switch strings.ToUpper(name) {
	case "KUBERNETES_SERVICE_ACCOUNT_TOKEN", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY":
		return true
	}
	return false
}

// containerPaths are the JSON pointers wrap writes for one container.
type containerPaths struct {
	base, command, args, volumeMounts, env string
}

func newContainerPaths(kind string, i int) *containerPaths {
	base := Pointer("spec", kind, strconv.Itoa(i))
	return &containerPaths{base: base, command: base + "/command", args: base + "/args",
		volumeMounts: base + "/volumeMounts", env: base + "/env"}
}

// env is the VAULT_* settings written into each wrapped container, in a
// fixed order. VAULT_ADDR and VAULT_ROLE are always written; the rest only
// when set, so vault-env's own defaults apply otherwise.
func (s *Settings) env() []corev1.EnvVar {
	var out []corev1.EnvVar
	add := func(name, value string) {
		if value != "" {
			out = append(out, corev1.EnvVar{Name: name, Value: value})
		}
	}
	add("VAULT_ADDR", s.VaultAddr)
	add("VAULT_ROLE", s.VaultRole)
	add("VAULT_PATH", s.VaultPath)
	add("VAULT_AUTH_METHOD", s.AuthMethod)
	add("VAULT_SKIP_VERIFY", s.SkipVerify)
	if s.TLSSecret != "" {
		add("VAULT_CACERT", TLSMountPath+"ca.crt")
	}
	add("VAULT_NAMESPACE", s.VaultNamespace)
	add("VAULT_CLIENT_TIMEOUT", s.ClientTimeout)
	add("VAULT_IGNORE_MISSING_SECRETS", s.IgnoreMissingSecrets)
	add("VAULT_ENV_PASSTHROUGH", s.EnvPassthrough)
	add("VAULT_ENV_DAEMON", s.EnvDaemon)
	add("VAULT_ENV_DELAY", s.EnvDelay)
	add("VAULT_ENV_FROM_PATH", s.EnvFromPath)
	add("VAULT_LOG_LEVEL", s.LogLevel)
	add("VAULT_JSON_LOG", s.JSONLog)
	add("VAULT_TRANSIT_KEY_ID", s.TransitKeyID)
	add("VAULT_TRANSIT_PATH", s.TransitPath)
	add("VAULT_TRANSIT_BATCH_SIZE", s.TransitBatchSize)
	switch {
	case s.TokenAuthVolume != "":
		add("VAULT_TOKEN_FILE", TokenMountPath+s.TokenAuthFile)
	case s.VaultAgent:
		add("VAULT_TOKEN_FILE", AgentTokenFile)
	}
	if s.SATokenDir != DefaultSATokenDir {
		add("KUBERNETES_SERVICE_ACCOUNT_TOKEN", s.SATokenDir+"/token")
	}
	return out
}

// securityContext is the restricted context of the injected containers (so
// pods pass Pod Security "restricted"), adjustable by annotations.
func (s *Settings) securityContext() *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: &s.AllowPrivEscalation,
		ReadOnlyRootFilesystem:   &s.ReadOnlyRootFS,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if s.RunAsNonRoot {
		sc.RunAsNonRoot = &s.RunAsNonRoot
	}
	if s.RunAsUser > 0 {
		sc.RunAsUser = &s.RunAsUser
	}
	if s.RunAsGroup > 0 {
		sc.RunAsGroup = &s.RunAsGroup
	}
	return sc
}

// podLevel adds the marker annotation, the volumes and the init containers.
// It runs after every container was wrapped: inserting init containers
// shifts their indices.
func (b *builder) podLevel(defaultImage string, cache *initCache) {
	p, s, pod := b.patch, b.s, b.pod
	if len(pod.Annotations) == 0 {
		p.Set("/metadata/annotations", map[string]string{MutatedAnnotation: "true"})
	} else {
		p.Set(Pointer("metadata", "annotations", MutatedAnnotation), "true")
	}

	mode := s.agentMode()
	image := cmp.Or(s.EnvImage, defaultImage)
	// The vault-env volume holds the binary, and the agent's token sink
	// when vault-agent is set (never an image volume then).
	copied := b.wrapped && !s.EnvImageVolume
	hasVolumes := len(pod.Spec.Volumes) > 0
	appendVolume := func(v any) {
		p.Append("/spec/volumes", hasVolumes, v)
		hasVolumes = true
	}
	switch {
	case b.wrapped && s.EnvImageVolume:
		appendVolume(s.imageVolume(image))
	case copied || s.VaultAgent:
		appendVolume(vaultEnvVolume)
	}
	if copied {
		appendVolume(noTokenVolume)
	}
	if s.TLSSecret != "" {
		appendVolume(map[string]any{
			"name": TLSVolumeName,
			"secret": map[string]any{
				"secretName": s.TLSSecret,
				"items":      []map[string]string{{"key": "ca.crt", "path": "ca.crt"}},
			},
		})
	}
	var inits []any
	if mode != AgentNone {
		appendVolume(map[string]any{
			"name": AgentConfigVolumeName,
			"configMap": map[string]any{
				"name":  s.VaultAgentConfigMap,
				"items": []map[string]string{{"key": "config.hcl", "path": "config.hcl"}},
			},
		})
		appendVolume(agentSecretsVolume)
		if s.AgentShareProcessNS {
			p.Set("/spec/shareProcessNamespace", true)
		}
		inits = append(inits, b.agentContainer(copied || s.VaultAgent))
	}
	if copied {
		init := cache.get(initKey{image: image, pullPolicy: s.EnvImagePullPolicy, allowPrivEscalation: s.AllowPrivEscalation,
			readOnlyRootFS: s.ReadOnlyRootFS, runAsNonRoot: s.RunAsNonRoot, runAsUser: s.RunAsUser, runAsGroup: s.RunAsGroup,
			dirs: s.mountPointDirs()})
		inits = append(inits, init)
	}
	if len(inits) == 0 {
		return
	}
	if len(pod.Spec.InitContainers) == 0 {
		p.Set("/spec/initContainers", inits)
		return
	}
	for i, c := range inits {
		p.Insert("/spec/initContainers", i, c)
	}
}

// agentMounts mounts the Vault Agent's rendered files, read-only, at
// vault-configfile-path in every application container (not in init
// containers: the agent's siblings there do not need them).
func (b *builder) agentMounts() {
	if b.s.agentMode() == AgentNone {
		return
	}
	m := corev1.VolumeMount{Name: AgentSecretsVolumeName, MountPath: b.s.ConfigFilePath, ReadOnly: true}
	for i := range b.pod.Spec.Containers {
		paths := newContainerPaths("containers", i)
		b.patch.Append(paths.volumeMounts, len(b.pod.Spec.Containers[i].VolumeMounts) > 0 || b.mounted[i], m)
	}
}

// The in-memory volumes, encoded once: vaultEnvVolume holds the copy of
// vault-env (and the agent's token sink); noTokenVolume is the empty volume
// copy-vault-env mounts over the ServiceAccount token path (one page of
// tmpfs: it is mounted read-only and never holds anything).
var (
	vaultEnvVolume = memoryVolume(VolumeName, volumeSizeLimit)
	noTokenVolume  = memoryVolume(NoTokenVolumeName, "4Ki")
)

// memoryVolume encodes an emptyDir volume in memory.
func memoryVolume(name, sizeLimit string) rawJSON {
	j, err := json.Marshal(map[string]any{"name": name, "emptyDir": map[string]any{"medium": "Memory", "sizeLimit": sizeLimit}})
	if err != nil {
		panic("envinject: failed to encode volume " + name + ": " + err.Error())
	}
	return j
}

// mountPointDirs lists (for VAULT_ENV_COPY_DIRS) the directories below
// MountPath where the app containers mount other volumes: the vault-env
// volume is read-only there, so copy-vault-env creates them.
func (s *Settings) mountPointDirs() string {
	var dirs []string
	if s.TLSSecret != "" {
		dirs = append(dirs, strings.Trim(strings.TrimPrefix(TLSMountPath, MountPath), "/"))
	}
	if s.TokenAuthVolume != "" {
		dirs = append(dirs, strings.Trim(strings.TrimPrefix(TokenMountPath, MountPath), "/"))
	}
	if s.agentMode() != AgentNone && strings.HasPrefix(s.ConfigFilePath+"/", MountPath) {
		dirs = append(dirs, strings.TrimPrefix(s.ConfigFilePath, MountPath))
	}
	return strings.Join(dirs, ",")
}

// CopyDirsEnv is vault-env's VAULT_ENV_COPY_DIRS (cmd/vault-env).
const CopyDirsEnv = "VAULT_ENV_COPY_DIRS"

// initKey is everything the copy-vault-env container depends on.
type initKey struct {
	image, pullPolicy, dirs                           string
	allowPrivEscalation, readOnlyRootFS, runAsNonRoot bool
	runAsUser, runAsGroup                             int64
}

// initCache holds the encoded copy-vault-env containers: a pod's settings
// seldom vary, and encoding the container (by reflection) was the largest
// part of rendering a patch. At most maxInitCache entries are kept (the
// image and user come from annotations: the cache must not grow with them).
type initCache struct {
	mu sync.Mutex
	m  map[initKey]rawJSON
}

const maxInitCache = 64

func (c *initCache) get(k initKey) rawJSON {
	c.mu.Lock()
	j, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return j
	}
	j = initContainer(k)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[initKey]rawJSON{}
	}
	if len(c.m) < maxInitCache {
		c.m[k] = j
	}
	c.mu.Unlock()
	return j
}

// initContainer encodes the copy-vault-env container; it depends on k only.
//
// The container copies a file and talks to nobody, so it must not hold the
// pod's ServiceAccount token. The apiserver's ServiceAccount admission plugin
// mounts the token into every container that has no volumeMount at exactly
// DefaultSATokenDir, and it runs again after the webhooks whenever a webhook
// changed the pod (admission reinvocation), so it would reach the container
// added here; the webhook itself is not called again after that pass. An
// explicit mount of the empty NoTokenVolumeName at DefaultSATokenDir is the
// plugin's own opt-out per container (k8s.io/kubernetes
// plugin/pkg/admission/serviceaccount, mountServiceAccountToken); the
// pod-level automountServiceAccountToken would take the token from the
// application containers too.
func initContainer(k initKey) rawJSON {
	s := &Settings{AllowPrivEscalation: k.allowPrivEscalation, ReadOnlyRootFS: k.readOnlyRootFS,
		RunAsNonRoot: k.runAsNonRoot, RunAsUser: k.runAsUser, RunAsGroup: k.runAsGroup}
	c := containerJSON{
		Container: corev1.Container{
			Name:            InitContainerName,
			Image:           k.image,
			ImagePullPolicy: corev1.PullPolicy(k.pullPolicy),
			Command:         []string{VaultEnvInImage, "copy", MountPath},
			VolumeMounts: []corev1.VolumeMount{
				{Name: VolumeName, MountPath: MountPath},
				{Name: NoTokenVolumeName, MountPath: DefaultSATokenDir, ReadOnly: true},
			},
			SecurityContext:          s.securityContext(),
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		},
		Resources: initResources,
	}
	if k.dirs != "" {
		c.Env = []corev1.EnvVar{{Name: CopyDirsEnv, Value: k.dirs}}
	}
	j, err := json.Marshal(c)
	if err != nil {
		panic("admission: failed to encode the init container: " + err.Error()) // plain strings and ints: cannot fail
	}
	return j
}

// platformValues collects the values a pod's nodeSelector and required node
// affinity (operator In) allow for a node label.
func platformValues(pod *corev1.Pod, label string) []string {
	var out []string
	if v, ok := pod.Spec.NodeSelector[label]; ok {
		out = append(out, v)
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return out
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == label && e.Operator == corev1.NodeSelectorOpIn {
				out = append(out, e.Values...)
			}
		}
	}
	return out
}
