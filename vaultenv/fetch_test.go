package vaultenv

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// TestResolveEarlyReads checks which reads start before the mount lookup
// answers, and that the API path read in the end is the right one for each
// mount kind.
func TestResolveEarlyReads(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeVault)
		environ []string
		want    []string
		// reads that must have started while the first lookup was held
		early []string
		// exact call counts
		calls map[string]int
	}{
		{
			name:    "kv2 data path is read while the mount lookup runs",
			environ: []string{"U=vault:secret/data/app#user", "P=vault:secret/data/app#password#1"},
			want:    []string{"U=app", "P=old"},
			early:   []string{"read secret/data/app?", "read secret/data/app?version=1"},
			calls:   map[string]int{"read sys/internal/ui/mounts/": 1, "read secret/data/app?": 2, "read secret/data/app?version=1": 1},
		},
		{
			name: "kv1 path containing data is read once and taken as kv1",
			setup: func(f *fakeVault) {
				f.reads["kv1/data/x"] = static(map[string]any{"data": map[string]any{"k": "inner"}, "metadata": map[string]any{}})
			},
			environ: []string{"A=vault:kv1/data/x#data"},
			want:    []string{`A={"k":"inner"}`},
			early:   []string{"read kv1/data/x?"},
			calls:   map[string]int{"read kv1/data/x?": 1},
		},
		{
			name: "kv2 short path with a data segment deeper: the early read is dropped",
			setup: func(f *fakeVault) {
				f.reads["secret/data/team/data/x"] = kv2versions(map[int]map[string]any{1: {"k": "deep"}})
				f.reads["secret/team/data/x"] = static(map[string]any{"k": "wrong"})
			},
			environ: []string{"A=vault:secret/team/data/x#k"},
			want:    []string{"A=deep"},
			early:   []string{"read secret/team/data/x?"},
			calls:   map[string]int{"read secret/data/team/data/x?": 1, "read secret/team/data/x?": 1},
		},
		{
			name:    "short kv2 spelling shares the early read of the long one",
			environ: []string{"P=vault:secret/app#password", "U=vault:secret/data/app#user"},
			want:    []string{"P=p@ss", "U=app"},
			early:   []string{"read secret/data/app?"},
			calls:   map[string]int{"read secret/data/app?": 1, "read sys/internal/ui/mounts/": 1},
		},
		{
			name:    "dynamic secrets and writes wait for the lookup",
			environ: []string{"U=vault:database/creds/ro#username", `C=>>vault:pki/issue/web#certificate#{"common_name":"a"}`},
			want:    []string{"U=u-1", "C=CERT"},
			calls:   map[string]int{"read database/creds/ro?": 1, "write pki/issue/web": 1},
		},
		{
			name: "mounts nested under one first segment get a second lookup",
			setup: func(f *fakeVault) {
				f.kv2("team/a/")
				f.kv1("team/b/")
				f.reads["team/a/data/x"] = kv2versions(map[int]map[string]any{1: {"k": "ax"}})
				f.reads["team/b/y"] = static(map[string]any{"k": "by"})
			},
			environ: []string{"A=vault:team/a/x#k", "B=vault:team/b/y#k"},
			want:    []string{"A=ax", "B=by"},
			calls:   map[string]int{"read sys/internal/ui/mounts/": 2, "read team/a/data/x?": 1, "read team/b/y?": 1},
		},
		{
			name:    "one lookup for many paths of one mount",
			environ: []string{"A=vault:secret/data/app#user", "B=vault:secret/data/fromenv#FROM_A", "C=vault:secret/data/none#x", "VAULT_IGNORE_MISSING_SECRETS=true"},
			want:    []string{"A=app", "B=a"},
			early:   []string{"read secret/data/app?", "read secret/data/fromenv?", "read secret/data/none?"},
			calls:   map[string]int{"read sys/internal/ui/mounts/": 1, "read secret/data/": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testVault()
			if tt.setup != nil {
				tt.setup(f)
			}
			// Hold the first lookup until the expected early reads have
			// started (or, with none expected, briefly check that nothing
			// else was requested).
			held := false
			f.lookupHook = func(string) error {
				if held {
					return nil
				}
				held = true
				deadline := time.Now().Add(10 * time.Second)
				for _, c := range tt.early {
					for !f.called(c) {
						if time.Now().After(deadline) {
							t.Errorf("%q did not start while the lookup was held (calls: %q)", c, f.snapshot())
							return nil
						}
						time.Sleep(time.Millisecond)
					}
				}
				for _, c := range f.snapshot() {
					if !strings.HasPrefix(c, "read sys/internal/ui/mounts/") && !slices.Contains(tt.early, c) {
						t.Errorf("%q started before the mount was known", c)
					}
				}
				return nil
			}
			res, err := resolveEnv(t, f, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Env, tt.want) {
				t.Errorf("env = %q, want %q", res.Env, tt.want)
			}
			for prefix, n := range tt.calls {
				if got := f.count(prefix); got != n {
					t.Errorf("%d calls %q, want %d (calls: %q)", got, prefix, n, f.snapshot())
				}
			}
		})
	}
}

// TestResolveLookupFailure: a failed mount lookup fails the resolve before
// any write or non-KV read, and waits for the early reads.
func TestResolveLookupFailure(t *testing.T) {
	f := testVault()
	f.lookupHook = func(string) error { return &vault.StatusError{Code: 500, Messages: []string{"internal error"}} }
	_, err := resolveEnv(t, f, []string{"A=vault:secret/data/app#user", "B=vault:database/creds/ro#username", `C=>>vault:pki/issue/web#certificate`})
	if err == nil || !strings.Contains(err.Error(), "failed to look up the mount") || !strings.HasPrefix(err.Error(), "A: ") {
		t.Fatalf("err = %v, want a lookup failure of A", err)
	}
	if n := f.count("write "); n != 0 {
		t.Errorf("%d writes after a failed lookup", n)
	}
	if n := f.count("read database/"); n != 0 {
		t.Errorf("%d dynamic reads after a failed lookup", n)
	}
}

// TestResolveCancelledEarlyReads: Resolve returns only after its requests.
func TestResolveCancelledEarlyReads(t *testing.T) {
	f := testVault()
	started := make(chan struct{})
	f.reads["secret/data/slow"] = func(url.Values) (*vault.Secret, error) {
		close(started)
		time.Sleep(20 * time.Millisecond)
		return &vault.Secret{Data: map[string]any{"data": map[string]any{"k": "v"}, "metadata": map[string]any{}}}, nil
	}
	f.lookupHook = func(string) error {
		<-started
		return &vault.StatusError{Code: 500}
	}
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cfg, []string{"A=vault:secret/data/slow#k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(context.Background(), f, p, nil, discardLog()); err == nil {
		t.Fatal("resolve succeeded")
	}
	if n := f.count("read secret/data/slow"); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
}
