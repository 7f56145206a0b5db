package oci

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ErrInvalidLayout is wrapped by errors about a layout that cannot be read.
var ErrInvalidLayout = errors.New("invalid image layout")

// ReadLayout reads an OCI image layout written by Write, buildah or skopeo.
// Every entry of its index.json must point at the same manifest or index
// (one image under one or more names). Each blob's digest is checked.
func ReadLayout(dir string) (*Layout, error) {
	ib, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("failed to read layout: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(ib, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s/index.json: %w", ErrInvalidLayout, dir, err)
	}
	if len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("%w: %s/index.json lists no image", ErrInvalidLayout, dir)
	}
	l := &Layout{Blobs: make(map[string][]byte)}
	for i, d := range idx.Manifests {
		if i > 0 && d.Digest != l.Root.Digest {
			return nil, fmt.Errorf("%w: %s holds more than one image (%s, %s)", ErrInvalidLayout, dir, l.Root.Digest, d.Digest)
		}
		l.Root = Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
		if name := cmp.Or(d.Annotations[AnnotationImageName], d.Annotations[AnnotationRefName]); name != "" {
			l.Names = append(l.Names, name)
		}
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	des, err := os.ReadDir(blobs)
	if err != nil {
		return nil, fmt.Errorf("failed to read layout blobs: %w", err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(blobs, de.Name()))
		if err != nil {
			return nil, fmt.Errorf("failed to read blob: %w", err)
		}
		d := "sha256:" + de.Name()
		if Digest(b) != d {
			return nil, fmt.Errorf("%w: blob %s has digest %s", ErrInvalidLayout, d, Digest(b))
		}
		l.Blobs[d] = b
	}
	if _, ok := l.Blobs[l.Root.Digest]; !ok {
		return nil, fmt.Errorf("%w: %s: blob %s of index.json is missing", ErrInvalidLayout, dir, l.Root.Digest)
	}
	return l, nil
}

// Manifests returns the root's image manifests (one, or an index's) with
// their descriptors (an index's carry the platform).
func (l *Layout) Manifests() ([]Descriptor, []Manifest, error) {
	descs := []Descriptor{l.Root}
	if l.Root.MediaType == MediaTypeIndex || l.Root.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json" {
		var idx Index
		if err := l.decode(l.Root.Digest, &idx); err != nil {
			return nil, nil, err
		}
		descs = idx.Manifests
	}
	ms := make([]Manifest, len(descs))
	for i, d := range descs {
		if err := l.decode(d.Digest, &ms[i]); err != nil {
			return nil, nil, err
		}
	}
	return descs, ms, nil
}

// Config returns a manifest's image config.
func (l *Layout) Config(m Manifest) (*Config, error) {
	var c Config
	if err := l.decode(m.Config.Digest, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (l *Layout) decode(digest string, v any) error {
	b, ok := l.Blobs[digest]
	if !ok {
		return fmt.Errorf("%w: blob %s is missing", ErrInvalidLayout, digest)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: blob %s: %w", ErrInvalidLayout, digest, err)
	}
	return nil
}

// FileInfo is one path of an image's file system.
type FileInfo struct {
	Type     byte // tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, ...
	Mode     int64
	UID, GID int
	Size     int64
	Linkname string
	Digest   string // regular files: sha256 of the content
}

// Files returns the file system of an image (its layers applied in order,
// whiteouts honoured), by path relative to the root ("etc/passwd").
func (l *Layout) Files(m Manifest) (map[string]FileInfo, error) {
	files := make(map[string]FileInfo)
	for _, d := range m.Layers {
		b, ok := l.Blobs[d.Digest]
		if !ok {
			return nil, fmt.Errorf("%w: layer %s is missing", ErrInvalidLayout, d.Digest)
		}
		if err := applyLayer(files, b); err != nil {
			return nil, fmt.Errorf("failed to read layer %s: %w", d.Digest, err)
		}
	}
	return files, nil
}

func applyLayer(files map[string]FileInfo, blob []byte) error {
	var r io.Reader = bytes.NewReader(blob)
	if len(blob) >= 2 && blob[0] == 0x1f && blob[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		if base == ".wh..wh..opq" {
			for k := range files {
				if strings.HasPrefix(k, dir) {
					delete(files, k)
				}
			}
			continue
		}
		if w, ok := strings.CutPrefix(base, ".wh."); ok {
			gone := dir + w
			for k := range files {
				if k == gone || strings.HasPrefix(k, gone+"/") {
					delete(files, k)
				}
			}
			continue
		}
		f := FileInfo{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Size: h.Size, Linkname: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				return err
			}
			f.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
		}
		files[p] = f
	}
}

// Shells are the file names of shells (and of busybox, which is one).
var Shells = []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox"}

// FindShells returns the paths in files whose base name is a shell.
func FindShells(files map[string]FileInfo) []string {
	var found []string
	for p := range files {
		for _, s := range Shells {
			if path.Base(p) == s && files[p].Type != tar.TypeDir {
				found = append(found, p)
			}
		}
	}
	slices.Sort(found)
	return found
}

// ReadImage reads the layout in dir and returns it with the config and the
// files of its first (or only) image.
func ReadImage(dir string) (*Layout, *Config, map[string]FileInfo, error) {
	l, err := ReadLayout(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	_, ms, err := l.Manifests()
	if err != nil {
		return nil, nil, nil, err
	}
	if len(ms) == 0 {
		return nil, nil, nil, fmt.Errorf("failed to read image %s: the layout has no image", dir)
	}
	c, err := l.Config(ms[0])
	if err != nil {
		return nil, nil, nil, err
	}
	files, err := l.Files(ms[0])
	if err != nil {
		return nil, nil, nil, err
	}
	return l, c, files, nil
}
