// Command kubelet-standin runs a stored Pod's containers as local processes,
// the way a kubelet would, for the demo and the end-to-end tests (this
// machine has no kubelet and no container engine).
//
//	kubelet-standin --sandbox DIR --namespace NS --pod NAME [--container NAME]
//	    [--until-output S] [--timeout D] [--vault-env PATH] [--testapp PATH]
//
// It reads the Pod from the sandbox's kube-apiserver, runs its init
// containers in order (native sidecars, restartPolicy Always, run in the
// background until the end), then the chosen container (default: the first
// one), in private mount namespaces where the pod's volumes sit at their
// mountPaths. The container's stdout and stderr are its own; init and
// sidecar output goes to stderr, each line prefixed "[init NAME] " or
// "[sidecar NAME] ". It exits with the container's exit code (128+N when
// killed by signal N), or:
//
//	124  --timeout elapsed
//	125  the stand-in failed (pod not found, bad image, mount error, ...)
//	126  the container's program could not be executed
//	127  the container's program was not found
//
// An init container that fails ends the run with its exit code.
//
// Flags:
//
//	--sandbox DIR       sandbox directory with env.json (default $VSW_SANDBOX,
//	                    then $VSW_SANDBOX_DIR): the API server, its CA and
//	                    admin token, and the default binaries
//	--namespace NS      the pod's namespace (default "default")
//	--pod NAME          the pod's name (required)
//	--container NAME    the regular container to run (default: the first)
//	--until-output S    once S appeared on the container's stdout or stderr,
//	                    SIGTERM it, SIGKILL after 2s, and exit 0; if it exits
//	                    without printing S, exit non-zero
//	--timeout D         bound on the whole run (default 2m; 0: none)
//	--vault-env PATH    binary run for the vault-env image (default: the
//	                    sandbox's bin.vaultEnv)
//	--testapp PATH      binary run for the testapp image (default: the
//	                    sandbox's bin.testApp)
//
// Environment: VSW_SANDBOX / VSW_SANDBOX_DIR as above. The stand-in needs
// root. Image mapping and limits are documented in package e2e/kubelet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/kubelet"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

func main() {
	if kubelet.IsHelper() {
		kubelet.RunHelper() // never returns
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code, err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-standin:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("kubelet-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dir       = fs.String("sandbox", "", "sandbox directory holding env.json (default $VSW_SANDBOX, then $VSW_SANDBOX_DIR)")
		namespace = fs.String("namespace", "default", "the pod's namespace")
		pod       = fs.String("pod", "", "the pod's name")
		container = fs.String("container", "", "the regular container to run (default: the first)")
		until     = fs.String("until-output", "", "stop the container once this text was printed, and exit 0")
		timeout   = fs.Duration("timeout", 2*time.Minute, "bound on the whole run (0: none)")
		vaultEnv  = fs.String("vault-env", "", "binary for the vault-env image (default: the sandbox's)")
		testApp   = fs.String("testapp", "", "binary for the testapp image (default: the sandbox's)")
	)
	if err := fs.Parse(args[1:]); err != nil {
		return 2, nil
	}
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("failed to parse arguments: unexpected %q", fs.Arg(0))
	}
	if *pod == "" {
		return 2, errors.New("failed to parse flags: --pod is required")
	}
	if *timeout < 0 {
		return 2, errors.New("failed to parse flags: --timeout must not be negative")
	}
	if *dir == "" {
		*dir = getenv("VSW_SANDBOX")
	}
	if *dir == "" {
		*dir = getenv("VSW_SANDBOX_DIR")
	}
	if *dir == "" {
		return 2, errors.New("failed to parse flags: --sandbox is required (or set VSW_SANDBOX)")
	}
	env, err := sandbox.Load(*dir)
	if err != nil {
		return kubelet.ExitError, err
	}
	if *vaultEnv == "" {
		*vaultEnv = env.Bin.VaultEnv
	}
	if *testApp == "" {
		*testApp = env.Bin.TestApp
	}
	return kubelet.Run(ctx, kubelet.Options{
		Kube:        kube.Config{Server: env.KubeServer, CAFile: env.KubeCAFile, TokenFile: env.KubeTokenFile},
		Namespace:   *namespace,
		Pod:         *pod,
		Container:   *container,
		UntilOutput: *until,
		Timeout:     *timeout,
		VaultEnv:    *vaultEnv,
		TestApp:     *testApp,
		Stdout:      stdout,
		Stderr:      stderr,
	})
}
