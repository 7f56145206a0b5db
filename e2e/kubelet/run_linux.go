package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// Exit codes of the stand-in itself (any other code is the container's).
const (
	ExitTimeout = 124 // --timeout elapsed
	ExitError   = 125 // the stand-in failed: bad pod, API error, mount failure
	ExitNoExec  = 126 // the container's program could not be executed
	ExitNoFile  = 127 // the container's program was not found
)

// roleEnv tells a re-executed copy of the binary which helper it is.
const roleEnv = "VSW_KUBELET_STANDIN_ROLE"

const (
	rolePod       = "pod"       // owns the pod's mount namespace and runs its containers
	roleContainer = "container" // sets up one container's mounts, then execs it
)

// Options say which pod to run and how.
type Options struct {
	Kube        kube.Config   `json:"kube"`
	Namespace   string        `json:"namespace"`
	Pod         string        `json:"pod"`
	Container   string        `json:"container,omitempty"`   // default: the first regular container
	UntilOutput string        `json:"untilOutput,omitempty"` // stop the container once this was printed; exit 0
	Timeout     time.Duration `json:"timeout"`               // bounds the whole run; 0 means none
	VaultEnv    string        `json:"vaultEnv,omitempty"`    // binary for the vault-env image
	TestApp     string        `json:"testApp,omitempty"`     // binary for the testapp image

	Stdout io.Writer `json:"-"` // the container's stdout (default os.Stdout)
	Stderr io.Writer `json:"-"` // its stderr, and the stand-in's messages (default os.Stderr)
}

// podConfig is what the pod helper reads from fd 3.
type podConfig struct {
	Options
	Root string `json:"root"` // the pod's scratch directory
}

// IsHelper reports whether this process was started as one of the
// stand-in's helpers; main (or TestMain) must then call RunHelper first.
func IsHelper() bool { return os.Getenv(roleEnv) != "" }

// RunHelper runs the helper role named by the environment and exits.
func RunHelper() {
	switch os.Getenv(roleEnv) {
	case rolePod:
		os.Exit(runPodRole())
	case roleContainer:
		os.Exit(runContainerRole())
	}
	fmt.Fprintf(os.Stderr, "kubelet-standin: unknown helper role %q\n", os.Getenv(roleEnv))
	os.Exit(ExitError)
}

// Run runs the pod's init containers and the chosen container as local
// processes and returns the container's exit code (or one of the Exit*
// codes of the stand-in). The work happens in a re-executed copy of this
// binary inside a private mount namespace, so the executable must call
// RunHelper when IsHelper is true. Run needs root.
func Run(ctx context.Context, opts Options) (int, error) {
	if opts.Namespace == "" || opts.Pod == "" {
		return ExitError, errors.New("failed to run pod: namespace and pod name are required")
	}
	if opts.Kube.Server == "" {
		return ExitError, errors.New("failed to run pod: no kubernetes server configured")
	}
	if os.Geteuid() != 0 {
		return ExitError, errors.New("failed to run pod: the kubelet stand-in needs root (it mounts volumes in a private mount namespace)")
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	exe, err := os.Executable()
	if err != nil {
		return ExitError, fmt.Errorf("failed to find own executable: %w", err)
	}
	root, err := os.MkdirTemp("", "kubelet-standin-")
	if err != nil {
		return ExitError, fmt.Errorf("failed to create pod directory: %w", err)
	}
	defer os.RemoveAll(root)

	cfg, err := json.Marshal(podConfig{Options: opts, Root: root})
	if err != nil {
		return ExitError, fmt.Errorf("failed to encode pod config: %w", err)
	}
	if opts.Timeout > 0 {
		// The pod helper enforces the timeout itself; this is a backstop.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout+30*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = []string{roleEnv + "=" + rolePod}
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS, // Go also makes / rprivate in the child
		Pdeathsig:    syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	if err := withConfigPipe(cmd, cfg); err != nil {
		return ExitError, err
	}
	err = cmd.Wait()
	if cmd.ProcessState == nil {
		return ExitError, fmt.Errorf("failed to run pod helper: %w", err)
	}
	return exitCode(cmd.ProcessState), nil
}

// withConfigPipe starts cmd with data readable on its fd 3.
func withConfigPipe(cmd *exec.Cmd, data []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("failed to create config pipe: %w", err)
	}
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("failed to start helper: %w", err)
	}
	r.Close()
	_, werr := w.Write(data)
	cerr := w.Close()
	if werr != nil || cerr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("failed to send helper config: %w", errors.Join(werr, cerr))
	}
	return nil
}

// readConfig reads a helper's JSON config from fd 3 and closes it.
func readConfig(v any) error {
	f := os.NewFile(3, "config")
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return fmt.Errorf("failed to read helper config: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("failed to decode helper config: %w", err)
	}
	return nil
}

// exitCode is the process's exit status, 128+N when killed by signal N.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("failed to encode helper config: %w", err)
	}
	return b, nil
}
