package vaultenv

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

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

	// SpecVars is VAULT_ENV_SPEC_VARS as a set (nil when it is not set: then
	// every setting in the environment is used). Ignored lists the settings
	// and proxy variables present but not named in it, which vault-env did
	// not use.
	SpecVars map[string]bool
	Ignored  []string

	// env is the first definition of each variable of the environment.
	env map[string]string
}

// String redacts the token.
func (c *Config) String() string {
	return fmt.Sprintf("vaultenv.Config{Addr:%s AuthMethod:%s AuthPath:%s Role:%s Daemon:%t}",
		c.Addr, c.AuthMethod, c.AuthPath, c.Role, c.Daemon)
}

// LogValue is String (slog.LogValuer): slog's JSON handler would otherwise
// encode the exported fields, the token among them. Session and Result
// redact the same way.
func (c *Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Clear zeroes the credential bytes the Config holds.
func (c *Config) Clear() {
	clear(c.Token)
	c.Token = nil
}

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
	c0 := &Config{env: env}
	if v, ok := env[EnvSpecVars]; ok {
		c0.SpecVars = map[string]bool{}
		for _, n := range list(v) {
			c0.SpecVars[n] = true
		}
		for k := range env {
			if steering(k) && !c0.SpecVars[k] {
				c0.Ignored = append(c0.Ignored, k)
			}
		}
		slices.Sort(c0.Ignored)
	}
	get := c0.get
	p := parser{}
	c := &Config{
		Addr:             cmp.Or(get(EnvAddr), DefaultAddr),
		CACert:           get(EnvCACert),
		SkipVerify:       p.boolean(get, EnvSkipVerify),
		Namespace:        get(EnvNamespace),
		ClientTimeout:    p.duration(get, EnvClientTimeout, DefaultClientTimeout, true),
		AuthMethod:       cmp.Or(get(EnvAuthMethod), AuthKubernetes),
		AuthPath:         strings.Trim(cmp.Or(get(EnvAuthPath), DefaultAuthPath), "/"),
		Role:             get(EnvRole),
		SATokenPath:      cmp.Or(get(EnvSATokenPath), DefaultSATokenPath),
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
		TransitPath:      strings.Trim(cmp.Or(get(EnvTransitPath), DefaultTransitPath), "/"),
		TransitBatchSize: p.positiveInt(get, EnvTransitBatchSize, DefaultTransitBatchSize),
		LogLevel:         p.level(get(EnvLogLevel)),
		SpecVars:         c0.SpecVars,
		Ignored:          c0.Ignored,
		env:              env,
	}
	switch tok := get(EnvToken); tok {
	case "":
	case LoginToken:
		c.Login = true
	default:
		c.Token = []byte(tok)
	}

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
		return &VarError{Var: EnvAddr, Err: errors.New("must be an http(s):// or unix:// URL")}
	}
	switch c.AuthMethod {
	case AuthKubernetes, AuthJWT:
	default:
		return &VarError{Var: EnvAuthMethod, Err: fmt.Errorf("unsupported auth method %q (want %q or %q)", c.AuthMethod, AuthKubernetes, AuthJWT)}
	}
	if c.AuthPath == "" {
		return &VarError{Var: EnvAuthPath, Err: errors.New("must not be empty")}
	}
	if c.Login && c.TokenFile != "" {
		return &VarError{Var: EnvTokenFile, Err: errors.New("cannot be combined with " + EnvToken + "=" + LoginToken)}
	}
	if c.TransitPath == "" {
		return &VarError{Var: EnvTransitPath, Err: errors.New("must not be empty")}
	}
	if slices.Contains(c.Passthrough, EnvToken) {
		return &VarError{Var: EnvPassthrough, Err: errors.New(EnvToken + " cannot be passed through; use " + EnvToken + "=" + LoginToken)}
	}
	if c.RevokeToken && c.Login {
		return &VarError{Var: EnvRevokeToken, Err: errors.New("cannot revoke the token handed to the application (" + EnvToken + "=" + LoginToken + ")")}
	}
	return nil
}

// get returns the value of a variable vault-env may use: with
// VAULT_ENV_SPEC_VARS set, a setting or proxy variable it does not name is
// "" (it came from envFrom or the image, not from the pod author).
func (c *Config) get(name string) string {
	if c.SpecVars != nil && steering(name) && !c.SpecVars[name] {
		return ""
	}
	return c.env[name]
}

// consumed reports whether name is a setting removed from the child's
// environment under c.
func (c *Config) consumed(name string) bool {
	s := setting(name)
	switch {
	case name == EnvSpecVars:
		return true
	case s == nil || s.Kept:
		return false
	case name == EnvToken:
		return true
	case c.Login && s.Login && c.get(name) != "":
		return false // the app needs it to use the token (Bank-Vaults' rule)
	}
	return !slices.Contains(c.Passthrough, name)
}

// ClientEnv returns the "KEY=VALUE" entries vault-env's process environment
// must hold for vault/api (every other name of [ClientVars] is unset):
// the client settings and proxy variables vault-env may use, and
// VAULT_CLIENT_TIMEOUT, whose default is vault-env's. Never VAULT_TOKEN.
func (c *Config) ClientEnv() []string {
	var out []string
	for _, n := range ClientVars() {
		v := c.get(n)
		switch n {
		case EnvToken:
			continue
		case EnvClientTimeout:
			v = c.ClientTimeout.String()
		}
		if v != "" {
			out = append(out, n+"="+v)
		}
	}
	return out
}

// parser collects the first error of a series of lookups.
type parser struct{ err error }

func (p *parser) fail(name, reason string) {
	if p.err == nil {
		p.err = &VarError{Var: name, Err: errors.New(reason)}
	}
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
