package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// FreeAddr asks the OS for a free loopback port and returns "127.0.0.1:PORT".
// The port is released before the caller's server binds it; on a shared
// machine another process could take it in between, which StartServer
// reports as a start failure rather than measuring the wrong server.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("failed to find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Server is a server process started by the benchmark.
type Server struct {
	Name  string
	Addr  string
	Cmd   *exec.Cmd
	Ready time.Duration // from just before exec to the first completed TLS handshake
	exit  chan error
}

// PID of the server process.
func (s *Server) PID() int { return s.Cmd.Process.Pid }

// ErrExited is returned when a server process exits before it accepts a
// connection.
var ErrExited = errors.New("server exited")

// StartServer execs bin with args (stdout and stderr to logFile) and waits
// until a TLS handshake with addr succeeds, polling every 200µs so the wait
// itself does not take a CPU from the starting process. It fails after
// timeout or when the process exits first.
func StartServer(ctx context.Context, name, bin string, args, env []string, addr string, tc *tls.Config, logFile string, timeout time.Duration) (*Server, error) {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open log file: %w", err)
	}
	defer lf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = env // nil: this process's environment
	s := &Server{Name: name, Addr: addr, Cmd: cmd, exit: make(chan error, 1)}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	go func() { s.exit <- cmd.Wait() }()
	deadline := t0.Add(timeout)
	d := &net.Dialer{Timeout: time.Second}
	for {
		conn, err := tls.DialWithDialer(d, "tcp", addr, tc)
		if err == nil {
			s.Ready = time.Since(t0)
			conn.Close()
			return s, nil
		}
		select {
		case werr := <-s.exit:
			s.exit <- werr
			return nil, fmt.Errorf("failed to start %s (see %s): %w: %v", name, logFile, ErrExited, werr)
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("failed to start %s: %w", name, ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("failed to start %s: no TLS handshake within %s (see %s): %v", name, timeout, logFile, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// Stop sends SIGTERM, waits up to 5s, then kills the process.
func (s *Server) Stop() {
	if s == nil || s.Cmd.Process == nil {
		return
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exit:
		s.exit <- err
	case <-time.After(5 * time.Second):
		s.Cmd.Process.Kill()
		err := <-s.exit
		s.exit <- err
	}
}

func netListen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", addr, err)
	}
	return ln, nil
}
