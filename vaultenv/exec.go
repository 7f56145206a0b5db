package vaultenv

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// LookPath resolves argv0 like exec.LookPath, against vault-env's PATH (the
// child's too), but refuses a match relative to the working directory
// (exec.ErrDot): "app" must not run ./app because PATH holds ".".
func LookPath(argv0 string) (string, error) {
	if argv0 == "" {
		return "", errors.New("failed to find the command: empty argv[0]")
	}
	p, err := exec.LookPath(argv0)
	if errors.Is(err, exec.ErrDot) {
		return "", fmt.Errorf("failed to find the command %q: refusing a match relative to the working directory: %w", argv0, err)
	}
	if err != nil {
		return "", fmt.Errorf("failed to find the command %q: %w", argv0, err)
	}
	return p, nil
}

// ExecPath replaces the process with the program at path (found with
// [LookPath]), argv and env (execve). On success it does not return; the new
// image discards every buffer of this one.
func ExecPath(path string, argv, env []string) error {
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("failed to exec %q: %w", path, err)
	}
	return nil
}
