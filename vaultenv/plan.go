package vaultenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject/ref"
)

// VarError ties an error to the environment variable it concerns: an invalid
// setting, or a reference that failed. Its text names the variable (and the
// Vault path), never a value.
type VarError struct {
	Var string
	Err error
}

func (e *VarError) Error() string { return e.Var + ": " + e.Err.Error() }
func (e *VarError) Unwrap() error { return e.Err }

// entry is one variable of the input environment.
type entry struct {
	name, raw string
	value     ref.Value // parsed; only when it holds references
	refs      bool
	consumed  bool // a vault-env setting, dropped unless passed through
}

// Plan is an environment parsed and checked before any network call: which
// paths to read, which writes to make, which ciphertexts to decrypt.
type Plan struct {
	cfg        *Config
	entries    []entry
	explicit   map[string]bool
	templates  map[string]*keyTemplate
	bodies     map[string]map[string]any // write body JSON -> decoded
	fromPaths  []readKey                 // VAULT_ENV_FROM_PATH, parsed
	hasTransit bool
}

// NewPlan parses every value of environ ("KEY=VALUE") and validates the
// references against c. It does no I/O. An error names the variable.
func NewPlan(c *Config, environ []string) (*Plan, error) {
	p := &Plan{
		cfg:       c,
		explicit:  make(map[string]bool, len(environ)),
		templates: map[string]*keyTemplate{},
		bodies:    map[string]map[string]any{},
	}
	for _, kv := range environ {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || name == "" || p.explicit[name] {
			continue // malformed or a duplicate: the first definition wins
		}
		p.explicit[name] = true
		e := entry{name: name, raw: raw, consumed: c.consumed(name)}
		if !e.consumed && ref.Contains(raw) {
			v, err := ref.Parse(raw)
			if err != nil {
				return nil, &VarError{Var: name, Err: err}
			}
			if err := p.check(v); err != nil {
				return nil, &VarError{Var: name, Err: err}
			}
			e.value, e.refs = v, true
		}
		p.entries = append(p.entries, e)
	}
	for _, fp := range c.FromPath {
		k, err := parseFromPath(fp)
		if err != nil {
			return nil, &VarError{Var: EnvFromPath, Err: err}
		}
		p.fromPaths = append(p.fromPaths, k)
	}
	if p.hasTransit && c.TransitKeyID == "" {
		return nil, &VarError{Var: EnvTransitKeyID, Err: errors.New("must be set to decrypt vault:v1: values")}
	}
	return p, nil
}

// check compiles templates and write bodies of v.
func (p *Plan) check(v ref.Value) error {
	for _, r := range v.Refs() {
		switch r.Kind {
		case ref.Transit:
			p.hasTransit = true
			continue
		case ref.Write:
			if _, ok := p.bodies[r.Body]; !ok && r.Body != "" {
				var body map[string]any
				d := json.NewDecoder(strings.NewReader(r.Body))
				d.UseNumber()
				if err := d.Decode(&body); err != nil {
					return fmt.Errorf("failed to decode write body for %s: %w", r.Path, err)
				}
				p.bodies[r.Body] = body
			}
		}
		if r.IsTemplate() {
			if _, ok := p.templates[r.Key]; !ok {
				t, err := parseTemplate(r.Key)
				if err != nil {
					return fmt.Errorf("%s: %w", r.Path, err)
				}
				p.templates[r.Key] = t
			}
		}
	}
	return nil
}

// NeedsVault reports whether resolving needs Vault at all.
func (p *Plan) NeedsVault() bool {
	return len(p.cfg.FromPath) > 0 || slices.ContainsFunc(p.entries, func(e entry) bool { return e.refs })
}

// parseFromPath parses one VAULT_ENV_FROM_PATH entry: PATH or PATH#VERSION,
// with the reference grammar's path rules.
func parseFromPath(s string) (readKey, error) {
	path, version, hasVersion := strings.Cut(s, "#")
	k := readKey{path: path}
	if hasVersion {
		n, err := strconv.Atoi(version)
		if err != nil || n <= 0 || strconv.Itoa(n) != version {
			return k, fmt.Errorf("%q: version must be a positive decimal number", s)
		}
		k.version = n
	}
	// The grammar checks the path (empty, "." and ".." segments).
	if _, err := ref.Parse(ref.ReadPrefix + path + "#k"); err != nil || strings.Contains(path, "${") {
		if strings.Trim(path, "/") == "" {
			return k, errors.New("holds an empty path")
		}
		return k, fmt.Errorf("%q is not a valid path", s)
	}
	return k, nil
}
