package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"strings"
	"sync"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/netguard"
)

// Body limits: a hostile registry cannot make the webhook buffer more.
const (
	maxManifestBytes = 4 << 20
	maxConfigBytes   = 8 << 20
	maxErrorBytes    = 16 << 10
	maxCompared      = 16 // platforms fetched to compare entrypoints
)

// lookup is the state of one uncached lookup: the image, its platform and
// candidate credentials, and the auth state of the credential being tried.
type lookup struct {
	client     *Client
	image      string
	ref        Reference
	platform   Platform
	defaulted  bool
	skipVerify bool
	creds      []credential

	mu       sync.Mutex  // guards the fields below (platform comparison runs concurrently)
	cred     *credential // being tried; nil = anonymous
	bearer   string      // token for this repository, once obtained
	useBasic bool        // registry asked for basic auth
}

func (l *lookup) fail(kind error, err error) *Error {
	return &Error{Image: l.image, Registry: l.ref.APIHost(), Kind: kind, Err: err}
}

// refuse is a fail of kind ErrRefused with a fixed reason for the user.
func (l *lookup) refuse(reason string, err error) *Error {
	return &Error{Image: l.image, Registry: l.ref.APIHost(), Kind: ErrRefused, Reason: reason, Err: err}
}

// classify turns a leftover error into an *Error.
func (l *lookup) classify(ctx context.Context, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var refused *netguard.RefusedError
	if errors.As(err, &refused) {
		return l.refuse(fmt.Sprintf("the registry, its token realm or a redirect resolves to a %s address", refused.Class), err)
	}
	if errors.Is(err, errRedirect) {
		return l.refuse("a redirect from https to plain HTTP", err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return l.fail(ErrTimeout, errors.New("the registry did not answer in time"))
	}
	return l.fail(ErrUnavailable, err)
}

// fetch tries each candidate credential (or none) in turn; only an
// unauthorized answer moves on to the next one.
func (l *lookup) fetch(ctx context.Context) (*ImageConfig, error) {
	candidates := []*credential{nil}
	if len(l.creds) > 0 {
		candidates = candidates[:0]
		for i := range l.creds {
			candidates = append(candidates, &l.creds[i])
		}
	}
	var err error
	for _, cred := range candidates {
		l.mu.Lock()
		l.cred, l.useBasic = cred, false
		l.bearer, _ = l.client.tokens.Peek(l.tokenKey(l.scope()))
		l.mu.Unlock()
		var cfg *ImageConfig
		cfg, err = l.fetchWithCredential(ctx)
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, ErrUnauthorized) {
			return nil, err
		}
	}
	return nil, err
}

func (l *lookup) fetchWithCredential(ctx context.Context) (*ImageConfig, error) {
	m, index, digest, err := l.getManifest(ctx, l.ref.manifestRef())
	if err != nil {
		return nil, err
	}
	if !index {
		return l.getConfig(ctx, m, digest)
	}
	entries := runnablePlatforms(m)
	chosen, ok := choosePlatform(entries, l.platform)
	if !ok {
		var have []string
		for _, e := range entries {
			have = append(have, e.Platform.String())
		}
		e := l.fail(ErrNoPlatform, nil)
		e.Reason = fmt.Sprintf("want %s, the image has [%s]", l.platform, strings.Join(have, " "))
		return nil, e
	}
	cfg, err := l.configOfManifest(ctx, chosen.Digest)
	if err != nil {
		return nil, err
	}
	cfg.Platform = *chosen.Platform
	if l.defaulted && len(entries) > 1 {
		cfg.Warnings = l.comparePlatforms(ctx, cfg, chosen, entries)
	}
	return cfg, nil
}

// comparePlatforms fetches the other platforms' configs and warns when they
// start a different process: the pod did not say which platform it runs on.
func (l *lookup) comparePlatforms(ctx context.Context, chosen *ImageConfig, chosenDesc descriptor, entries []descriptor) []string {
	var others []descriptor
	for _, e := range entries {
		if e.Digest != chosenDesc.Digest && len(others) < maxCompared {
			others = append(others, e)
		}
	}
	results := make([]*ImageConfig, len(others))
	var wg sync.WaitGroup
	for i, d := range others {
		wg.Go(func() {
			if cfg, err := l.configOfManifest(ctx, d.Digest); err == nil {
				results[i] = cfg
			}
		})
	}
	wg.Wait()
	var differ []string
	unknown := 0
	for i, cfg := range results {
		switch {
		case cfg == nil:
			unknown++
		case !sameCommand(chosen, cfg):
			differ = append(differ, others[i].Platform.String())
		}
	}
	var w []string
	if len(differ) > 0 {
		w = append(w, fmt.Sprintf("image %s: platforms disagree on ENTRYPOINT/CMD and the pod does not select one (nodeSelector kubernetes.io/arch or kubernetes.io/os); used %s, which differs from %s",
			l.image, chosenDesc.Platform, strings.Join(differ, ", ")))
	}
	if unknown > 0 {
		w = append(w, fmt.Sprintf("image %s: could not read %d other platform(s) to compare their ENTRYPOINT/CMD with %s", l.image, unknown, chosenDesc.Platform))
	}
	return w
}

// configOfManifest reads a platform's image manifest (by digest) and its config.
func (l *lookup) configOfManifest(ctx context.Context, digest string) (*ImageConfig, error) {
	m, index, _, err := l.getManifest(ctx, digest)
	if err != nil {
		return nil, err
	}
	if index {
		return nil, l.fail(ErrInvalid, errors.New("an index entry points at another index"))
	}
	return l.getConfig(ctx, m, digest)
}

// getConfig reads the config blob of image manifest m, whose digest is
// manifestDigest.
func (l *lookup) getConfig(ctx context.Context, m *manifestDoc, manifestDigest string) (*ImageConfig, error) {
	digest := m.Config.Digest
	if err := validateDigest(digest); err != nil {
		return nil, l.fail(ErrInvalid, fmt.Errorf("config descriptor: %w", err))
	}
	body, _, err := l.get(ctx, "blobs/"+digest, "*/*", maxConfigBytes)
	if err != nil {
		return nil, err
	}
	if err := verifyDigest(digest, body); err != nil {
		return nil, l.fail(ErrInvalid, err)
	}
	// Docker and OCI image configs share these field names.
	var doc struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       struct {
			Entrypoint []string `json:"Entrypoint"`
			Cmd        []string `json:"Cmd"`
		} `json:"config"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, l.fail(ErrInvalid, fmt.Errorf("failed to parse image config: %w", err))
	}
	cfg := &ImageConfig{Entrypoint: doc.Config.Entrypoint, Cmd: doc.Config.Cmd, Digest: manifestDigest}
	if doc.OS != "" || doc.Architecture != "" {
		cfg.Platform = Platform{OS: doc.OS, Architecture: doc.Architecture}
	}
	return cfg, nil
}

// getManifest returns the parsed manifest, whether it is an index, and its
// digest (verified when ref is a digest).
func (l *lookup) getManifest(ctx context.Context, ref string) (m *manifestDoc, index bool, digest string, err error) {
	body, header, err := l.get(ctx, "manifests/"+ref, acceptManifests, maxManifestBytes)
	if err != nil {
		return nil, false, "", err
	}
	digest = ref
	if !strings.Contains(ref, ":") {
		sum := sha256.Sum256(body)
		digest = "sha256:" + hex.EncodeToString(sum[:])
	} else if err := verifyDigest(ref, body); err != nil {
		return nil, false, "", l.fail(ErrInvalid, err)
	}
	mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if m, index, err = parseManifest(body, mediaType); err != nil {
		return nil, false, "", l.fail(ErrInvalid, err)
	}
	return m, index, digest, nil
}

func verifyDigest(digest string, body []byte) error {
	alg, want, _ := strings.Cut(digest, ":")
	newHash, ok := digestAlgorithms[alg]
	if !ok {
		return fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	h := newHash()
	h.Write(body)
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("content does not match digest %s", digest)
	}
	return nil
}
