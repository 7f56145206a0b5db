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
// Settings ([Settings] is the list; the README's table is checked against
// it). All are removed from the child's environment unless listed in
// VAULT_ENV_PASSTHROUGH, except VAULT_TOKEN_FILE, which is kept (as in
// Bank-Vaults); VAULT_TOKEN never passes through, and with
// VAULT_TOKEN=vault:login the client settings vault/api reads (VAULT_ADDR,
// CA and TLS settings, namespace, ...; Setting.Login) are given to the
// application with the new token. The Client ones are read by vault/api
// itself (package vaultclient):
//
//	VAULT_ADDR                         Vault address
//	VAULT_AGENT_ADDR                   address of a Vault Agent (or proxy) to use instead of VAULT_ADDR; unix:///path for a socket
//	VAULT_CACERT                       PEM file of the CA for Vault's certificate
//	VAULT_CACERT_BYTES                 the same CA as PEM text
//	VAULT_CAPATH                       directory of PEM CA files
//	VAULT_CLIENT_CERT                  PEM client certificate for a listener that requires one (mTLS); needs VAULT_CLIENT_KEY
//	VAULT_CLIENT_KEY                   PEM private key of VAULT_CLIENT_CERT
//	VAULT_TLS_SERVER_NAME              name to verify Vault's certificate against (and send as SNI)
//	VAULT_SKIP_VERIFY                  do not verify Vault's certificate
//	VAULT_NAMESPACE                    Vault Enterprise namespace
//	VAULT_CLIENT_TIMEOUT               timeout of each request (vault/api's own default, 60s, is not used); also the total time login retries may take
//	VAULT_MAX_RETRIES                  retries of a request on connection errors, 412, 429 and 5xx (vault/api's backoff)
//	VAULT_SRV_LOOKUP                   find Vault through a DNS SRV record of the address's host
//	VAULT_HTTP_PROXY                   proxy for Vault requests (wins over HTTPS_PROXY)
//	VAULT_PROXY_ADDR                   the same as VAULT_HTTP_PROXY
//	VAULT_DISABLE_REDIRECTS            do not follow Vault's redirects (a redirect to another host is never followed)
//	VAULT_HEADERS                      JSON object of extra request headers (no X-Vault-*)
//	VAULT_WRAP_TTL                     ask Vault to response-wrap every answer (vault/api's behaviour; resolving then finds no data)
//	VAULT_MFA                          removed from the application's environment; no effect in vault-env (a CLI variable)
//	VAULT_RATE_LIMIT                   client-side rate limit RATE[:BURST] of requests per second
//	VAULT_CLUSTER_ADDR                 removed from the application's environment (a server variable; no effect)
//	VAULT_REDIRECT_ADDR                removed from the application's environment (a server variable; no effect)
//	VAULT_CLI_NO_COLOR                 removed from the application's environment (a CLI variable; no effect)
//	VAULT_AUTH_METHOD                  kubernetes or jwt (both send the ServiceAccount JWT)
//	VAULT_PATH                         mount of the auth method
//	VAULT_ROLE                         role to log in as; the default is read from the JWT's sub
//	KUBERNETES_SERVICE_ACCOUNT_TOKEN   file holding the JWT
//	VAULT_TOKEN                        use this token instead of logging in; vault:login = log in and give the new token to the app as VAULT_TOKEN, with the client settings marked ¹
//	VAULT_TOKEN_FILE                   read the token from this file (e.g. written by a Vault agent); kept in the app's environment, as in Bank-Vaults
//	VAULT_REVOKE_TOKEN                 revoke vault-env's token before exec (this revokes the leases it created too)
//	VAULT_IGNORE_MISSING_SECRETS       a missing secret path (or deleted version) is a warning and the variable is not set; a missing key of an existing secret stays an error
//	VAULT_ENV_PASSTHROUGH              comma list of these settings to keep in the app's environment (VAULT_TOKEN is refused)
//	VAULT_ENV_FROM_PATH                comma list of PATH or PATH#VERSION; every key becomes a variable; explicitly set variables win
//	VAULT_ENV_DAEMON                   run the app as a child and keep the token and leases renewed
//	VAULT_ENV_DELAY                    wait this long after resolving, before starting the app
//	VAULT_ENV_GRACE_PERIOD             daemon mode: SIGTERM-to-SIGKILL delay when a lease ends for good (ours, not in Bank-Vaults)
//	VAULT_LOG_LEVEL                    debug, info, warn, error
//	VAULT_JSON_LOG                     JSON log lines (stderr); times are UTC in both formats
//	VAULT_TRANSIT_KEY_ID               transit key for vault:v1: values (required when there are any)
//	VAULT_TRANSIT_PATH                 transit mount
//	VAULT_TRANSIT_BATCH_SIZE           ciphertexts per decrypt request
//	VAULT_ENV_SPEC_VARS                set by the webhook: comma list of the variables above (and proxy variables) written in the container's own env; when present, any other one is ignored by vault-env (see "Login steering")
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
