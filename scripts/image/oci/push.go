package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrRegistry is wrapped by errors about an unexpected registry answer.
var ErrRegistry = errors.New("unexpected registry response")

// Repository maps a full image name to the repository path a mirror serves
// it under, the way containerd's hosts.toml mirrors ask for it: the registry
// host is dropped, and Docker Hub's one-element names get "library/".
// "ghcr.io/x/vault-env:v1" -> "x/vault-env", "v1";
// "docker.io/library/alpine:3" and "alpine:3" -> "library/alpine", "3".
func Repository(name string) (repo, tag string, err error) {
	full, tag, err := SplitName(name)
	if err != nil {
		return "", "", err
	}
	host, rest, ok := strings.Cut(full, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		host, rest = "docker.io", full
	}
	if host == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return rest, tag, nil
}

// Pusher pushes layouts to one registry over plain HTTP (the sandbox's).
type Pusher struct {
	Client   *http.Client
	Registry string // host:port
}

// Push uploads every blob the layout's root needs and tags the root with
// each of the layout's names (mapped by [Repository]); it then reads each
// tag back and fails unless the registry serves the digest it was given.
// It returns the root's digest.
func (p *Pusher) Push(ctx context.Context, l *Layout) (string, error) {
	descs, ms, err := l.Manifests()
	if err != nil {
		return "", err
	}
	if len(l.Names) == 0 {
		return "", fmt.Errorf("%w: the layout names no image", ErrInvalidLayout)
	}
	for _, name := range l.Names {
		repo, tag, err := Repository(name)
		if err != nil {
			return "", err
		}
		for i, m := range ms {
			for _, d := range append([]Descriptor{m.Config}, m.Layers...) {
				if err := p.blob(ctx, repo, d.Digest, l.Blobs[d.Digest]); err != nil {
					return "", err
				}
			}
			if l.Root.MediaType == MediaTypeIndex {
				if err := p.manifest(ctx, repo, descs[i].Digest, descs[i].MediaType, l.Blobs[descs[i].Digest]); err != nil {
					return "", err
				}
			}
		}
		if err := p.manifest(ctx, repo, tag, l.Root.MediaType, l.Blobs[l.Root.Digest]); err != nil {
			return "", err
		}
		got, err := p.ManifestDigest(ctx, repo, tag, l.Root.MediaType)
		if err != nil {
			return "", err
		}
		if got != l.Root.Digest {
			return "", fmt.Errorf("%w: %s/%s:%s reads back as %s, pushed %s", ErrRegistry, p.Registry, repo, tag, got, l.Root.Digest)
		}
	}
	return l.Root.Digest, nil
}

func (p *Pusher) url(format string, a ...any) string {
	return "http://" + p.Registry + fmt.Sprintf(format, a...)
}

func (p *Pusher) do(ctx context.Context, method, u, contentType string, body []byte, want ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("failed to build request %s %s: %w", method, u, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to %s %s: %w", method, u, err)
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	return nil, fmt.Errorf("%w: %s %s: %s: %s", ErrRegistry, method, u, resp.Status, bytes.TrimSpace(msg))
}

// blob uploads one blob unless the repository has it (monolithic upload:
// POST, then PUT of the whole blob to the upload's Location).
func (p *Pusher) blob(ctx context.Context, repo, digest string, data []byte) error {
	if data == nil {
		return fmt.Errorf("%w: blob %s is missing", ErrInvalidLayout, digest)
	}
	resp, err := p.do(ctx, http.MethodHead, p.url("/v2/%s/blobs/%s", repo, digest), "", nil, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	resp, err = p.do(ctx, http.MethodPost, p.url("/v2/%s/blobs/uploads/", repo), "", nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("%w: upload of %s to %s has no usable Location", ErrRegistry, digest, repo)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	resp, err = p.do(ctx, http.MethodPut, loc.String(), "application/octet-stream", data, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (p *Pusher) manifest(ctx context.Context, repo, ref, mediaType string, data []byte) error {
	if data == nil {
		return fmt.Errorf("%w: manifest %s is missing", ErrInvalidLayout, ref)
	}
	resp, err := p.do(ctx, http.MethodPut, p.url("/v2/%s/manifests/%s", repo, url.PathEscape(ref)), mediaType, data, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// ManifestDigest reads a manifest back and returns the sha256 of the bytes
// served (not the registry's header, so a rewritten manifest is caught).
func (p *Pusher) ManifestDigest(ctx context.Context, repo, ref, mediaType string) (string, error) {
	u := p.url("/v2/%s/manifests/%s", repo, url.PathEscape(ref))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("failed to build request GET %s: %w", u, err)
	}
	req.Header.Set("Accept", mediaType)
	resp, err := p.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("failed to read manifest %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: GET %s: %s", ErrRegistry, u, resp.Status)
	}
	return Digest(b), nil
}
