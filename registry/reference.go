package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
)

// Docker Hub names. Images written without a registry host, or with one of
// these hosts, live on Docker Hub; its API is served by dockerHubAPIHost.
const (
	dockerHubDomain  = "docker.io"
	dockerHubLegacy  = "index.docker.io"
	dockerHubAPIHost = "registry-1.docker.io"
	defaultTag       = "latest"
	maxNameLength    = 255 // distribution's limit on host + repository
	maxReferenceLen  = 4096
)

// The reference grammar of github.com/distribution/reference, written out
// as the pieces this parser needs.
var (
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	domainNameRE    = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$`)
	ipv6RE          = regexp.MustCompile(`^\[[a-fA-F0-9:]+\]$`)
	portRE          = regexp.MustCompile(`^[0-9]+$`)
	tagRE           = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestAlgRE     = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$`)
	digestHexRE     = regexp.MustCompile(`^[a-zA-Z0-9=_-]{32,}$`)
	lowerHexRE      = regexp.MustCompile(`^[a-f0-9]+$`)
)

// digestAlgorithms are the digest algorithms a reference or descriptor may
// name.
var digestAlgorithms = map[string]func() hash.Hash{"sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New}

// ErrInvalidReference is wrapped by every error ParseReference returns.
var ErrInvalidReference = errors.New("invalid image reference")

// Reference is a parsed, normalised image reference.
type Reference struct {
	Domain     string // registry host[:port]; "docker.io" for Docker Hub
	Repository string // path inside the registry; "library/redis" for "redis"
	Tag        string // "latest" when neither tag nor digest was written
	Digest     string // "sha256:…" when written; it wins over Tag when fetching
}

// ParseReference parses an image reference as a container runtime does:
// "redis", "library/redis" and "docker.io/redis" all name
// docker.io/library/redis:latest; a first path component containing "." or
// ":", or equal to "localhost", or with upper-case letters is a registry host.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("%w: empty", ErrInvalidReference)
	}
	if len(s) > maxReferenceLen {
		return Reference{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidReference, maxReferenceLen)
	}
	var r Reference
	name := s
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		r.Digest = name[i+1:]
		name = name[:i]
		if err := validateDigest(r.Digest); err != nil {
			return Reference{}, err
		}
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i+1:], "/") {
		r.Tag = name[i+1:]
		name = name[:i]
		if !tagRE.MatchString(r.Tag) {
			return Reference{}, fmt.Errorf("%w: malformed tag %q", ErrInvalidReference, r.Tag)
		}
	}
	if name == "" {
		return Reference{}, fmt.Errorf("%w: no repository name", ErrInvalidReference)
	}
	domain, path := splitDomain(name)
	if domain != dockerHubDomain || strings.Contains(name, "/") {
		// Only validate a host that was actually written.
		if err := validateDomain(domain); err != nil {
			return Reference{}, err
		}
	}
	if domain == dockerHubLegacy {
		domain = dockerHubDomain
	}
	if domain == dockerHubDomain && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if len(domain)+1+len(path) > maxNameLength {
		return Reference{}, fmt.Errorf("%w: name longer than %d characters", ErrInvalidReference, maxNameLength)
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponentRE.MatchString(c) {
			return Reference{}, fmt.Errorf("%w: malformed repository path component %q", ErrInvalidReference, c)
		}
	}
	r.Domain, r.Repository = domain, path
	if r.Tag == "" && r.Digest == "" {
		r.Tag = defaultTag
	}
	return r, nil
}

// splitDomain separates the registry host from the repository path.
func splitDomain(name string) (domain, path string) {
	first, rest, ok := strings.Cut(name, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" && strings.ToLower(first) == first {
		return dockerHubDomain, name
	}
	return first, rest
}

func validateDomain(d string) error {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		end := strings.IndexByte(d, ']')
		if end < 0 {
			return fmt.Errorf("%w: malformed registry host %q", ErrInvalidReference, d)
		}
		host, port = d[:end+1], strings.TrimPrefix(d[end+1:], ":")
		if !ipv6RE.MatchString(host) || (len(d) > end+1 && d[end+1] != ':') {
			return fmt.Errorf("%w: malformed registry host %q", ErrInvalidReference, d)
		}
	} else if i := strings.IndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i+1:]
		if port == "" {
			return fmt.Errorf("%w: malformed registry port in %q", ErrInvalidReference, d)
		}
	}
	if !ipv6RE.MatchString(host) && !domainNameRE.MatchString(host) {
		return fmt.Errorf("%w: malformed registry host %q", ErrInvalidReference, d)
	}
	if port != "" && (!portRE.MatchString(port) || len(port) > 5) {
		return fmt.Errorf("%w: malformed registry port in %q", ErrInvalidReference, d)
	}
	return nil
}

func validateDigest(d string) error {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || !digestAlgRE.MatchString(alg) || !digestHexRE.MatchString(hex) {
		return fmt.Errorf("%w: malformed digest %q", ErrInvalidReference, d)
	}
	newHash, ok := digestAlgorithms[alg]
	if !ok {
		return fmt.Errorf("%w: unsupported digest algorithm %q", ErrInvalidReference, alg)
	}
	if len(hex) != 2*newHash().Size() || !lowerHexRE.MatchString(hex) {
		return fmt.Errorf("%w: malformed %s digest", ErrInvalidReference, alg)
	}
	return nil
}

// Name is the repository with its registry host: "docker.io/library/redis".
// The kubelet matches pull-secret entries against this string.
func (r Reference) Name() string { return r.Domain + "/" + r.Repository }

// String is the canonical form: "docker.io/library/redis:latest",
// "host:5000/app@sha256:…", or "host/app:v1@sha256:…".
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// APIHost is the host[:port] that serves the registry API for r.
func (r Reference) APIHost() string {
	if r.Domain == dockerHubDomain {
		return dockerHubAPIHost
	}
	return r.Domain
}

// manifestRef is what to ask the registry for: the digest when one was
// written (a tag beside a digest is informational, as in containerd).
func (r Reference) manifestRef() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}
