package main

import (
	"bufio"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// The test binary runs as pause when PAUSE_UNDER_TEST is set.
func TestMain(m *testing.M) {
	if os.Getenv("PAUSE_UNDER_TEST") == "1" {
		os.Exit(run(os.Args[:1], func() { os.Stdout.WriteString("ready\n") }))
	}
	os.Exit(m.Run())
}

func TestPauseExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "PAUSE_UNDER_TEST=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
				t.Fatalf("pause said %q, %v; want ready", line, err)
			}
			// A SIGCHLD (nothing to reap) must not end it.
			if err := cmd.Process.Signal(syscall.SIGCHLD); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatalf("pause ended before %v: %v", sig, err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("after %v: %v, want exit status 0", sig, err)
			}
		})
	}
}
