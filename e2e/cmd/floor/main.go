// Command floor is the benchmark floor for the webhook: a TLS server that
// reads each request body, decodes nothing and answers every POST with the
// same allowed AdmissionReview. Whatever the webhook costs above this is the
// cost of its own work; scripts/bench reports the webhook as ratios to it.
//
// Flags (named like the webhook's):
//
//	--listen-address ADDR   where to listen (default 127.0.0.1:8443)
//	--tls-cert-file FILE    PEM serving certificate (required)
//	--tls-key-file FILE     PEM private key (required)
//
// It reads no environment variables. SIGINT/SIGTERM stop it.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/bench"
)

func main() {
	if err := run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("listen-address", "127.0.0.1:8443", "listen address")
	certFile := fs.String("tls-cert-file", "", "PEM serving certificate")
	keyFile := fs.String("tls-key-file", "", "PEM private key")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *certFile == "" || *keyFile == "" {
		return errors.New("--tls-cert-file and --tls-key-file are required")
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("failed to load --tls-cert-file/--tls-key-file: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("failed to listen on --listen-address %s: %w", *addr, err)
	}
	srv := bench.FloorServer(*addr, cert)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("failed to serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("failed to shut down: %w", err)
	}
	return nil
}
