// Package vaultenv is vault-env's runtime: it turns a container's
// environment holding Vault references into the application's environment,
// then execs or supervises the application. It talks to Vault only through
// the [vault.Client] interface of the leaf package vaultenv/vault (package
// vaultclient implements it on vault/api); everything else here is stdlib.
// The reference grammar is the leaf package envinject/ref, which the
// webhook's injection decision imports too.
//
// The flow, each step testable on its own:
//
//	ParseConfig    settings from the environment, validated, no I/O
//	NewPlan        every value parsed, templates and write bodies compiled, no I/O
//	Authenticate   VAULT_TOKEN, VAULT_TOKEN_FILE, or a kubernetes/jwt login with retries
//	Resolve        mounts looked up (one request per first path segment) while
//	               MOUNT/data/... paths are already read; each distinct path
//	               read once, concurrently; the child environment built entry
//	               by entry
//	ExecPath       execve (exec mode), or
//	Supervise      child process, signals, reaping, renewals (daemon mode)
//
// # Environment
//
// The settings are [Settings], the one list the README's table is generated
// from (and checked against). All are removed from the child's environment
// unless listed in VAULT_ENV_PASSTHROUGH, except VAULT_TOKEN_FILE, which is
// kept (as in Bank-Vaults); VAULT_TOKEN never passes through, and with
// VAULT_TOKEN=vault:login the client settings vault/api reads (VAULT_ADDR,
// CA and TLS settings, namespace, ...; Setting.Login) are given to the
// application with the new token. The Client ones are read by vault/api
// itself (package vaultclient).
//
// The proxy variables HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case)
// steer vault/api's connections too; they stay in the child's environment.
// With VAULT_ENV_SPEC_VARS set (the webhook always sets it), a setting or
// proxy variable it does not name is ignored by vault-env: only what the pod
// author (or the webhook) wrote in the container's own env can steer the
// login, never a ConfigMap or Secret consumed through envFrom.
//
// Durations are Go durations or plain seconds; booleans are strconv.ParseBool
// forms. Every configuration error names its variable, and no error or log
// line holds a secret value or token: secret-holding types ([Secret],
// [Auth], [Config], [Session], [Result]) redact themselves in String and
// LogValue.
package vaultenv
