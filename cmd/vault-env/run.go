package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultclient"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// exitError carries an exit status that is not a failure of vault-env
// itself (the supervised application's status).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// newClient creates the vault/api client from exactly the settings cfg
// accepted: vault/api reads its variables from the process environment, so
// every name it (or its transport) reads is first unset, then the accepted
// values are set. The application's environment is built separately, from
// environ. LookPath has already read PATH.
func newClient(cfg *vaultenv.Config) (*vaultclient.Client, error) {
	for _, name := range vaultenv.ClientVars() {
		if err := os.Unsetenv(name); err != nil {
			return nil, fmt.Errorf("failed to unset %s: %w", name, err)
		}
	}
	for _, kv := range cfg.ClientEnv() {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("failed to set %s: %w", k, err)
		}
	}
	return vaultclient.New()
}

const usage = "usage: vault-env copy DIR | vault-env COMMAND [ARG...]"

func run(ctx context.Context, args, environ []string) (err error) {
	if len(args) < 2 {
		return errors.New(usage)
	}
	if args[1] == "copy" && len(args) == 3 {
		if err := copySelf(args[2]); err != nil {
			return err
		}
		return makeMountPoints(args[2], os.Getenv(CopyDirsEnv))
	}
	argv := args[1:]

	cfg, err := vaultenv.ParseConfig(environ)
	if err != nil {
		return fmt.Errorf("failed to read configuration: %w", err)
	}
	defer cfg.Clear()
	log := cfg.NewLogger(os.Stderr)
	// From here on, failures go through the configured logger (JSON when
	// VAULT_JSON_LOG is set), and main only sets the exit status.
	defer func() {
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			log.Error("vault-env failed; the application was not started", "error", err)
			err = &exitError{code: 1}
		}
	}()
	plan, err := vaultenv.NewPlan(cfg, environ)
	if err != nil {
		return fmt.Errorf("failed to parse references: %w", err)
	}
	path, err := vaultenv.LookPath(argv[0])
	if err != nil {
		return err
	}

	for _, name := range cfg.Ignored {
		log.Warn("ignoring a vault-env setting not written in the container's env (envFrom or image)", "name", name)
	}
	// A container without references and without a token hand-off needs
	// no Vault at all (not even in daemon mode: there is nothing to renew),
	// and no client.
	var (
		client  *vaultclient.Client
		vc      vault.Client // nil unless client is set
		session *vaultenv.Session
	)
	if plan.NeedsVault() || cfg.Login {
		if client, err = newClient(cfg); err != nil {
			return err
		}
		vc = client
		if session, err = vaultenv.Authenticate(ctx, client, cfg, os.ReadFile, log); err != nil {
			return err
		}
		defer session.Clear()
	}
	res, err := vaultenv.Resolve(ctx, vc, plan, session, log)
	if err != nil {
		return fmt.Errorf("failed to resolve secrets: %w", err)
	}
	log.Info("secrets resolved", "variables", len(res.Env), "leases", len(res.Leases))

	if cfg.Daemon {
		code, err := vaultenv.Supervise(ctx, vaultenv.SuperviseOptions{
			Path: path, Argv: argv, Env: res.Env,
			Vault: vc, Session: session, Leases: res.Leases,
			Delay: cfg.Delay, GracePeriod: cfg.GracePeriod, Log: log,
		})
		if err != nil {
			return err
		}
		return &exitError{code: code}
	}

	if cfg.RevokeToken && session != nil {
		if err := vaultenv.RevokeToken(ctx, client); err != nil {
			log.Warn("token not revoked", "error", err)
		}
	}
	if client != nil {
		client.ClearToken()
	}
	if cfg.Delay > 0 {
		log.Info("delaying start", "delay", cfg.Delay)
		time.Sleep(cfg.Delay)
	}
	log.Debug("exec", "path", path)
	return vaultenv.ExecPath(path, argv, res.Env)
}
