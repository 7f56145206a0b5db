package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

const (
	// untilOutputGrace is how long a container may take to exit after
	// SIGTERM once --until-output matched, before SIGKILL.
	untilOutputGrace = 2 * time.Second
	// sidecarGrace is the same for native sidecars at the end of the run.
	sidecarGrace = 5 * time.Second
	// outputDrainTimeout bounds the wait for a container's output after it
	// exited.
	outputDrainTimeout = 2 * time.Second
)

// runPodRole runs in the pod's private mount namespace.
func runPodRole() int {
	var cfg podConfig
	if err := readConfig(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
		return ExitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	p := &podRun{cfg: cfg, stdout: os.Stdout, stderr: os.Stderr, volumes: map[string]string{}}
	code, err := p.run(ctx)
	p.stopSidecars()
	if err == nil {
		return code
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "kubelet-standin: timed out after %s: %v\n", cfg.Timeout, err)
		return ExitTimeout
	}
	fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
	return code
}

type podRun struct {
	cfg            podConfig
	stdout, stderr io.Writer
	stderrMu       sync.Mutex // serialises prefixed lines on stderr

	client   *kube.Client
	pod      *corev1.Pod
	objs     *apiObjects
	service  map[string]string
	volumes  map[string]string // volume name -> directory in the pod namespace
	sidecars []*process
}

// run returns the exit code; with a non-nil error the code is the one to
// exit with after reporting the error.
func (p *podRun) run(ctx context.Context) (int, error) {
	c, err := kube.New(p.cfg.Kube)
	if err != nil {
		return ExitError, err
	}
	p.client = c
	pod, err := c.GetPod(ctx, p.cfg.Namespace, p.cfg.Pod)
	if err != nil {
		return ExitError, err
	}
	p.pod = pod
	p.objs = &apiObjects{ctx: ctx, c: c, ns: pod.Namespace}
	if p.service, err = ServiceEnv(apiHostPort(p.cfg.Kube.Server)); err != nil {
		return ExitError, err
	}
	main, err := chooseContainer(pod, p.cfg.Container)
	if err != nil {
		return ExitError, err
	}
	if err := p.prepareVolumes(ctx, main); err != nil {
		return ExitError, err
	}

	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out := p.prefixed("[sidecar " + ic.Name + "] ")
			proc, err := p.start(ic, out, out)
			if err != nil {
				return ExitError, err
			}
			p.sidecars = append(p.sidecars, proc)
			continue
		}
		out := p.prefixed("[init " + ic.Name + "] ")
		proc, err := p.start(ic, out, out)
		if err != nil {
			return ExitError, err
		}
		select {
		case <-proc.done:
		case <-ctx.Done():
			proc.stop(0)
			return ExitError, fmt.Errorf("failed to run init container %s: %w", ic.Name, ctx.Err())
		}
		if code := proc.exitCode(); code != 0 {
			return code, fmt.Errorf("failed to run init container %s: exited with code %d", ic.Name, code)
		}
	}

	stdout, stderr := p.stdout, p.stderr
	var w *watcher
	if p.cfg.UntilOutput != "" {
		w = newWatcher(p.cfg.UntilOutput)
		stdout, stderr = w.stream(stdout), w.stream(stderr)
	}
	proc, err := p.start(main, stdout, stderr)
	if err != nil {
		return ExitError, err
	}
	var seen <-chan struct{}
	if w != nil {
		seen = w.seen
	}
	select {
	case <-proc.done:
	case <-seen:
		proc.stop(untilOutputGrace)
		return 0, nil
	case <-ctx.Done():
		proc.stop(0)
		return ExitError, fmt.Errorf("failed to run container %s: %w", main.Name, ctx.Err())
	}
	code := proc.exitCode()
	if w == nil {
		return code, nil
	}
	select {
	case <-w.seen: // printed just before exiting
		return 0, nil
	default:
	}
	if code == 0 {
		code = 1
	}
	return code, fmt.Errorf("container %s exited (code %d) without printing %q", main.Name, proc.exitCode(), p.cfg.UntilOutput)
}

func (p *podRun) prefixed(prefix string) io.Writer {
	return &prefixWriter{mu: &p.stderrMu, w: p.stderr, prefix: []byte(prefix)}
}

func (p *podRun) stopSidecars() {
	for i := len(p.sidecars) - 1; i >= 0; i-- {
		p.sidecars[i].stop(sidecarGrace)
	}
}

// chooseContainer returns the named regular container, or the first.
func chooseContainer(pod *corev1.Pod, name string) (*corev1.Container, error) {
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("pod %s/%s has no containers", pod.Namespace, pod.Name)
	}
	if name == "" {
		return &pod.Spec.Containers[0], nil
	}
	var names []string
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], nil
		}
		names = append(names, pod.Spec.Containers[i].Name)
	}
	return nil, fmt.Errorf("pod %s/%s has no container %q (containers: %s)", pod.Namespace, pod.Name, name, strings.Join(names, ", "))
}

// apiHostPort is host:port of the API server URL (443 when implicit).
func apiHostPort(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return server
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return u.Host
}

// start launches a container through the container helper.
func (p *podRun) start(c *corev1.Container, stdout, stderr io.Writer) (*process, error) {
	spec, err := p.containerSpec(c)
	if err != nil {
		return nil, err
	}
	cfg, err := jsonBytes(spec)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("failed to find own executable: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{roleEnv + "=" + roleContainer}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true, // the container's processes form one group we can signal
		Pdeathsig:    syscall.SIGKILL,
	}
	proc := &process{name: c.Name, done: make(chan struct{})}
	// Our own pipes: Wait then returns when the process exits, even when a
	// grandchild still holds the pipe; the copies finish once the group is
	// gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("failed to create pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("failed to create pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = withConfigPipe(cmd, cfg)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("failed to start container %s: %w", c.Name, err)
	}
	proc.cmd = cmd
	proc.copies.Add(2)
	go proc.copy(stdout, outR)
	go proc.copy(stderr, errR)
	go func() {
		_ = cmd.Wait()
		// Whatever the container left behind in its group goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		copied := make(chan struct{})
		go func() { proc.copies.Wait(); close(copied) }()
		select {
		case <-copied:
		case <-time.After(outputDrainTimeout):
			// A process that left the group still holds the pipes.
			outR.Close()
			errR.Close()
			<-copied
		}
		outR.Close()
		errR.Close()
		close(proc.done)
	}()
	return proc, nil
}

// containerSpec resolves a container into what the helper executes.
func (p *podRun) containerSpec(c *corev1.Container) (*containerSpec, error) {
	kind, err := ClassifyImage(c.Image)
	if err != nil {
		return nil, fmt.Errorf("failed to run container %s: %w", c.Name, err)
	}
	env, err := ContainerEnv(p.pod, c, p.objs, p.service)
	if err != nil {
		return nil, err
	}
	argv, err := Argv(c, kind, env)
	if err != nil {
		return nil, err
	}
	spec := &containerSpec{Name: c.Name, Argv: argv, Dir: c.WorkingDir}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	if err := securityContext(p.pod, c, spec); err != nil {
		return nil, err
	}
	spec.Env = ProcessEnv(imageEnv(p.pod.Name, spec.UID), env)
	switch kind {
	case ImageVaultEnv:
		if p.cfg.VaultEnv == "" {
			return nil, fmt.Errorf("failed to run container %s: image %s needs the vault-env binary (--vault-env)", c.Name, c.Image)
		}
		spec.Programs = []mountSpec{{Source: p.cfg.VaultEnv, Target: VaultEnvPath, ReadOnly: true}}
	case ImageTestApp:
		if p.cfg.TestApp == "" {
			return nil, fmt.Errorf("failed to run container %s: image %s needs the testapp binary (--testapp)", c.Name, c.Image)
		}
		spec.Programs = []mountSpec{{Source: p.cfg.TestApp, Target: TestAppPath, ReadOnly: true}}
	}
	for _, m := range c.VolumeMounts {
		src, ok := p.volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("failed to run container %s: volume %s is not defined in the pod", c.Name, m.Name)
		}
		if m.SubPath != "" {
			rel, err := cleanRelative(m.SubPath)
			if err != nil {
				return nil, fmt.Errorf("failed to run container %s: subPath of %s: %w", c.Name, m.MountPath, err)
			}
			src = filepath.Join(src, rel)
		}
		if !filepath.IsAbs(m.MountPath) {
			return nil, fmt.Errorf("failed to run container %s: mountPath %q is not absolute", c.Name, m.MountPath)
		}
		spec.Mounts = append(spec.Mounts, mountSpec{Source: src, Target: filepath.Clean(m.MountPath), ReadOnly: m.ReadOnly})
	}
	return spec, nil
}

// securityContext applies runAsUser/runAsGroup (container over pod),
// supplementalGroups and fsGroup, and refuses runAsNonRoot with root.
func securityContext(pod *corev1.Pod, c *corev1.Container, spec *containerSpec) error {
	var nonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		spec.UID, spec.GID, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		spec.Groups = append(spec.Groups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			spec.Groups = append(spec.Groups, *psc.FSGroup)
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			spec.UID = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			spec.GID = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
	}
	if nonRoot != nil && *nonRoot && (spec.UID == nil || *spec.UID == 0) {
		return fmt.Errorf("failed to run container %s: runAsNonRoot is set but the container would run as root (set runAsUser)", c.Name)
	}
	if spec.UID != nil && spec.GID == nil {
		zero := int64(0) // the images' users have group 0
		spec.GID = &zero
	}
	return nil
}
