// Package oci writes OCI image layouts deterministically, reads them back
// and pushes them to a registry over the OCI distribution API. It is the
// library behind scripts/image (`make image`) and the e2e tests that build
// base look-alikes; the product packages never import it.
//
// Determinism: the same entries give the same bytes on every run and every
// machine with the same Go version. Tar entries are sorted by path, every
// mtime is 0 (1970-01-01), owners are numeric with no user or group names,
// gzip headers carry mtime 0 and no file name, and the gzip level is fixed
// ([gzip.BestCompression]; compress/flate's output for a level has not
// changed across Go releases so far, but a Go upgrade could in principle
// change compressed bytes and so the layer digest, never the diffID).
package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Kind is the type of a layer entry.
type Kind int

const (
	File     Kind = iota // a regular file with Data
	Dir                  // a directory
	Symlink              // a symbolic link to Target
	Hardlink             // a hard link to the regular file at Target (a path in the same layer)
)

// Entry is one file of a layer. Path is relative to the image root, without
// a leading slash ("usr/local/bin/vault-env").
type Entry struct {
	Path   string
	Kind   Kind
	Mode   fs.FileMode // permission bits plus setuid/setgid/sticky (fs.ModeSticky): no type bits
	UID    int
	GID    int
	Data   []byte // File only
	Target string // Symlink: the link text; Hardlink: the target's Path
}

// ErrInvalidEntry is wrapped by every error about a malformed entry.
var ErrInvalidEntry = errors.New("invalid layer entry")

// Layer is a built, compressed (or uncompressed) layer.
type Layer struct {
	MediaType string // MediaTypeLayerGzip or MediaTypeLayer
	Blob      []byte // what the registry stores
	Digest    string // sha256 of Blob
	DiffID    string // sha256 of the uncompressed tar
}

// Media types written by this package.
const (
	MediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeLayer     = "application/vnd.oci.image.layer.v1.tar"
)

// Digest returns the "sha256:HEX" digest of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// epoch is every entry's mtime.
var epoch = time.Unix(0, 0).UTC()

// BuildLayer writes entries as one layer, gzip-compressed unless compress is
// false (an uncompressed layer is faster to write for big look-alike bases).
// Parent directories that entries do not list are added as root-owned 0755
// directories. Two entries with the same path are an error.
func BuildLayer(entries []Entry, compress bool) (*Layer, error) {
	all, err := normalize(entries)
	if err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	seen := make(map[string]Kind, len(all))
	for _, e := range all {
		h := &tar.Header{
			Name:    e.Path,
			Mode:    tarMode(e.Mode),
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		switch e.Kind {
		case File:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		case Dir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case Symlink:
			h.Typeflag = tar.TypeSymlink
			h.Linkname = e.Target
		case Hardlink:
			// Extractors need the target before the link.
			if k, ok := seen[e.Target]; !ok || k != File {
				return nil, fmt.Errorf("%w: hard link %s: target %s is not a regular file sorted before it", ErrInvalidEntry, e.Path, e.Target)
			}
			h.Typeflag = tar.TypeLink
			h.Linkname = e.Target
		}
		seen[e.Path] = e.Kind
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("failed to write tar header %s: %w", e.Path, err)
		}
		if e.Kind == File {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, fmt.Errorf("failed to write tar entry %s: %w", e.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("failed to close tar: %w", err)
	}
	l := &Layer{MediaType: MediaTypeLayer, Blob: raw.Bytes(), DiffID: Digest(raw.Bytes())}
	if compress {
		var gz bytes.Buffer
		zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("failed to start gzip: %w", err)
		}
		// gzip.Header's zero value: no name, no comment, mtime 0.
		if _, err := zw.Write(raw.Bytes()); err != nil {
			return nil, fmt.Errorf("failed to compress layer: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("failed to compress layer: %w", err)
		}
		l.MediaType, l.Blob = MediaTypeLayerGzip, gz.Bytes()
	}
	l.Digest = Digest(l.Blob)
	return l, nil
}

// tarMode maps permission and special bits to the tar header's mode field.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// normalize validates entries, adds missing parent directories and sorts
// by path.
func normalize(entries []Entry) ([]Entry, error) {
	byPath := make(map[string]Entry, len(entries))
	for _, e := range entries {
		if err := validate(e); err != nil {
			return nil, err
		}
		if _, dup := byPath[e.Path]; dup {
			return nil, fmt.Errorf("%w: %s listed twice", ErrInvalidEntry, e.Path)
		}
		byPath[e.Path] = e
	}
	for _, e := range entries {
		for dir := path.Dir(e.Path); dir != "."; dir = path.Dir(dir) {
			p, ok := byPath[dir]
			if !ok {
				byPath[dir] = Entry{Path: dir, Kind: Dir, Mode: 0o755}
				continue
			}
			if p.Kind != Dir {
				return nil, fmt.Errorf("%w: %s is inside %s, which is not a directory", ErrInvalidEntry, e.Path, dir)
			}
		}
	}
	all := make([]Entry, 0, len(byPath))
	for _, e := range byPath {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return all, nil
}

func validate(e Entry) error {
	if e.Path == "" || e.Path == "." || strings.HasPrefix(e.Path, "/") || path.Clean(e.Path) != e.Path || strings.HasPrefix(e.Path, "../") || e.Path == ".." {
		return fmt.Errorf("%w: path %q must be relative and clean (no leading /, no ..)", ErrInvalidEntry, e.Path)
	}
	if e.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return fmt.Errorf("%w: %s: mode %v has type bits; set Kind instead", ErrInvalidEntry, e.Path, e.Mode)
	}
	if e.UID < 0 || e.GID < 0 {
		return fmt.Errorf("%w: %s: negative owner %d:%d", ErrInvalidEntry, e.Path, e.UID, e.GID)
	}
	switch e.Kind {
	case File, Dir:
		if e.Target != "" {
			return fmt.Errorf("%w: %s: only links have a target", ErrInvalidEntry, e.Path)
		}
	case Symlink, Hardlink:
		if e.Target == "" {
			return fmt.Errorf("%w: %s: a link needs a target", ErrInvalidEntry, e.Path)
		}
	default:
		return fmt.Errorf("%w: %s: unknown kind %d", ErrInvalidEntry, e.Path, e.Kind)
	}
	if e.Kind != File && len(e.Data) > 0 {
		return fmt.Errorf("%w: %s: only regular files have data", ErrInvalidEntry, e.Path)
	}
	return nil
}
