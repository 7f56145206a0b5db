package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Media types of the documents.
const (
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
)

// Annotations in a layout's index.json. RefName is the tag (what
// `skopeo copy oci:DIR:TAG` and `buildah pull oci:DIR:TAG` select);
// ImageName is the full reference (what `ctr images import` names the
// image, and what Push pushes).
const (
	AnnotationRefName   = "org.opencontainers.image.ref.name"
	AnnotationImageName = "io.containerd.image.name"
)

// Platform is an image's operating system and architecture.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// String returns "os/arch[/variant]".
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ErrInvalidPlatform is returned by ParsePlatform.
var ErrInvalidPlatform = errors.New("invalid platform")

// ParsePlatform parses "linux/amd64" or "linux/arm64" (the platforms the
// project ships; arm64 gets variant v8 as in the official images).
func ParsePlatform(s string) (Platform, error) {
	switch s {
	case "linux/amd64":
		return Platform{OS: "linux", Architecture: "amd64"}, nil
	case "linux/arm64", "linux/arm64/v8":
		return Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, nil
	}
	return Platform{}, fmt.Errorf("%w %q: want linux/amd64 or linux/arm64", ErrInvalidPlatform, s)
}

// ContainerConfig is the runtime part of an image config (the fields this
// project sets; JSON names as in the OCI image spec).
type ContainerConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
}

// Config is the OCI image config. It has no "created" time, so it depends
// on nothing but the content.
type Config struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Variant      string          `json:"variant,omitempty"`
	Config       ContainerConfig `json:"config"`
	RootFS       RootFS          `json:"rootfs"`
	History      []History       `json:"history,omitempty"`
}

// RootFS lists the layers' diffIDs.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History describes one layer (no timestamps).
type History struct {
	CreatedBy  string `json:"created_by,omitempty"`
	Comment    string `json:"comment,omitempty"`
	EmptyLayer bool   `json:"empty_layer,omitempty"`
}

// Descriptor points at a blob.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// Index is an OCI image index (also the shape of a layout's index.json).
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []Descriptor `json:"manifests"`
}

// Image is one platform's image: its layers (bottom first), container
// config and per-layer history text.
type Image struct {
	Platform Platform
	Layers   []*Layer
	History  []string // one per layer; may be empty
	Config   ContainerConfig
}

// Layout is an OCI image layout in memory: blobs by digest, and the
// descriptor every name points at (a manifest, or an index for several
// platforms).
type Layout struct {
	Blobs map[string][]byte
	Root  Descriptor // the manifest or index all Names point at
	Names []string   // full references, e.g. ghcr.io/x/y:v1
}

// ErrInvalidImage is wrapped by errors about images that cannot be written.
var ErrInvalidImage = errors.New("invalid image")

// NewLayout assembles images (one per platform: several make an index)
// under the given full names ("REPO:TAG"; a name without a tag is an error).
func NewLayout(names []string, images ...*Image) (*Layout, error) {
	if len(images) == 0 || len(names) == 0 {
		return nil, fmt.Errorf("%w: need at least one image and one name", ErrInvalidImage)
	}
	for _, n := range names {
		if _, _, err := SplitName(n); err != nil {
			return nil, err
		}
	}
	l := &Layout{Blobs: make(map[string][]byte), Names: slices.Clone(names)}
	var manifests []Descriptor
	for _, img := range images {
		d, err := l.addImage(img)
		if err != nil {
			return nil, err
		}
		manifests = append(manifests, d)
	}
	if len(manifests) == 1 {
		l.Root = manifests[0]
		l.Root.Platform = nil
		return l, nil
	}
	idx, err := marshal(Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: manifests})
	if err != nil {
		return nil, err
	}
	l.Root = l.add(MediaTypeIndex, idx)
	return l, nil
}

func (l *Layout) add(mediaType string, b []byte) Descriptor {
	d := Descriptor{MediaType: mediaType, Digest: Digest(b), Size: int64(len(b))}
	l.Blobs[d.Digest] = b
	return d
}

func (l *Layout) addImage(img *Image) (Descriptor, error) {
	if len(img.Layers) == 0 {
		return Descriptor{}, fmt.Errorf("%w: %s has no layer", ErrInvalidImage, img.Platform)
	}
	if len(img.History) != 0 && len(img.History) != len(img.Layers) {
		return Descriptor{}, fmt.Errorf("%w: %s: %d history entries for %d layers", ErrInvalidImage, img.Platform, len(img.History), len(img.Layers))
	}
	cfg := Config{
		Architecture: img.Platform.Architecture, OS: img.Platform.OS, Variant: img.Platform.Variant,
		Config: img.Config, RootFS: RootFS{Type: "layers"},
	}
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeManifest}
	for i, layer := range img.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, layer.DiffID)
		if len(img.History) != 0 {
			cfg.History = append(cfg.History, History{CreatedBy: img.History[i]})
		}
		m.Layers = append(m.Layers, l.add(layer.MediaType, layer.Blob))
	}
	cb, err := marshal(cfg)
	if err != nil {
		return Descriptor{}, err
	}
	m.Config = l.add(MediaTypeConfig, cb)
	mb, err := marshal(m)
	if err != nil {
		return Descriptor{}, err
	}
	d := l.add(MediaTypeManifest, mb)
	p := img.Platform
	d.Platform = &p
	return d, nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("failed to encode %T: %w", v, err)
	}
	return b, nil
}

// ErrInvalidName is returned for an image name without a tag.
var ErrInvalidName = errors.New("invalid image name")

// SplitName splits "REPO:TAG" into its repository and tag.
func SplitName(name string) (repo, tag string, err error) {
	i := strings.LastIndexByte(name, ':')
	if i <= strings.LastIndexByte(name, '/') || i == len(name)-1 || strings.Contains(name, "@") {
		return "", "", fmt.Errorf("%w %q: want REPOSITORY:TAG", ErrInvalidName, name)
	}
	return name[:i], name[i+1:], nil
}

// Write writes the layout to dir (created; an existing layout there is
// replaced): oci-layout, index.json with one entry per name, blobs/sha256/.
func (l *Layout) Write(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("failed to remove old layout %s: %w", dir, err)
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return fmt.Errorf("failed to create layout %s: %w", dir, err)
	}
	for d, b := range l.Blobs {
		if err := os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(d, "sha256:")), b, 0o644); err != nil {
			return fmt.Errorf("failed to write blob %s: %w", d, err)
		}
	}
	idx := Index{SchemaVersion: 2, MediaType: MediaTypeIndex}
	for _, n := range l.Names {
		_, tag, _ := SplitName(n)
		d := l.Root
		d.Annotations = map[string]string{AnnotationRefName: tag, AnnotationImageName: n}
		idx.Manifests = append(idx.Manifests, d)
	}
	ib, err := marshal(idx)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		return fmt.Errorf("failed to write index.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return fmt.Errorf("failed to write oci-layout: %w", err)
	}
	return nil
}
