// Package envinject is vault-env's runtime: it turns a container's
// environment holding Vault references into the application's environment,
// then execs or supervises the application. It talks to Vault only through
// the [Vault] interface (package vaultclient implements it); everything else
// here is stdlib. The reference grammar is the subpackage envinject/ref,
// which the webhook imports alone.
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
// Settings (all removed from the child's environment unless listed in
// VAULT_ENV_PASSTHROUGH; VAULT_TOKEN never passes through):
//
//	VAULT_ADDR                       Vault address (default https://127.0.0.1:8200)
//	VAULT_CACERT                     PEM file of the CA for Vault's certificate
//	VAULT_SKIP_VERIFY                true: do not verify Vault's certificate
//	VAULT_NAMESPACE                  Vault Enterprise namespace
//	VAULT_CLIENT_TIMEOUT             per-request timeout; also bounds login retries (default 10s)
//	VAULT_AUTH_METHOD                kubernetes (default) or jwt
//	VAULT_PATH                       auth mount (default kubernetes)
//	VAULT_ROLE                       role (default: ServiceAccount name from the JWT's sub)
//	KUBERNETES_SERVICE_ACCOUNT_TOKEN JWT file (default /var/run/secrets/kubernetes.io/serviceaccount/token)
//	VAULT_TOKEN                      token to use; "vault:login" = log in and hand the token to the app
//	VAULT_TOKEN_FILE                 file holding the token
//	VAULT_REVOKE_TOKEN               true: revoke the token before exec
//	VAULT_IGNORE_MISSING_SECRETS     true: a missing secret is a warning; the variable is left out
//	VAULT_ENV_PASSTHROUGH            comma list of settings to keep for the app
//	VAULT_ENV_FROM_PATH              comma list of paths whose keys all become variables
//	VAULT_ENV_DAEMON                 true: supervise instead of exec
//	VAULT_ENV_DELAY                  wait after resolving, before starting the app
//	VAULT_ENV_GRACE_PERIOD           SIGTERM-to-SIGKILL delay when a lease ends (default 10s)
//	VAULT_LOG_LEVEL                  debug, info (default), warn, error
//	VAULT_JSON_LOG                   true: JSON log lines (times in UTC either way)
//	VAULT_TRANSIT_KEY_ID             transit key for vault:vN: values
//	VAULT_TRANSIT_PATH               transit mount (default transit)
//	VAULT_TRANSIT_BATCH_SIZE         ciphertexts per decrypt request (default 25)
//
// Durations are Go durations or plain seconds; booleans are strconv.ParseBool
// forms. Every configuration error names its variable, and no error or log
// line holds a secret value or token: secret-holding types ([Secret],
// [Auth], [Config], [Session], [Result]) redact themselves in String and
// LogValue.
package envinject
