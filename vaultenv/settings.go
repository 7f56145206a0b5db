package vaultenv

import (
	"fmt"
	"slices"
	"sync"
)

// Setting is one environment variable vault-env or vault/api reads. The list
// [Settings] is the single source of the README's vault-env table (checked
// by a test) and of what is removed from the application's environment.
type Setting struct {
	Name    string
	Default string // as shown in the README; "" for none
	Meaning string // one line of Markdown
	// Client: read by vault/api (api.DefaultConfig, api.NewClient); it is
	// placed in vault-env's process environment for vault/api.
	Client bool
	// Login: given to the application with VAULT_TOKEN=vault:login (the
	// client settings it needs to use the token), as Bank-Vaults does.
	Login bool
	// Kept: not removed from the application's environment.
	Kept bool
}

// Names of the settings vault-env itself interprets.
const (
	EnvAddr             = "VAULT_ADDR"
	EnvCACert           = "VAULT_CACERT"
	EnvSkipVerify       = "VAULT_SKIP_VERIFY"
	EnvNamespace        = "VAULT_NAMESPACE"
	EnvClientTimeout    = "VAULT_CLIENT_TIMEOUT"
	EnvRole             = "VAULT_ROLE"
	EnvAuthPath         = "VAULT_PATH"
	EnvAuthMethod       = "VAULT_AUTH_METHOD"
	EnvToken            = "VAULT_TOKEN"
	EnvTokenFile        = "VAULT_TOKEN_FILE"
	EnvRevokeToken      = "VAULT_REVOKE_TOKEN"
	EnvIgnoreMissing    = "VAULT_IGNORE_MISSING_SECRETS"
	EnvPassthrough      = "VAULT_ENV_PASSTHROUGH"
	EnvDaemon           = "VAULT_ENV_DAEMON"
	EnvDelay            = "VAULT_ENV_DELAY"
	EnvFromPath         = "VAULT_ENV_FROM_PATH"
	EnvGracePeriod      = "VAULT_ENV_GRACE_PERIOD"
	EnvLogLevel         = "VAULT_LOG_LEVEL"
	EnvJSONLog          = "VAULT_JSON_LOG"
	EnvTransitKeyID     = "VAULT_TRANSIT_KEY_ID"
	EnvTransitPath      = "VAULT_TRANSIT_PATH"
	EnvTransitBatchSize = "VAULT_TRANSIT_BATCH_SIZE"
	EnvSATokenPath      = "KUBERNETES_SERVICE_ACCOUNT_TOKEN"
	EnvSpecVars         = "VAULT_ENV_SPEC_VARS"
)

// Settings returns every variable of vault-env and vault/api, in the
// README's order.
func Settings() []Setting {
	c := func(name, def, meaning string) Setting {
		return Setting{Name: name, Default: def, Meaning: meaning, Client: true, Login: true}
	}
	own := func(name, def, meaning string) Setting { return Setting{Name: name, Default: def, Meaning: meaning} }
	code := func(def any) string { return "`" + fmt.Sprint(def) + "`" } // the constants ParseConfig uses
	return []Setting{
		c(EnvAddr, code(DefaultAddr), "Vault address"),
		c("VAULT_AGENT_ADDR", "", "address of a Vault Agent (or proxy) to use instead of `VAULT_ADDR`; `unix:///path` for a socket"),
		c(EnvCACert, "system roots", "PEM file of the CA for Vault's certificate"),
		c("VAULT_CACERT_BYTES", "", "the same CA as PEM text"),
		c("VAULT_CAPATH", "", "directory of PEM CA files"),
		c("VAULT_CLIENT_CERT", "", "PEM client certificate for a listener that requires one (mTLS); needs `VAULT_CLIENT_KEY`"),
		c("VAULT_CLIENT_KEY", "", "PEM private key of `VAULT_CLIENT_CERT`"),
		c("VAULT_TLS_SERVER_NAME", "", "name to verify Vault's certificate against (and send as SNI)"),
		c(EnvSkipVerify, "`false`", "do not verify Vault's certificate"),
		c(EnvNamespace, "", "Vault Enterprise namespace"),
		c(EnvClientTimeout, code(DefaultClientTimeout), "timeout of each request (vault/api's own default, 60s, is not used); also the total time login retries may take"),
		c("VAULT_MAX_RETRIES", "`2`", "retries of a request on connection errors, 412, 429 and 5xx (vault/api's backoff)"),
		c("VAULT_SRV_LOOKUP", "`false`", "find Vault through a DNS SRV record of the address's host"),
		c("VAULT_HTTP_PROXY", "", "proxy for Vault requests (wins over `HTTPS_PROXY`)"),
		c("VAULT_PROXY_ADDR", "", "the same as `VAULT_HTTP_PROXY`"),
		c("VAULT_DISABLE_REDIRECTS", "`false`", "do not follow Vault's redirects (a redirect to another host is never followed)"),
		c("VAULT_HEADERS", "", "JSON object of extra request headers (no `X-Vault-*`)"),
		c("VAULT_WRAP_TTL", "", "ask Vault to response-wrap every answer (vault/api's behaviour; resolving then finds no data)"),
		c("VAULT_MFA", "", "removed from the application's environment; no effect in vault-env (a CLI variable)"),
		{Name: "VAULT_RATE_LIMIT", Meaning: "client-side rate limit `RATE[:BURST]` of requests per second", Client: true},
		own("VAULT_CLUSTER_ADDR", "", "removed from the application's environment (a server variable; no effect)"),
		own("VAULT_REDIRECT_ADDR", "", "removed from the application's environment (a server variable; no effect)"),
		own("VAULT_CLI_NO_COLOR", "", "removed from the application's environment (a CLI variable; no effect)"),
		own(EnvAuthMethod, code(AuthKubernetes), "`kubernetes` or `jwt` (both send the ServiceAccount JWT)"),
		own(EnvAuthPath, code(DefaultAuthPath), "mount of the auth method"),
		own(EnvRole, "ServiceAccount name", "role to log in as; the default is read from the JWT's `sub`"),
		own(EnvSATokenPath, code(DefaultSATokenPath), "file holding the JWT"),
		own(EnvToken, "", "use this token instead of logging in; `vault:login` = log in and give the new token to the app as `VAULT_TOKEN`, with the client settings marked ¹"),
		{Name: EnvTokenFile, Meaning: "read the token from this file (e.g. written by a Vault agent); kept in the app's environment, as in Bank-Vaults", Kept: true},
		own(EnvRevokeToken, "`false`", "revoke vault-env's token before exec (this revokes the leases it created too)"),
		own(EnvIgnoreMissing, "`false`", "a missing secret path (or deleted version) is a warning and the variable is not set; a missing key of an existing secret stays an error"),
		own(EnvPassthrough, "", "comma list of these settings to keep in the app's environment (`VAULT_TOKEN` is refused)"),
		own(EnvFromPath, "", "comma list of `PATH` or `PATH#VERSION`; every key becomes a variable; explicitly set variables win"),
		own(EnvDaemon, "`false`", "run the app as a child and keep the token and leases renewed"),
		own(EnvDelay, "`0`", "wait this long after resolving, before starting the app"),
		own(EnvGracePeriod, code(DefaultGracePeriod), "daemon mode: SIGTERM-to-SIGKILL delay when a lease ends for good (ours, not in Bank-Vaults)"),
		own(EnvLogLevel, "`info`", "`debug`, `info`, `warn`, `error`"),
		own(EnvJSONLog, "`false`", "JSON log lines (stderr); times are UTC in both formats"),
		own(EnvTransitKeyID, "", "transit key for `vault:v1:` values (required when there are any)"),
		own(EnvTransitPath, code(DefaultTransitPath), "transit mount"),
		own(EnvTransitBatchSize, code(DefaultTransitBatchSize), "ciphertexts per decrypt request"),
		own(EnvSpecVars, "", "set by the webhook: comma list of the variables above (and proxy variables) written in the container's own `env`; when present, any other one is ignored by vault-env (see \"Login steering\")"),
	}
}

// ProxyVars are the standard proxy variables vault/api's transport reads
// (http.ProxyFromEnvironment). They belong to the application and stay in
// its environment, but they steer vault-env's connections, so
// VAULT_ENV_SPEC_VARS applies to them as to the settings.
func ProxyVars() []string {
	return []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"}
}

// ClientVars are the names vault-env sets or unsets in its own process
// environment before creating the vault/api client: the client settings,
// VAULT_TOKEN (never set there) and the proxy variables.
func ClientVars() []string {
	var out []string
	for _, s := range Settings() {
		if s.Client || s.Name == EnvToken {
			out = append(out, s.Name)
		}
	}
	return append(out, ProxyVars()...)
}

// steering reports whether name is subject to VAULT_ENV_SPEC_VARS.
func steering(name string) bool {
	return name != EnvSpecVars && (slices.Contains(ProxyVars(), name) || setting(name) != nil)
}

// settingsByName indexes Settings once: ParseConfig and the environment
// filter look a name up for every VAULT_* variable of the container.
var settingsByName = sync.OnceValue(func() map[string]Setting {
	m := map[string]Setting{}
	for _, s := range Settings() {
		m[s.Name] = s
	}
	return m
})

func setting(name string) *Setting {
	s, ok := settingsByName()[name]
	if !ok {
		return nil
	}
	return &s
}
