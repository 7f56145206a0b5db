package kube

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	// tokenCheckInterval is how often the token file is stat'ed at most.
	tokenCheckInterval = time.Second
	// tokenMaxAge forces a re-read even when stat sees no change (a
	// rewrite within the same second and of the same size).
	tokenMaxAge = time.Minute
	// maxTokenSize bounds the token file.
	maxTokenSize = 64 << 10
)

// tokenFile caches a bearer token read from a file and re-reads it when the
// file changes. Projected ServiceAccount tokens are swapped atomically by
// the kubelet (a symlink flip), so os.Stat follows the link to the new file.
type tokenFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
	checked time.Time // last stat
	read    time.Time // last read
}

func newTokenFile(path string) *tokenFile {
	return &tokenFile{path: path, now: time.Now}
}

// get returns the current token, re-reading the file when needed.
func (t *tokenFile) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.token != "" && now.Sub(t.checked) < tokenCheckInterval && now.Sub(t.read) < tokenMaxAge {
		return t.token, nil
	}
	fi, err := os.Stat(t.path)
	if err != nil {
		return "", fmt.Errorf("failed to stat token file: %w", err)
	}
	t.checked = now
	if t.token != "" && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size && now.Sub(t.read) < tokenMaxAge {
		return t.token, nil
	}
	if fi.Size() > maxTokenSize {
		return "", fmt.Errorf("failed to read token file: %s is larger than %d bytes", t.path, maxTokenSize)
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return "", fmt.Errorf("failed to read token file: %w", err)
	}
	tok := string(bytes.TrimSpace(b))
	clear(b)
	if tok == "" {
		return "", fmt.Errorf("failed to read token file: %s is empty", t.path)
	}
	t.token, t.modTime, t.size, t.read = tok, fi.ModTime(), fi.Size(), now
	return t.token, nil
}

// invalidate drops the cache, so the next get re-reads the file.
func (t *tokenFile) invalidate() {
	t.mu.Lock()
	t.token = ""
	t.mu.Unlock()
}
