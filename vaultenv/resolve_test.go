package vaultenv

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/vaultenv/vault"
)

// testVault is the fake behind the resolve tests.
func testVault() *fakeVault {
	f := newFakeVault()
	f.kv2("secret/")
	f.kv1("kv1/")
	f.mounts["database/"] = map[string]any{"path": "database/", "type": "database"}
	f.reads["secret/data/app"] = kv2versions(map[int]map[string]any{
		1: {"user": "app", "password": "old"},
		2: nil, // deleted
		3: {"user": "app", "password": "p@ss", "enc": base64.StdEncoding.EncodeToString([]byte("decoded"))},
	})
	f.reads["secret/data/fromenv"] = kv2versions(map[int]map[string]any{1: {"FROM_A": "a", "HOME": "/evil", "FROM_B": "b"}})
	f.reads["kv1/plain"] = static(map[string]any{"k": "v1value", "n": 42.0})
	f.reads["database/creds/ro"] = func(url.Values) (*vault.Secret, error) {
		return &vault.Secret{Data: map[string]any{"username": "u-1", "password": "pw-1"}, LeaseID: "database/creds/ro/L1", LeaseDuration: 30 * time.Second, Renewable: true}, nil
	}
	f.writes["pki/issue/web"] = func(map[string]any) (*vault.Secret, error) {
		return &vault.Secret{Data: map[string]any{"certificate": "CERT", "private_key": "KEY"}, LeaseID: "pki/issue/web/L2", LeaseDuration: time.Hour}, nil
	}
	f.writes["transit/decrypt/mykey"] = func(data map[string]any) (*vault.Secret, error) {
		in := data["batch_input"].([]any)
		var out []any
		for _, x := range in {
			ct := x.(map[string]any)["ciphertext"].(string)
			if ct == "vault:v1:bad" {
				out = append(out, map[string]any{"error": "cipher: message authentication failed"})
				continue
			}
			out = append(out, map[string]any{"plaintext": base64.StdEncoding.EncodeToString([]byte("plain-" + ct))})
		}
		return &vault.Secret{Data: map[string]any{"batch_results": out}}, nil
	}
	return f
}

func resolveEnv(t *testing.T, f *fakeVault, environ []string) (*Result, error) {
	t.Helper()
	cfg, err := ParseConfig(environ)
	if err != nil {
		return nil, err
	}
	p, err := NewPlan(cfg, environ)
	if err != nil {
		return nil, err
	}
	return Resolve(context.Background(), f, p, nil, discardLog())
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
		calls   map[string]int // call prefix -> count
		leases  []string
	}{
		{
			name:    "plain values pass through byte for byte",
			environ: []string{"A=x", "B=", "C=${not a ref}", "D=vaultx:y", "E=a=b=c"},
			want:    []string{"A=x", "B=", "C=${not a ref}", "D=vaultx:y", "E=a=b=c"},
			calls:   map[string]int{"": 0},
		},
		{
			name:    "kv2 latest, both path spellings share one read and one mount lookup",
			environ: []string{"U=vault:secret/data/app#user", "P=vault:secret/app#password"},
			want:    []string{"U=app", "P=p@ss"},
			calls:   map[string]int{"read secret/data/app": 1, "read sys/internal/ui/mounts/": 1},
		},
		{
			name:    "kv2 version",
			environ: []string{"P=vault:secret/data/app#password#1", "Q=vault:secret/data/app#password"},
			want:    []string{"P=old", "Q=p@ss"},
			calls:   map[string]int{"read secret/data/app?version=1": 1, "read secret/data/app?": 2},
		},
		{
			name:    "kv1 and numbers",
			environ: []string{"K=vault:kv1/plain#k", "N=vault:kv1/plain#n"},
			want:    []string{"K=v1value", "N=42"},
			calls:   map[string]int{"read kv1/plain": 1},
		},
		{
			name:    "template",
			environ: []string{"DSN=vault:secret/data/app#${.user}:${.password}@db", "D=vault:secret/data/app#${.enc | b64dec | upper}"},
			want:    []string{"DSN=app:p@ss@db", "D=DECODED"},
			calls:   map[string]int{"read secret/data/app": 1},
		},
		{
			name:    "inline, several per value",
			environ: []string{"URL=postgres://${vault:secret/data/app#user}:${vault:database/creds/ro#password}@h/${vault:kv1/plain#k}"},
			want:    []string{"URL=postgres://app:pw-1@h/v1value"},
			leases:  []string{"database/creds/ro/L1"},
		},
		{
			name:    "dynamic secret: username and password from one read, one lease",
			environ: []string{"U=vault:database/creds/ro#username", "P=vault:database/creds/ro#password"},
			want:    []string{"U=u-1", "P=pw-1"},
			calls:   map[string]int{"read database/creds/ro": 1},
			leases:  []string{"database/creds/ro/L1"},
		},
		{
			name:    "write shared by all refs to it",
			environ: []string{`C=>>vault:pki/issue/web#certificate#{"common_name":"a.example"}`, `K=>>vault:pki/issue/web#private_key#{"common_name":"a.example"}`},
			want:    []string{"C=CERT", "K=KEY"},
			calls:   map[string]int{"write pki/issue/web": 1},
			leases:  []string{"pki/issue/web/L2"},
		},
		{
			name:    "transit, batched",
			environ: []string{"VAULT_TRANSIT_KEY_ID=mykey", "VAULT_TRANSIT_BATCH_SIZE=2", "A=vault:v1:a", "B=vault:v1:b", "C=vault:v1:c", "D=x${vault:v1:a}y"},
			want:    []string{"A=plain-vault:v1:a", "B=plain-vault:v1:b", "C=plain-vault:v1:c", "D=xplain-vault:v1:ay"},
			calls:   map[string]int{"write transit/decrypt/mykey": 2},
		},
		{
			name:    "from-path: explicit variables win, settings do not come back",
			environ: []string{"VAULT_ENV_FROM_PATH=secret/data/fromenv", "HOME=/home/app", "FROM_B=explicit"},
			want:    []string{"HOME=/home/app", "FROM_B=explicit", "FROM_A=a"},
		},
		{
			name:    "settings dropped, passthrough kept, token never",
			environ: []string{"VAULT_ADDR=http://v:8200", "VAULT_ROLE=r", "VAULT_TOKEN=hvs.x", "VAULT_ENV_PASSTHROUGH=VAULT_ADDR", "VAULT_OTHER=kept", "KUBERNETES_SERVICE_ACCOUNT_TOKEN=/t"},
			want:    []string{"VAULT_ADDR=http://v:8200", "VAULT_OTHER=kept"},
		},
		{
			name:    "ignore missing",
			environ: []string{"VAULT_IGNORE_MISSING_SECRETS=true", "A=vault:secret/data/nope#x", "C=vault:secret/data/app#password#2", "VAULT_ENV_FROM_PATH=secret/data/gone,secret/data/app#9", "E=vault:secret/data/app#user"},
			want:    []string{"E=app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testVault()
			res, err := resolveEnv(t, f, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Env, tt.want) {
				t.Errorf("env = %q, want %q", res.Env, tt.want)
			}
			for prefix, n := range tt.calls {
				if got := f.count(prefix); got != n {
					t.Errorf("%d calls %q, want %d (calls: %q)", got, prefix, n, f.calls)
				}
			}
			var ids []string
			for _, l := range res.Leases {
				ids = append(ids, l.ID)
			}
			if !slices.Equal(ids, tt.leases) {
				t.Errorf("leases = %q, want %q", ids, tt.leases)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		wantIn  []string // substrings of the error
		missing bool
	}{
		{name: "missing path", environ: []string{"A=vault:secret/data/nope#x"}, wantIn: []string{"A:", "secret/data/nope", "not found"}, missing: true},
		{name: "missing key", environ: []string{"A=vault:secret/data/app#nope"}, wantIn: []string{"A:", "secret/data/app", `"nope"`}, missing: true},
		{name: "deleted version", environ: []string{"A=vault:secret/data/app#user#2"}, wantIn: []string{"A:", "version 2 was deleted"}, missing: true},
		{name: "missing version", environ: []string{"A=vault:secret/data/app#user#9"}, wantIn: []string{"A:", "not found"}, missing: true},
		{name: "version on kv1", environ: []string{"A=vault:kv1/plain#k#2"}, wantIn: []string{"A:", "not a KV v2 mount"}, missing: true},
		{name: "template key missing", environ: []string{"A=vault:secret/data/app#${.nope}"}, wantIn: []string{"A:", `"nope"`}, missing: true},
		{name: "ignore missing: missing key stays fatal", environ: []string{"VAULT_IGNORE_MISSING_SECRETS=true", "A=vault:secret/data/app#nope"}, wantIn: []string{"A:", `"nope"`}, missing: true},
		{name: "ignore missing: missing template key stays fatal", environ: []string{"VAULT_IGNORE_MISSING_SECRETS=true", "A=vault:secret/data/app#${.nope}"}, wantIn: []string{"A:", `"nope"`}, missing: true},
		{name: "from path: bad version", environ: []string{"VAULT_ENV_FROM_PATH=secret/data/app#x"}, wantIn: []string{"VAULT_ENV_FROM_PATH", "version"}},
		{name: "from path: dot segment", environ: []string{"VAULT_ENV_FROM_PATH=secret/../sys"}, wantIn: []string{"VAULT_ENV_FROM_PATH", "not a valid path"}},
		{name: "syntax", environ: []string{"A=vault:secret/data/app"}, wantIn: []string{"A:", "#KEY"}},
		{name: "bad template", environ: []string{"A=vault:secret/data/app#${nofunc .x}"}, wantIn: []string{"A:", "nofunc"}},
		{name: "transit without key id", environ: []string{"A=vault:v1:x"}, wantIn: []string{"VAULT_TRANSIT_KEY_ID"}},
		{name: "transit failure", environ: []string{"VAULT_TRANSIT_KEY_ID=mykey", "A=vault:v1:bad"}, wantIn: []string{"A:", "authentication failed"}},
		{name: "write failure", environ: []string{"A=>>vault:pki/issue/nope#certificate"}, wantIn: []string{"A:", "pki/issue/nope", "404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveEnv(t, testVault(), tt.environ)
			if err == nil {
				t.Fatal("resolve succeeded, want error")
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, secret := range []string{"p@ss", "old", "v1value", "pw-1", "CERT"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret value", err)
				}
			}
			var me *MissingError
			if got := errors.As(err, &me); got != tt.missing {
				t.Errorf("MissingError = %t, want %t (%v)", got, tt.missing, err)
			}
		})
	}
}

func TestResolveConcurrencyBound(t *testing.T) {
	f := newFakeVault()
	f.kv1("kv/")
	var mu = make(chan struct{}, 1)
	inFlight, peak := 0, 0
	gate := make(chan struct{})
	var environ []string
	for i := range 20 {
		path := "kv/p" + itoa(i)
		f.reads[path] = func(url.Values) (*vault.Secret, error) {
			mu <- struct{}{}
			inFlight++
			peak = max(peak, inFlight)
			<-mu
			<-gate
			mu <- struct{}{}
			inFlight--
			<-mu
			return &vault.Secret{Data: map[string]any{"k": "v"}}, nil
		}
		environ = append(environ, "V"+itoa(i)+"=vault:"+path+"#k")
	}
	go func() {
		for range 20 {
			gate <- struct{}{}
		}
	}()
	res, err := resolveEnv(t, f, environ)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Env) != 20 {
		t.Fatalf("got %d variables", len(res.Env))
	}
	if peak > MaxConcurrentFetches {
		t.Fatalf("peak concurrency %d > %d", peak, MaxConcurrentFetches)
	}
}

// TestResolveWithoutMountInformation: a token that may not read
// sys/internal/ui/mounts still gets KV v2 values (recognised by shape) and
// plain reads.
func TestResolveWithoutMountInformation(t *testing.T) {
	f := testVault()
	f.mounts = map[string]map[string]any{} // every lookup answers 400
	f.reads["kv1/plain"] = static(map[string]any{"k": "v1value"})
	res, err := resolveEnv(t, f, []string{"A=vault:secret/data/app#user", "B=vault:secret/data/app#password#1", "C=vault:kv1/plain#k"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=app", "B=old", "C=v1value"}
	if !slices.Equal(res.Env, want) {
		t.Fatalf("env = %q, want %q", res.Env, want)
	}
}
