package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
	vswtls "github.com/vault-secrets-webhook/vault-secrets-webhook/tls"
)

// Server limits. Reviews are bounded by the apiserver's timeoutSeconds (at
// most 30s), so WriteTimeout leaves room for that plus encoding.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 40 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 64 << 10
	readyzKubeTimeout = 3 * time.Second
	selfSignedTTL     = 365 * 24 * time.Hour
)

// run parses the configuration, wires the parts and serves until ctx is
// done. listening, when not nil, receives the bound address (tests).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, listening chan<- string) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	kc, err := kubeClient(cfg, getenv)
	if err != nil && !errors.Is(err, errNoKube) {
		return err
	}
	if kc == nil && (!cfg.LeastPrivilege || cfg.TLSSelfSigned) {
		return fmt.Errorf("failed to configure kubernetes client: %w (set --kube-server, run in a cluster, or use --least-privilege with certificate files)", errNoKube)
	}

	metrics := admission.NewMetrics()
	mcfg := envinject.Config{
		VaultAddr:          cfg.VaultAddr,
		VaultEnvImage:      cfg.VaultEnvImage,
		Namespace:          cfg.Namespace,
		ExcludedNamespaces: cfg.ExcludedNS,
		AllowedVaultAddrs:  cfg.AllowedVaultAddrs,
		AllowSkipVerify:    cfg.AllowSkipVerify,
		LeastPrivilege:     cfg.LeastPrivilege,
		Defaults:           cfg.Defaults,
		OnLookup:           metrics.ObserveLookup,
	}
	var lookups envinject.Lookups
	var objs *objects
	if kc != nil {
		objs = newObjects(kc)
		lookups = kubeLookups{o: objs}
	}
	images, err := newImages(cfg, objs, log)
	if err != nil {
		return err
	}
	mut, err := envinject.NewMutator(mcfg, lookups, images)
	if err != nil {
		return err
	}

	// The serving certificate.
	var src *vswtls.Source
	if cfg.TLSSelfSigned {
		ss, err := vswtls.GenerateSelfSigned(cfg.TLSHosts, selfSignedTTL, time.Now())
		if err != nil {
			return err
		}
		if err := vswtls.PublishCABundle(ctx, kc, cfg.WebhookConfigName, ss.CAPEM); err != nil {
			return err
		}
		log.Info("published self-signed CA", "webhookConfiguration", cfg.WebhookConfigName)
		go republishCA(ctx, kc, cfg.WebhookConfigName, ss.CAPEM, log)
		src = ss.Source
	} else {
		fsrc, err := vswtls.NewFileSource(cfg.TLSCertFile, cfg.TLSKeyFile, log)
		if err != nil {
			return err
		}
		go fsrc.Run(ctx, cfg.TLSReloadInterval)
		src = &fsrc.Source
	}
	metrics.Collect(newProcessMetrics(time.Now()).write)
	metrics.Collect(registryMetrics(images.rc.Snapshot))
	metrics.Gauge("vsw_tls_certificate_expiry_timestamp_seconds", "Expiry of the serving certificate, as a Unix time.",
		func() float64 { return float64(src.NotAfter().Unix()) })

	healthMux := http.NewServeMux()
	healthMux.Handle("/metrics", metrics)
	healthMux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	healthMux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := src.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "certificate: "+err.Error()+"\n")
			return
		}
		if kc != nil {
			kctx, cancel := context.WithTimeout(r.Context(), readyzKubeTimeout)
			defer cancel()
			if err := kc.Ready(kctx); err != nil {
				log.Warn("readyz: kubernetes API not reachable", "error", err.Error())
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "kubernetes API not reachable\n")
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	})

	mux := http.NewServeMux()
	mux.Handle("/pods", &admission.Handler{Mutator: mut, Metrics: metrics, Log: log,
		Budget: admission.NewBudget(admission.DefaultMaxInFlight, admission.DefaultBodyBudget)})
	mux.Handle("/", healthMux)

	tlsCfg := vswtls.ServerConfig(src)
	if cfg.ClientCAFile != "" {
		if err := vswtls.RequireClientCerts(tlsCfg, cfg.ClientCAFile, cfg.ClientNames); err != nil {
			return err
		}
	}
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	srv := newServer(mux, errorLog)
	srv.TLSConfig = tlsCfg
	// HTTP/2 buffers a stream's body before the handler reads it: keep that
	// to the protocol's minimum window per connection, so a client that
	// sends bodies the handler refuses (admission.Budget) holds 64 KiB, not
	// the default 1 MiB, per connection.
	srv.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10}
	// Requests must not be cancelled by SIGTERM: Shutdown stops accepting
	// and waits (up to ShutdownTimeout) for in-flight reviews.
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", cfg.ListenAddress, err)
	}
	log.Info("serving", "version", version, "address", ln.Addr().String(), "leastPrivilege", cfg.LeastPrivilege, "vaultAddr", cfg.VaultAddr)
	if listening != nil {
		listening <- ln.Addr().String()
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	if cfg.HealthAddress != "" {
		// Probes and scrapers present no client certificate: with
		// --client-ca-file they use this plain-HTTP listener, which serves
		// no reviews.
		health := newServer(healthMux, errorLog)
		hln, err := net.Listen("tcp", cfg.HealthAddress)
		if err != nil {
			ln.Close()
			return fmt.Errorf("failed to listen on %s: %w", cfg.HealthAddress, err)
		}
		log.Info("serving health and metrics", "address", hln.Addr().String())
		go func() { errc <- health.Serve(hln) }()
		defer health.Close()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("failed to serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("failed to shut down gracefully: %w", err)
	}
	return nil
}

// newServer is an http.Server with the webhook's limits.
func newServer(h http.Handler, errorLog *stdlog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// kubeClient builds the Kubernetes client from flags, or in-cluster.
func kubeClient(cfg *config, getenv func(string) string) (*kube.Client, error) {
	var kcfg kube.Config
	switch {
	case cfg.KubeServer != "":
		kcfg = kube.Config{Server: cfg.KubeServer, CAFile: cfg.KubeCAFile, TokenFile: cfg.KubeTokenFile}
	case getenv("KUBERNETES_SERVICE_HOST") != "":
		c, err := kube.InClusterConfig()
		if err != nil {
			return nil, err
		}
		kcfg = c
	default:
		return nil, errNoKube
	}
	return kube.New(kcfg)
}

// caRepublishInterval is how often self-signed mode checks that the
// caBundle still trusts this replica's CA.
const caRepublishInterval = time.Minute

// republishCA re-publishes the CA until ctx is done: the merge writes only
// when the bundle lost this replica's CA or holds expired certificates.
func republishCA(ctx context.Context, kc *kube.Client, name string, caPEM []byte, log *slog.Logger) {
	t := time.NewTicker(caRepublishInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := vswtls.PublishCABundle(pctx, kc, name, caPEM); err != nil {
			log.Warn("failed to re-publish self-signed CA", "webhookConfiguration", name, "error", err.Error())
		}
		cancel()
	}
}
