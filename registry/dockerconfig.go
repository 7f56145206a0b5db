package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// Secret types of Kubernetes image pull secrets.
const (
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson" // data key .dockerconfigjson
	SecretTypeDockercfg        = "kubernetes.io/dockercfg"        // data key .dockercfg
)

// ErrInvalidPullSecret is wrapped by errors from the pull-secret parsers.
var ErrInvalidPullSecret = errors.New("invalid pull secret")

// credential is one username/password pair from a pull secret. It never
// prints its password.
type credential struct {
	Username     string
	Password     string
	alwaysVerify bool // from PullSecret.AlwaysVerifyTLS
}

func (c credential) String() string   { return "credential{REDACTED}" }
func (c credential) GoString() string { return c.String() }

// dockerConfigEntry is the JSON form of one registry's credentials.
type dockerConfigEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"` // base64("user:password"); wins over the two above
}

// parseDockerConfigJSON parses the .dockerconfigjson form: {"auths": {KEY: entry}}.
func parseDockerConfigJSON(data []byte) (map[string]credential, error) {
	var doc struct {
		Auths map[string]dockerConfigEntry `json:"auths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: failed to parse .dockerconfigjson: %v", ErrInvalidPullSecret, jsonErrorKind(err))
	}
	return entriesToCredentials(doc.Auths)
}

// parseDockercfg parses the legacy .dockercfg form: {KEY: entry}.
func parseDockercfg(data []byte) (map[string]credential, error) {
	var doc map[string]dockerConfigEntry
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: failed to parse .dockercfg: %v", ErrInvalidPullSecret, jsonErrorKind(err))
	}
	return entriesToCredentials(doc)
}

// jsonErrorKind describes a JSON error without quoting the input (which
// holds credentials).
func jsonErrorKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("wrong JSON type at offset %d", te.Offset)
	default:
		return "malformed JSON"
	}
}

func entriesToCredentials(in map[string]dockerConfigEntry) (map[string]credential, error) {
	out := make(map[string]credential, len(in))
	for key, e := range in {
		c := credential{Username: e.Username, Password: e.Password}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("%w: the auth field of an entry is not base64", ErrInvalidPullSecret)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("%w: the auth field of an entry is not user:password", ErrInvalidPullSecret)
			}
			c = credential{Username: user, Password: pass}
		}
		out[key] = c
	}
	return out, nil
}

// matching returns the credentials of one pull secret's entries whose key
// matches image (a repository name with its host, "docker.io/library/redis")
// the way the kubelet's credentialprovider.BasicDockerKeyring does, most
// specific key first.
func matching(entries map[string]credential, image string) []credential {
	byKey := map[string][]credential{}
	for _, loc := range slices.Sorted(maps.Keys(entries)) { // deterministic order within one secret
		if key, ok := keyringKey(loc); ok {
			byKey[key] = append(byKey[key], entries[loc])
		}
	}
	var out []credential
	for _, key := range slices.Backward(slices.Sorted(maps.Keys(byKey))) {
		if keyMatches(key, image) {
			out = append(out, byKey[key]...)
		}
	}
	if len(out) == 0 && isDockerHubImage(image) {
		return byKey[dockerHubLegacy]
	}
	return out
}

// keyringKey drops a pull-secret key's scheme and /v1/ or /v2/ suffix
// ("https://index.docker.io/v1/" is "index.docker.io").
func keyringKey(loc string) (string, bool) {
	if !strings.HasPrefix(loc, "https://") && !strings.HasPrefix(loc, "http://") {
		loc = "https://" + loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	path := u.Path
	if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
		path = path[3:]
	}
	if path == "" || path == "/" {
		return u.Host, true
	}
	return u.Host + path, true
}

// keyMatches reports whether the schemeless glob key ("*.example.com",
// "registry:5000/team") matches the schemeless image name: same port, same
// number of host labels, each label a filepath.Match glob, and the key's
// path a prefix of the image's path.
func keyMatches(key, image string) bool {
	g, err := url.Parse("https://" + key)
	if err != nil {
		return false
	}
	t, err := url.Parse("https://" + image)
	if err != nil {
		return false
	}
	gLabels, gPort := splitHostLabels(g.Host)
	tLabels, tPort := splitHostLabels(t.Host)
	if gPort != tPort || len(gLabels) != len(tLabels) || !strings.HasPrefix(t.Path, g.Path) {
		return false
	}
	for i := range gLabels {
		if ok, err := filepath.Match(gLabels[i], tLabels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func splitHostLabels(hostport string) (labels []string, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	return strings.Split(host, "."), port
}

// isDockerHubImage mirrors the kubelet's isDefaultRegistryMatch.
func isDockerHubImage(image string) bool {
	first, _, hasSlash := strings.Cut(image, "/")
	if first == "" {
		return false
	}
	if !hasSlash || first == dockerHubDomain || first == dockerHubLegacy {
		return true
	}
	return !strings.ContainsAny(first, ".:")
}

// credentialsFor returns the candidate credentials for ref from the pull
// secrets, in the order they are tried: each secret in the caller's priority
// order, within a secret the most specific key first; duplicates dropped.
// Secrets that fail to parse are skipped, as the kubelet does; their count
// is returned so the caller can warn.
func credentialsFor(ref Reference, secrets []PullSecret) (creds []credential, skipped int) {
	type userPass struct{ user, pass string }
	seen := map[userPass]bool{}
	for _, s := range secrets {
		var entries map[string]credential
		var err error
		switch s.Type {
		case SecretTypeDockerConfigJSON:
			entries, err = parseDockerConfigJSON(s.Data)
		case SecretTypeDockercfg:
			entries, err = parseDockercfg(s.Data)
		default:
			err = fmt.Errorf("%w: unsupported type %q", ErrInvalidPullSecret, s.Type)
		}
		if err != nil {
			skipped++
			continue
		}
		for _, c := range matching(entries, ref.Name()) {
			if up := (userPass{c.Username, c.Password}); !seen[up] {
				seen[up] = true
				c.alwaysVerify = s.AlwaysVerifyTLS
				creds = append(creds, c)
			}
		}
	}
	return creds, skipped
}

// identity is a keyed one-way digest (HMAC-SHA256 under a per-client random
// key) of credentials, used in cache keys so that lookups made with
// different credentials never share a cache entry.
func identity(key []byte, creds []credential) string {
	if len(creds) == 0 {
		return "anonymous"
	}
	h := hmac.New(sha256.New, key)
	for _, c := range creds {
		fmt.Fprintf(h, "%d:%s%d:%s%t", len(c.Username), c.Username, len(c.Password), c.Password, c.alwaysVerify)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
