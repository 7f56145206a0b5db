package vaultenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject/ref"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// MaxConcurrentFetches bounds the requests in flight while resolving.
const MaxConcurrentFetches = 8

// MissingError is a secret path, version or key that does not exist (or a
// KV v2 version that was deleted or destroyed). VAULT_IGNORE_MISSING_SECRETS
// turns it into a warning.
type MissingError struct {
	Path   string
	Key    string // "" when the whole secret is missing
	Reason string // e.g. "not found", "version 3 was deleted"
}

func (e *MissingError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("key %q of vault:%s: %s", e.Key, e.Path, e.Reason)
	}
	return fmt.Sprintf("vault:%s: %s", e.Path, e.Reason)
}

// Lease is a renewable lease vault-env obtained while resolving.
type Lease struct {
	ID        string
	TTL       time.Duration
	Renewable bool
}

// Result is a resolved environment.
type Result struct {
	// Env is the child's environment ("KEY=VALUE"). Its values are Go
	// strings: they cannot be zeroed, only dropped with the process image.
	Env    []string
	Leases []Lease
}

// String redacts.
func (r *Result) String() string {
	return fmt.Sprintf("vaultenv.Result{%d vars REDACTED}", len(r.Env))
}

// LogValue is String (slog.LogValuer).
func (r *Result) LogValue() slog.Value { return slog.StringValue(r.String()) }

// mount is a secrets engine mount, as sys/internal/ui/mounts reports it.
type mount struct {
	path      string // with trailing "/"; "" when Vault would not say
	kvVersion int    // 0: not KV (or unknown); 1 or 2
}

// fetch is one request: a read of a path (at a version) or a write.
type fetch struct {
	path    string // API path
	version int
	body    map[string]any
	display string // the path as written, for messages
	kv      int
	// unknownMount: the token may not look up the mount; the answer's shape
	// decides between KV v2 and a plain read.
	unknownMount bool

	// Set by the request (secret, err), then by finishRead (data, err).
	data   map[string]any
	secret *vault.Secret
	err    error
}

// resolver holds the state of one Resolve call.
type resolver struct {
	v   vault.Client
	p   *Plan
	log *slog.Logger
	// pending lists the distinct reads as written, in the order of the
	// environment (then VAULT_ENV_FROM_PATH).
	pending []pendingRead
	// mounts found so far, and the lookup answer of each path looked up
	// (also when Vault would not say); guarded by mu while lookups run.
	mu      sync.Mutex
	mounts  []mount
	lookups map[string]mount
	// reads by written path and version; by API path and version; writes
	// by path and body.
	reads   map[readKey]*fetch
	byAPI   map[readKey]*fetch
	writes  map[writeKey]*fetch
	transit map[string]*transitResult
}

// pendingRead is a read as written, with the first variable that needs it.
type pendingRead struct {
	key     readKey
	varName string
}

type readKey struct {
	path    string
	version int
}

type writeKey struct{ path, body string }

type transitResult struct {
	plaintext string
	err       error
}

// Resolve fetches everything p references (each distinct path once,
// concurrently) and builds the child's environment. A token s holds for the
// application (VAULT_TOKEN=vault:login) is added as VAULT_TOKEN.
func Resolve(ctx context.Context, v vault.Client, p *Plan, s *Session, log *slog.Logger) (*Result, error) {
	r := &resolver{
		v: v, p: p, log: log,
		lookups: map[string]mount{},
		reads:   map[readKey]*fetch{},
		byAPI:   map[readKey]*fetch{},
		writes:  map[writeKey]*fetch{},
		transit: map[string]*transitResult{},
	}
	r.collect()
	if len(r.pending) > 0 || len(r.writes) > 0 || len(r.transit) > 0 {
		if err := r.run(ctx); err != nil {
			return nil, err
		}
	}
	return r.build(s)
}

// collect lists the distinct reads, writes and ciphertexts. It does no I/O.
func (r *resolver) collect() {
	seen := map[readKey]bool{}
	addRead := func(path string, version int, varName string) {
		k := readKey{path, version}
		if !seen[k] {
			seen[k] = true
			r.pending = append(r.pending, pendingRead{key: k, varName: varName})
		}
	}
	for _, e := range r.p.entries {
		for _, rf := range e.value.Refs() { // none unless e.refs
			switch rf.Kind {
			case ref.Read:
				addRead(rf.Path, rf.Version, e.name)
			case ref.Write:
				k := writeKey{rf.Path, rf.Body}
				if _, ok := r.writes[k]; !ok {
					r.writes[k] = &fetch{path: strings.TrimLeft(rf.Path, "/"), body: r.p.bodies[rf.Body], display: rf.Path}
				}
			case ref.Transit:
				r.transit[rf.Ciphertext] = &transitResult{}
			}
		}
	}
	for _, fp := range r.p.fromPaths {
		addRead(fp.path, fp.version, EnvFromPath)
	}
}

// build assembles the child environment from the input entries: plain
// values are copied, references replaced, consumed settings dropped.
func (r *resolver) build(s *Session) (*Result, error) {
	c := r.p.cfg
	res := &Result{}
	for _, e := range r.p.entries {
		switch {
		case e.consumed:
			r.log.Debug("dropping vault-env setting", "name", e.name)
			continue
		case !e.refs:
			res.Env = append(res.Env, e.name+"="+e.raw)
			continue
		}
		val, err := r.evaluate(e.value)
		if err != nil {
			if c.IgnoreMissing && ignorable(err) {
				r.log.Warn("secret missing; variable not set", "name", e.name, "error", err)
				continue
			}
			return nil, &VarError{Var: e.name, Err: err}
		}
		res.Env = append(res.Env, e.name+"="+val)
	}
	added := map[string]bool{}
	for _, fp := range r.p.fromPaths {
		f := r.reads[fp]
		if f.err != nil {
			if c.IgnoreMissing && ignorable(f.err) {
				r.log.Warn("secret missing; no variables from it", "name", EnvFromPath, "error", f.err)
				continue
			}
			return nil, &VarError{Var: EnvFromPath, Err: f.err}
		}
		for _, k := range slices.Sorted(maps.Keys(f.data)) {
			if r.p.explicit[k] || added[k] {
				continue
			}
			if k == "" || strings.ContainsAny(k, "=\x00") {
				r.log.Warn("key is not a valid variable name; skipped", "name", EnvFromPath, "path", fp.path, "key", k)
				continue
			}
			added[k] = true
			res.Env = append(res.Env, k+"="+toString(f.data[k]))
		}
	}
	if s != nil && len(s.handoff) > 0 {
		res.Env = append(res.Env, EnvToken+"="+string(s.handoff))
		s.Clear()
	}
	seen := map[string]bool{}
	for _, f := range r.byAPI {
		r.addLease(res, f.secret, seen)
	}
	for _, f := range r.writes {
		r.addLease(res, f.secret, seen)
	}
	slices.SortFunc(res.Leases, func(a, b Lease) int { return strings.Compare(a.ID, b.ID) })
	return res, nil
}

// ignorable reports whether VAULT_IGNORE_MISSING_SECRETS skips err: a
// missing path (or a deleted or destroyed version), as in the seed product;
// a missing key of a secret that exists stays an error.
func ignorable(err error) bool {
	var miss *MissingError
	return errors.As(err, &miss) && miss.Key == ""
}

func (r *resolver) addLease(res *Result, sec *vault.Secret, seen map[string]bool) {
	if sec == nil || sec.LeaseID == "" || seen[sec.LeaseID] {
		return
	}
	seen[sec.LeaseID] = true
	res.Leases = append(res.Leases, Lease{ID: sec.LeaseID, TTL: sec.LeaseDuration, Renewable: sec.Renewable})
}

// evaluate renders one parsed value.
func (r *resolver) evaluate(v ref.Value) (string, error) {
	var b strings.Builder
	for _, part := range v.Parts {
		if part.Ref == nil {
			b.WriteString(part.Literal)
			continue
		}
		s, err := r.valueOf(*part.Ref)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (r *resolver) valueOf(rf ref.Ref) (string, error) {
	var f *fetch
	switch rf.Kind {
	case ref.Transit:
		tr := r.transit[rf.Ciphertext]
		return tr.plaintext, tr.err
	case ref.Read:
		f = r.reads[readKey{rf.Path, rf.Version}]
	case ref.Write:
		f = r.writes[writeKey{rf.Path, rf.Body}]
	}
	if f.err != nil {
		return "", f.err
	}
	if rf.IsTemplate() {
		out, err := r.p.templates[rf.Key].execute(f.data)
		if miss, ok := err.(*MissingError); ok {
			miss.Path = rf.Path
			return "", miss
		}
		if err != nil {
			return "", fmt.Errorf("failed to execute key template of vault:%s: %w", rf.Path, err)
		}
		return out, nil
	}
	val, ok := f.data[rf.Key]
	if !ok {
		return "", &MissingError{Path: rf.Path, Key: rf.Key, Reason: "not found"}
	}
	return toString(val), nil
}
