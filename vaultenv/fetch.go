package vaultenv

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// run makes the requests, at most MaxConcurrentFetches in flight:
//
//  1. the mount lookups (sys/internal/ui/mounts), one per first path segment,
//     and at the same time the reads of paths written in the KV v2 form
//     (MOUNT/data/...) and the transit decryptions;
//  2. once the mounts are known: the reads whose API path the early reads did
//     not cover, and the writes.
//
// An early read is kept only when the mount answer yields the same API path
// (KV v2 with the data/ segment right after the mount, KV v1, any other
// engine, or no mount information); otherwise it is dropped (a KV v2 path
// like secret/team/data/x, read as secret/data/team/data/x) and the right path
// is read. Early reads are only made for the data/ shape, so an engine with
// side effects on read (dynamic credentials) is never read twice or read
// when the lookups fail. Writes wait for the lookups for the same reason.
func (r *resolver) run(ctx context.Context) error {
	// On failure, cancel what is still in flight, and wait for it before
	// returning (defers run last first).
	var all sync.WaitGroup
	defer all.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lim := make(limiter, MaxConcurrentFetches)

	// The early reads, in the order of r.pending and by API path and version.
	var early []*fetch
	earlyByAPI := map[readKey]*fetch{}
	for _, pr := range r.pending {
		clean := strings.TrimLeft(pr.key.path, "/")
		if strings.Index(clean, "/data/") <= 0 {
			continue // not in the KV v2 form MOUNT/data/REST
		}
		k := readKey{clean, pr.key.version}
		if _, ok := earlyByAPI[k]; !ok {
			f := &fetch{path: clean, version: pr.key.version, display: pr.key.path}
			earlyByAPI[k] = f
			early = append(early, f)
		}
	}
	// The first wave of lookups takes its slots first; the early reads and
	// decryptions queue behind it from their own goroutine.
	var lookups sync.WaitGroup
	wave := r.lookupWave(ctx, lim, &lookups, true)
	if len(early) > 0 || len(r.transit) > 0 {
		all.Go(func() {
			for _, f := range early {
				lim.do(&all, func() { r.read(ctx, f) })
			}
			r.startTransit(ctx, lim, &all)
		})
	}
	for {
		lookups.Wait()
		for _, l := range wave {
			if l.err != nil {
				return &VarError{Var: l.varName, Err: l.err}
			}
		}
		if wave = r.lookupWave(ctx, lim, &lookups, false); len(wave) == 0 {
			break
		}
	}

	for _, pr := range r.pending {
		api, m, err := r.apiPath(pr.key)
		if err != nil {
			return &VarError{Var: pr.varName, Err: err}
		}
		ak := readKey{api, pr.key.version}
		f, ok := r.byAPI[ak]
		if !ok {
			if f = earlyByAPI[ak]; f != nil {
				f.display = pr.key.path
			} else {
				f = &fetch{path: api, version: pr.key.version, display: pr.key.path}
				lim.do(&all, func() { r.read(ctx, f) })
			}
			f.kv, f.unknownMount = m.kvVersion, m.path == ""
			r.byAPI[ak] = f
		}
		r.reads[pr.key] = f
	}
	for _, f := range r.writes {
		lim.do(&all, func() { r.write(ctx, f) })
	}
	all.Wait()
	for _, f := range r.byAPI {
		finishRead(f)
	}
	return nil
}

// limiter bounds the requests in flight.
type limiter chan struct{}

// do runs f in a goroutine counted by wg once a slot is free; it blocks
// the caller until then.
func (l limiter) do(wg *sync.WaitGroup, f func()) {
	l <- struct{}{}
	wg.Go(func() {
		defer func() { <-l }()
		f()
	})
}

// lookupResult is one mount lookup of a wave.
type lookupResult struct {
	path, varName string
	err           error
}

// lookupWave starts the mount lookups of the paths no known mount covers:
// in the first wave one per first path segment (mounts rarely nest below
// one), later each remaining path. It returns the started lookups, whose
// err fields are set when wg is done.
func (r *resolver) lookupWave(ctx context.Context, lim limiter, wg *sync.WaitGroup, first bool) []*lookupResult {
	var wave []*lookupResult
	started := map[string]bool{}
	for _, pr := range r.pending {
		clean := strings.TrimLeft(pr.key.path, "/")
		if _, ok := r.mountFor(clean); ok {
			continue
		}
		key := clean
		if first {
			key, _, _ = strings.Cut(clean, "/")
		}
		if started[key] {
			continue
		}
		started[key] = true
		wave = append(wave, &lookupResult{path: clean, varName: pr.varName})
	}
	for _, l := range wave {
		lim.do(wg, func() { l.err = r.lookup(ctx, l.path) })
	}
	return wave
}

// mountFor returns the mount of clean from the lookups made so far.
func (r *resolver) mountFor(clean string) (mount, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.lookups[clean]; ok {
		return m, true
	}
	for _, m := range r.mounts {
		if strings.HasPrefix(clean, m.path) {
			return m, true
		}
	}
	return mount{}, false
}

// lookup asks Vault which mount holds the path clean.
func (r *resolver) lookup(ctx context.Context, clean string) error {
	m, err := r.askMount(ctx, clean)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups[clean] = m
	if m.path != "" {
		r.mounts = append(r.mounts, m)
	}
	return nil
}

func (r *resolver) askMount(ctx context.Context, clean string) (mount, error) {
	sec, err := r.v.Read(ctx, "sys/internal/ui/mounts/"+clean, nil)
	if err != nil {
		if c := vault.StatusCode(err); c == 400 || c == 403 || c == 404 {
			// No mount information visible to this token: read the path as
			// given, as a plain (or KV v1) read.
			r.log.Debug("no mount information; reading the path as given", "path", clean, "status", c)
			return mount{}, nil
		}
		return mount{}, fmt.Errorf("failed to look up the mount of %s: %w", clean, err)
	}
	if sec == nil {
		return mount{}, nil
	}
	m := mount{path: toString(sec.Data["path"])}
	if m.path != "" && !strings.HasSuffix(m.path, "/") {
		m.path += "/"
	}
	if toString(sec.Data["type"]) == "kv" || toString(sec.Data["type"]) == "generic" {
		m.kvVersion = 1
		if opts, ok := sec.Data["options"].(map[string]any); ok && toString(opts["version"]) == "2" {
			m.kvVersion = 2
		}
	}
	r.log.Debug("vault mount", "path", m.path, "kv", m.kvVersion)
	return m, nil
}

// apiPath returns the path to request for a read as written, once its mount
// is known: KV v2 paths get the data/ segment after the mount.
func (r *resolver) apiPath(k readKey) (string, mount, error) {
	api := strings.TrimLeft(k.path, "/")
	m, _ := r.mountFor(api)
	if m.kvVersion == 2 {
		rel := strings.TrimPrefix(api, m.path)
		if !strings.HasPrefix(rel, "data/") {
			api = m.path + "data/" + rel
		}
	} else if k.version > 0 && m.path != "" {
		return "", m, &MissingError{Path: k.path, Reason: fmt.Sprintf("version %d requested but %s is not a KV v2 mount", k.version, m.path)}
	}
	return api, m, nil
}

// startTransit starts the decryptions, TransitBatchSize ciphertexts each.
func (r *resolver) startTransit(ctx context.Context, lim limiter, wg *sync.WaitGroup) {
	cts := slices.Sorted(maps.Keys(r.transit))
	for start := 0; start < len(cts); start += r.p.cfg.TransitBatchSize {
		batch := cts[start:min(start+r.p.cfg.TransitBatchSize, len(cts))]
		lim.do(wg, func() { r.decrypt(ctx, batch) })
	}
}

// read makes the request; finishRead interprets the answer once the mount
// is known.
func (r *resolver) read(ctx context.Context, f *fetch) {
	var q url.Values
	if f.version > 0 {
		q = url.Values{"version": {strconv.Itoa(f.version)}}
	}
	f.secret, f.err = r.v.Read(ctx, f.path, q)
}

func finishRead(f *fetch) {
	sec, err := f.secret, f.err
	switch {
	case vault.StatusCode(err) == 404 || (err == nil && sec == nil):
		f.err = &MissingError{Path: f.display, Reason: "not found"}
	case err != nil:
		f.err = fmt.Errorf("failed to read vault:%s: %w", f.display, err)
	default:
		f.data, f.err = secretData(sec, f)
	}
}

// secretData returns the key/value map of a response: for KV v2 the inner
// "data", with deleted and destroyed versions reported as missing.
func secretData(sec *vault.Secret, f *fetch) (map[string]any, error) {
	if f.kv == 0 && f.unknownMount && isKV2Shape(sec.Data) {
		f.kv = 2 // no mount information: recognise a KV v2 answer by its shape
	}
	if f.kv != 2 {
		if sec.Data == nil {
			return nil, &MissingError{Path: f.display, Reason: "not found"}
		}
		return sec.Data, nil
	}
	if inner, _ := sec.Data["data"].(map[string]any); inner != nil {
		return inner, nil
	}
	meta, _ := sec.Data["metadata"].(map[string]any)
	which := "the latest version"
	if v := toString(meta["version"]); v != "" {
		which = "version " + v
	}
	switch {
	case meta["destroyed"] == true:
		return nil, &MissingError{Path: f.display, Reason: which + " was destroyed"}
	case toString(meta["deletion_time"]) != "":
		return nil, &MissingError{Path: f.display, Reason: which + " was deleted"}
	}
	return nil, &MissingError{Path: f.display, Reason: "not found"}
}

func (r *resolver) write(ctx context.Context, f *fetch) {
	sec, err := r.v.Write(ctx, f.path, f.body)
	switch {
	case err != nil:
		f.err = fmt.Errorf("failed to write vault:%s: %w", f.display, err)
	case sec == nil || sec.Data == nil:
		f.err = &MissingError{Path: f.display, Reason: "write returned no data"}
	default:
		f.secret, f.data = sec, sec.Data
	}
}

func (r *resolver) decrypt(ctx context.Context, batch []string) {
	c := r.p.cfg
	path := c.TransitPath + "/decrypt/" + c.TransitKeyID
	in := make([]any, len(batch))
	for i, ct := range batch {
		in[i] = map[string]any{"ciphertext": ct}
	}
	fail := func(err error) {
		for _, ct := range batch {
			r.transit[ct].err = err
		}
	}
	sec, err := r.v.Write(ctx, path, map[string]any{"batch_input": in})
	if err != nil {
		fail(fmt.Errorf("failed to decrypt with %s: %w", path, err))
		return
	}
	var results []any
	if sec != nil {
		results, _ = sec.Data["batch_results"].([]any)
	}
	if len(results) != len(batch) {
		fail(fmt.Errorf("failed to decrypt with %s: %d results for %d ciphertexts", path, len(results), len(batch)))
		return
	}
	for i, ct := range batch {
		res, _ := results[i].(map[string]any)
		tr := r.transit[ct]
		if msg := toString(res["error"]); msg != "" {
			tr.err = fmt.Errorf("failed to decrypt with %s: %s", path, msg)
			continue
		}
		b, err := base64.StdEncoding.DecodeString(toString(res["plaintext"]))
		if err != nil {
			tr.err = fmt.Errorf("failed to decrypt with %s: plaintext is not base64", path)
			continue
		}
		tr.plaintext = string(b)
	}
}

// isKV2Shape reports whether data looks like a KV v2 read: exactly "data"
// (a map or null) and "metadata" (a map).
func isKV2Shape(data map[string]any) bool {
	meta, _ := data["metadata"].(map[string]any)
	d, hasData := data["data"]
	_, isMap := d.(map[string]any)
	return len(data) == 2 && meta != nil && hasData && (isMap || d == nil)
}
