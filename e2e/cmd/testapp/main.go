// Command testapp is the program of the sandbox's `testapp` image (built by
// scripts/image). It prints what a container was started with, so tests can
// assert on it:
//
//	ARG[0]=/usr/local/bin/testapp
//	ARG[1]=...
//	KEY=VALUE        (its whole environment, sorted, one per line)
//
// then exits 0. Two environment variables change that:
//
//   - TESTAPP_SLEEP: a Go duration (e.g. 1h) to sleep after printing, so a
//     test can stop it once its output was seen; it exits 0 on SIGTERM.
//   - TESTAPP_EXIT: the exit code to end with (0-255).
//
// Values are printed as they are: use it only with test data.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(2)
	}
}

func run(args, environ []string) error {
	// Parse the settings before printing anything.
	var sleep time.Duration
	code := 0
	env := make(map[string]string)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if s, ok := env["TESTAPP_SLEEP"]; ok {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("failed to parse TESTAPP_SLEEP %q: want a duration such as 30s", s)
		}
		sleep = d
	}
	if s, ok := env["TESTAPP_EXIT"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("failed to parse TESTAPP_EXIT %q: want 0-255", s)
		}
		code = n
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	w := bufio.NewWriter(os.Stdout)
	for i, a := range args {
		fmt.Fprintf(w, "ARG[%d]=%s\n", i, a)
	}
	sorted := slices.Clone(environ)
	slices.Sort(sorted)
	for _, kv := range sorted {
		fmt.Fprintln(w, kv)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("failed to write output: %w", err)
	}
	if sleep > 0 {
		select {
		case <-time.After(sleep):
		case <-stop:
		}
	}
	os.Exit(code)
	return nil
}
