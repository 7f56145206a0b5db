package kubelet

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a started container.
type process struct {
	name   string
	cmd    *exec.Cmd
	copies sync.WaitGroup
	done   chan struct{} // closed when the process exited and its output was copied
}

func (pr *process) copy(w io.Writer, r *os.File) {
	defer pr.copies.Done()
	_, _ = io.Copy(w, r)
}

// stop sends SIGTERM to the container's process group, waits up to grace,
// then SIGKILLs the group, and waits for the process.
func (pr *process) stop(grace time.Duration) {
	select {
	case <-pr.done: // gone; its group was killed then, and the pid may be reused
		return
	default:
	}
	pid := pr.cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-pr.done:
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-pr.done
}

func (pr *process) exitCode() int { return exitCode(pr.cmd.ProcessState) }
