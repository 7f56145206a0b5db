package envinject

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// mountOf asks Vault which mount holds path, once per mount.
func (r *resolver) mountOf(ctx context.Context, path string) (mount, error) {
	clean := strings.TrimLeft(path, "/")
	for _, m := range r.mounts {
		if strings.HasPrefix(clean, m.path) {
			return m, nil
		}
	}
	sec, err := r.v.Read(ctx, "sys/internal/ui/mounts/"+clean, nil)
	if err != nil {
		if c := statusCode(err); c == 400 || c == 403 || c == 404 {
			// No mount information visible to this token: read the path as
			// given, as a plain (or KV v1) read.
			r.log.Debug("no mount information; reading the path as given", "path", path, "status", c)
			return mount{}, nil
		}
		return mount{}, fmt.Errorf("failed to look up the mount of %s: %w", path, err)
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
	if m.path != "" {
		r.mounts = append(r.mounts, m)
	}
	r.log.Debug("vault mount", "path", m.path, "kv", m.kvVersion)
	return m, nil
}

// run performs the requests, at most MaxConcurrentFetches at a time.
func (r *resolver) run(ctx context.Context) {
	sem := make(chan struct{}, MaxConcurrentFetches)
	var wg sync.WaitGroup
	do := func(f func()) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	for _, f := range r.byAPI {
		do(func() { r.read(ctx, f) })
	}
	for _, f := range r.writes {
		do(func() { r.write(ctx, f) })
	}
	cts := make([]string, 0, len(r.transit))
	for c := range r.transit {
		r.transit[c] = &transitResult{}
		cts = append(cts, c)
	}
	sort.Strings(cts)
	for start := 0; start < len(cts); start += r.p.cfg.TransitBatchSize {
		batch := cts[start:min(start+r.p.cfg.TransitBatchSize, len(cts))]
		do(func() { r.decrypt(ctx, batch) })
	}
	wg.Wait()
}

func (r *resolver) read(ctx context.Context, f *fetch) {
	var q url.Values
	if f.version > 0 {
		q = url.Values{"version": {strconv.Itoa(f.version)}}
	}
	sec, err := r.v.Read(ctx, f.path, q)
	switch {
	case err != nil && statusCode(err) == 404:
		f.err = &MissingError{Path: f.display, Reason: "not found"}
	case err != nil:
		f.err = fmt.Errorf("failed to read vault:%s: %w", f.display, err)
	case sec == nil:
		f.err = &MissingError{Path: f.display, Reason: "not found"}
	default:
		f.secret = sec
		f.data, f.err = secretData(sec, f)
	}
}

// secretData returns the key/value map of a response: for KV v2 the inner
// "data", with deleted and destroyed versions reported as missing.
func secretData(sec *Secret, f *fetch) (map[string]any, error) {
	if f.kv == 0 && f.unknownMount && isKV2Shape(sec.Data) {
		f.kv = 2 // no mount information: recognise a KV v2 answer by its shape
	}
	if f.kv != 2 {
		if sec.Data == nil {
			return nil, &MissingError{Path: f.display, Reason: "not found"}
		}
		return sec.Data, nil
	}
	inner, _ := sec.Data["data"].(map[string]any)
	if inner != nil {
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
	if len(data) != 2 {
		return false
	}
	meta, ok := data["metadata"].(map[string]any)
	if !ok || meta == nil {
		return false
	}
	d, ok := data["data"]
	if !ok {
		return false
	}
	_, isMap := d.(map[string]any)
	return isMap || d == nil
}
