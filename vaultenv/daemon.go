package vaultenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// SuperviseOptions configures daemon mode.
type SuperviseOptions struct {
	Path string   // program, from LookPath
	Argv []string // argv[0] included
	Env  []string

	Vault   vault.Client
	Session *Session // nil when no token was used
	Leases  []Lease

	Delay       time.Duration // before starting the child
	GracePeriod time.Duration // SIGTERM to SIGKILL when a lease ends for good
	Log         *slog.Logger
}

// Supervise runs the child with the same stdio, forwards every signal to it,
// renews the token and the renewable leases, and returns the child's exit
// status (128+N when it was killed by signal N). When a lease cannot be
// renewed any more, the child gets SIGTERM, then SIGKILL after GracePeriod.
func Supervise(ctx context.Context, o SuperviseOptions) (int, error) {
	log := o.Log // vault-env's main made the process non-dumpable first thing
	if o.Session != nil && o.Session.TTL == 0 && o.Vault != nil {
		if err := LookupToken(ctx, o.Vault, o.Session); err != nil {
			log.Warn("token not renewed: lookup failed", "error", err)
		}
	}
	if o.Delay > 0 {
		log.Info("delaying start", "delay", o.Delay)
		if !sleepCtx(ctx, o.Delay) {
			return 0, ctx.Err()
		}
	}

	// Subscribe before the child exists so no signal is lost in between.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	defer signal.Stop(sigs)

	proc, err := os.StartProcess(o.Path, o.Argv, &os.ProcAttr{Env: o.Env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		return 0, fmt.Errorf("failed to start %q: %w", o.Path, err)
	}
	defer proc.Release()
	log.Info("started child", "pid", proc.Pid)

	exited := make(chan syscall.WaitStatus, 1)
	go reap(proc.Pid, os.Getpid() == 1, exited, log)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan error, 1)
	go func() {
		if err := watchAll(wctx, o.Vault, o.Session, o.Leases, log); err != nil {
			ended <- err
		}
	}()

	var kill <-chan time.Time
	var done <-chan struct{} = ctx.Done()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGCHLD || s == syscall.SIGURG {
				continue // our own business: child exits, Go runtime preemption
			}
			log.Debug("forwarding signal", "signal", s)
			// The pidfd-backed Process makes this safe after the child was
			// reaped: it cannot hit a recycled PID.
			if err := proc.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
				log.Warn("failed to forward signal", "signal", s, "error", err)
			}
		case err := <-ended:
			log.Error("secret lease ended; stopping the application", "error", err, "grace", o.GracePeriod)
			_ = proc.Signal(syscall.SIGTERM)
			kill = time.After(o.GracePeriod)
		case <-kill:
			log.Error("application did not stop in time; killing it")
			_ = proc.Kill()
		case <-done:
			_ = proc.Signal(syscall.SIGTERM)
			kill, done = time.After(o.GracePeriod), nil
		case ws := <-exited:
			cancel()
			code := exitCode(ws)
			log.Info("child exited", "code", code)
			return code, nil
		}
	}
}

// reap waits for the child. As PID 1 it waits for any process, so orphans
// re-parented to it do not stay zombies.
func reap(pid int, all bool, out chan<- syscall.WaitStatus, log *slog.Logger) {
	target := pid
	if all {
		target = -1
	}
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(target, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			log.Error("failed to wait for child", "error", err)
			out <- syscall.WaitStatus(1 << 8) // exit status 1
			return
		}
		if got == pid {
			out <- ws
			return
		}
		log.Debug("reaped orphan", "pid", got)
	}
}

// exitCode maps a wait status to a shell-style exit code.
func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}
