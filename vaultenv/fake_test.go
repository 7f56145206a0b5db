package vaultenv

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// fakeVault is an in-memory Vault for logic tests: reads and writes are
// answered by handlers keyed by path; every call is recorded.
type fakeVault struct {
	mu     sync.Mutex
	reads  map[string]func(q url.Values) (*vault.Secret, error)
	writes map[string]func(data map[string]any) (*vault.Secret, error)
	mounts map[string]map[string]any // mount path -> sys/internal/ui/mounts data
	calls  []string
	token  string
	// lookupHook, when set, runs before a sys/internal/ui/mounts answer;
	// an error it returns is the answer.
	lookupHook func(path string) error
}

func newFakeVault() *fakeVault {
	return &fakeVault{
		reads:  map[string]func(url.Values) (*vault.Secret, error){},
		writes: map[string]func(map[string]any) (*vault.Secret, error){},
		mounts: map[string]map[string]any{},
	}
}

func (f *fakeVault) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeVault) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeVault) Read(_ context.Context, path string, q url.Values) (*vault.Secret, error) {
	f.record("read " + path + "?" + q.Encode())
	if rest, ok := strings.CutPrefix(path, "sys/internal/ui/mounts/"); ok {
		if f.lookupHook != nil {
			if err := f.lookupHook(rest); err != nil {
				return nil, err
			}
		}
		for m, d := range f.mounts {
			if strings.HasPrefix(rest, m) {
				return &vault.Secret{Data: d}, nil
			}
		}
		return nil, &vault.StatusError{Code: 400, Messages: []string{"no mount"}}
	}
	h, ok := f.reads[path]
	if !ok {
		return nil, nil
	}
	return h(q)
}

func (f *fakeVault) Write(_ context.Context, path string, data map[string]any) (*vault.Secret, error) {
	b, _ := json.Marshal(data)
	f.record("write " + path + " " + string(b))
	h, ok := f.writes[path]
	if !ok {
		return nil, &vault.StatusError{Code: 404, Messages: []string{"no handler for route"}}
	}
	return h(data)
}

func (f *fakeVault) SetToken(t []byte) { f.mu.Lock(); f.token = string(t); f.mu.Unlock() }

func (f *fakeVault) kv2(mount string) {
	f.mounts[mount] = map[string]any{"path": mount, "type": "kv", "options": map[string]any{"version": "2"}}
}

func (f *fakeVault) kv1(mount string) {
	f.mounts[mount] = map[string]any{"path": mount, "type": "kv", "options": map[string]any{"version": "1"}}
}

// static answers a read with data (KV v1 / plain engines).
func static(data map[string]any) func(url.Values) (*vault.Secret, error) {
	return func(url.Values) (*vault.Secret, error) { return &vault.Secret{Data: data}, nil }
}

// kv2versions answers KV v2 reads; versions maps version -> data (nil data
// marks a deleted version). The highest version is the latest.
func kv2versions(versions map[int]map[string]any) func(url.Values) (*vault.Secret, error) {
	return func(q url.Values) (*vault.Secret, error) {
		v := 0
		for k := range versions {
			v = max(v, k)
		}
		if s := q.Get("version"); s != "" {
			v = int(mustAtoi(s))
		}
		d, ok := versions[v]
		if !ok {
			return nil, nil
		}
		meta := map[string]any{"version": json.Number(itoa(v)), "deletion_time": "", "destroyed": false}
		if d == nil {
			meta["deletion_time"] = "2026-01-01T00:00:00Z"
			return &vault.Secret{Data: map[string]any{"data": nil, "metadata": meta}}, nil
		}
		return &vault.Secret{Data: map[string]any{"data": d, "metadata": meta}}, nil
	}
}

func mustAtoi(s string) int64 {
	n, err := json.Number(s).Int64()
	if err != nil {
		panic(err)
	}
	return n
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (f *fakeVault) snapshot() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeVault) called(call string) bool { return slices.Contains(f.snapshot(), call) }
