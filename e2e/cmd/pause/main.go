// Command pause is the program behind the sandbox's pause image (the pod
// sandbox container containerd starts for every pod, pinned in its config
// as registry.k8s.io/pause:3.10): it sleeps until SIGTERM or SIGINT, then
// exits 0, and as PID 1 of a pod with a shared PID namespace it reaps
// every orphaned child (SIGCHLD). It is the Go equivalent of Kubernetes'
// build/pause/linux/pause.c; scripts/image builds it into the image.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args, nil))
}

// run pauses until SIGTERM or SIGINT and returns the exit code; ready, if
// set, is called once the signal handlers are in place (tests wait for it).
func run(args []string, ready func()) int {
	if len(args) > 1 && args[1] == "-v" {
		fmt.Println("pause (vault-secrets-webhook sandbox)")
		return 0
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	if ready != nil {
		ready()
	}
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return 0
		}
		reap()
	}
	return 0
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
