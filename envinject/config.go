package envinject

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names of the settings vault-env reads from its environment.
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
)

// Settings returns every variable vault-env consumes. These are removed from
// the child's environment unless named in VAULT_ENV_PASSTHROUGH (VAULT_TOKEN
// is never passed through; see [Config.Login]).
func Settings() []string {
	return []string{
		EnvAddr, EnvCACert, EnvSkipVerify, EnvNamespace, EnvClientTimeout, EnvRole,
		EnvAuthPath, EnvAuthMethod, EnvToken, EnvTokenFile, EnvRevokeToken,
		EnvIgnoreMissing, EnvPassthrough, EnvDaemon, EnvDelay, EnvFromPath,
		EnvGracePeriod, EnvLogLevel, EnvJSONLog, EnvTransitKeyID, EnvTransitPath,
		EnvTransitBatchSize, EnvSATokenPath,
	}
}

// Defaults.
const (
	DefaultAddr             = "https://127.0.0.1:8200"
	DefaultClientTimeout    = 10 * time.Second
	DefaultAuthPath         = "kubernetes"
	DefaultTransitPath      = "transit"
	DefaultTransitBatchSize = 25
	DefaultGracePeriod      = 10 * time.Second
	DefaultSATokenPath      = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	// LoginToken is the VAULT_TOKEN value that asks vault-env to log in and
	// hand the new token to the application.
	LoginToken = "vault:login"
)

// Auth methods (VAULT_AUTH_METHOD).
const (
	AuthKubernetes = "kubernetes"
	AuthJWT        = "jwt"
)

// Config is vault-env's configuration, parsed once from the environment.
type Config struct {
	Addr          string
	CACert        string
	SkipVerify    bool
	Namespace     string
	ClientTimeout time.Duration

	AuthMethod  string // AuthKubernetes or AuthJWT
	AuthPath    string // mount of the auth method, without "auth/"
	Role        string // "" means: the ServiceAccount name from the JWT
	SATokenPath string // file holding the JWT used to log in

	// Token is a literal token from VAULT_TOKEN (not "vault:login"). It is a
	// credential: Clear zeroes it.
	Token []byte
	// Login is true when VAULT_TOKEN is "vault:login": log in and give the
	// resulting token to the application as VAULT_TOKEN.
	Login       bool
	TokenFile   string
	RevokeToken bool

	IgnoreMissing bool
	Passthrough   []string
	Daemon        bool
	Delay         time.Duration
	FromPath      []string
	GracePeriod   time.Duration

	LogLevel slog.Level
	JSONLog  bool

	TransitKeyID     string
	TransitPath      string
	TransitBatchSize int
}

// String redacts the token.
func (c *Config) String() string {
	return fmt.Sprintf("envinject.Config{Addr:%s AuthMethod:%s AuthPath:%s Role:%s Daemon:%t}",
		c.Addr, c.AuthMethod, c.AuthPath, c.Role, c.Daemon)
}

// Clear zeroes the credential bytes the Config holds.
func (c *Config) Clear() {
	clear(c.Token)
	c.Token = nil
}

// ConfigError names the variable whose value is invalid. It never holds the
// value of VAULT_TOKEN.
type ConfigError struct {
	Var    string
	Reason string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Reason }

// ParseConfig reads the settings from environ ("KEY=VALUE" entries, as
// os.Environ returns) and validates them. It does no I/O.
func ParseConfig(environ []string) (*Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, seen := env[k]; !seen { // the first definition wins, as getenv
				env[k] = v
			}
		}
	}
	get := func(k string) string { return env[k] }
	p := parser{}
	c := &Config{
		Addr:             p.str(get, EnvAddr, DefaultAddr),
		CACert:           get(EnvCACert),
		SkipVerify:       p.boolean(get, EnvSkipVerify),
		Namespace:        get(EnvNamespace),
		ClientTimeout:    p.duration(get, EnvClientTimeout, DefaultClientTimeout, true),
		AuthMethod:       p.str(get, EnvAuthMethod, AuthKubernetes),
		AuthPath:         strings.Trim(p.str(get, EnvAuthPath, DefaultAuthPath), "/"),
		Role:             get(EnvRole),
		SATokenPath:      p.str(get, EnvSATokenPath, DefaultSATokenPath),
		TokenFile:        get(EnvTokenFile),
		RevokeToken:      p.boolean(get, EnvRevokeToken),
		IgnoreMissing:    p.boolean(get, EnvIgnoreMissing),
		Passthrough:      list(get(EnvPassthrough)),
		Daemon:           p.boolean(get, EnvDaemon),
		Delay:            p.duration(get, EnvDelay, 0, false),
		FromPath:         list(get(EnvFromPath)),
		GracePeriod:      p.duration(get, EnvGracePeriod, DefaultGracePeriod, false),
		JSONLog:          p.boolean(get, EnvJSONLog),
		TransitKeyID:     get(EnvTransitKeyID),
		TransitPath:      strings.Trim(p.str(get, EnvTransitPath, DefaultTransitPath), "/"),
		TransitBatchSize: p.positiveInt(get, EnvTransitBatchSize, DefaultTransitBatchSize),
	}
	switch tok := get(EnvToken); tok {
	case "":
	case LoginToken:
		c.Login = true
	default:
		c.Token = []byte(tok)
	}
	c.LogLevel = p.level(get(EnvLogLevel))

	if p.err == nil {
		p.err = c.validate()
	}
	if p.err != nil {
		c.Clear()
		return nil, p.err
	}
	return c, nil
}

func (c *Config) validate() error {
	u, err := url.Parse(c.Addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix") || (u.Host == "" && u.Scheme != "unix") {
		return &ConfigError{Var: EnvAddr, Reason: "must be an http(s):// or unix:// URL"}
	}
	switch c.AuthMethod {
	case AuthKubernetes, AuthJWT:
	default:
		return &ConfigError{Var: EnvAuthMethod, Reason: fmt.Sprintf("unsupported auth method %q (want %q or %q)", c.AuthMethod, AuthKubernetes, AuthJWT)}
	}
	if c.AuthPath == "" {
		return &ConfigError{Var: EnvAuthPath, Reason: "must not be empty"}
	}
	if c.Login && c.TokenFile != "" {
		return &ConfigError{Var: EnvTokenFile, Reason: "cannot be combined with " + EnvToken + "=" + LoginToken}
	}
	if c.TransitPath == "" {
		return &ConfigError{Var: EnvTransitPath, Reason: "must not be empty"}
	}
	for _, n := range c.Passthrough {
		if n == EnvToken {
			return &ConfigError{Var: EnvPassthrough, Reason: EnvToken + " cannot be passed through; use " + EnvToken + "=" + LoginToken}
		}
	}
	if c.RevokeToken && c.Login {
		return &ConfigError{Var: EnvRevokeToken, Reason: "cannot revoke the token handed to the application (" + EnvToken + "=" + LoginToken + ")"}
	}
	return nil
}

// consumed reports whether name is a setting removed from the child's
// environment under c.
func (c *Config) consumed(name string) bool {
	if !slices.Contains(Settings(), name) {
		return false
	}
	return name == EnvToken || !slices.Contains(c.Passthrough, name)
}

// parser collects the first error of a series of lookups.
type parser struct{ err error }

func (p *parser) fail(name, reason string) {
	if p.err == nil {
		p.err = &ConfigError{Var: name, Reason: reason}
	}
}

func (p *parser) str(get func(string) string, name, def string) string {
	if v := get(name); v != "" {
		return v
	}
	return def
}

func (p *parser) boolean(get func(string) string, name string) bool {
	v := get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "must be true or false")
	}
	return b
}

func (p *parser) duration(get func(string) string, name string, def time.Duration, positive bool) time.Duration {
	v := get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// Bank-Vaults also accepts a plain number of seconds.
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d < 0 || (positive && d == 0) {
		p.fail(name, "must be a Go duration such as 10s")
		return def
	}
	return d
}

func (p *parser) positiveInt(get func(string) string, name string, def int) int {
	v := get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.fail(name, "must be a positive integer")
		return def
	}
	return n
}

func (p *parser) level(v string) slog.Level {
	switch strings.ToLower(v) {
	case "", "info":
		return slog.LevelInfo
	case "debug", "trace":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error", "fatal", "panic":
		return slog.LevelError
	}
	p.fail(EnvLogLevel, "must be one of debug, info, warn, error")
	return slog.LevelInfo
}

// list splits a comma list, dropping blanks.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// NewLogger returns the logger c asks for, writing to w (stderr in vault-env).
// Times are written in UTC: formatting them in the local zone would read
// /etc/localtime on the start-up path of every container.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel, ReplaceAttr: utcTime}
	if c.JSONLog {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// utcTime is a slog ReplaceAttr that writes the record time in UTC.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}
