package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Manifest media types this client understands.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
)

// acceptManifests is the Accept header of manifest requests.
var acceptManifests = strings.Join([]string{
	MediaTypeOCIIndex, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeDockerManifest,
}, ", ")

// Platform names an OS/architecture pair, as in an OCI index.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// normalizedVariant fills in the implied variant of arm architectures, as
// containerd's platform matcher does (arm64 means arm64/v8, arm means arm/v7).
func (p Platform) normalizedVariant() string {
	switch {
	case p.Variant != "":
		return p.Variant
	case p.Architecture == "arm64":
		return "v8"
	case p.Architecture == "arm":
		return "v7"
	}
	return ""
}

type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *Platform `json:"platform,omitempty"`
}

// manifestDoc holds the fields of all four manifest kinds.
type manifestDoc struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config"`
	Manifests     []descriptor `json:"manifests"`
}

// isIndex reports whether the manifest is a manifest list / OCI index.
func (m *manifestDoc) isIndex(contentType string) bool {
	switch m.MediaType {
	case MediaTypeDockerManifestList, MediaTypeOCIIndex:
		return true
	case MediaTypeDockerManifest, MediaTypeOCIManifest:
		return false
	}
	switch contentType {
	case MediaTypeDockerManifestList, MediaTypeOCIIndex:
		return true
	}
	return m.Config == nil && m.Manifests != nil
}

// parseManifest decodes a manifest body; contentType is the response's
// Content-Type (without parameters).
func parseManifest(body []byte, contentType string) (*manifestDoc, bool, error) {
	var m manifestDoc
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, false, fmt.Errorf("failed to parse manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, false, fmt.Errorf("failed to parse manifest: unsupported schemaVersion %d (media type %q)", m.SchemaVersion, contentType)
	}
	index := m.isIndex(contentType)
	if !index && (m.Config == nil || m.Config.Digest == "") {
		return nil, false, fmt.Errorf("failed to parse manifest: no config descriptor")
	}
	return &m, index, nil
}

// runnablePlatforms lists the index entries that describe images to run
// (attestation manifests carry platform unknown/unknown and are skipped).
func runnablePlatforms(m *manifestDoc) []descriptor {
	var out []descriptor
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" || d.Platform.Architecture == "unknown" {
			continue
		}
		out = append(out, d)
	}
	return out
}

// choosePlatform picks the index entry for want: OS and architecture must
// match; a variant in want must match (after normalisation); without one,
// the entry with the architecture's default variant is preferred, then the
// first listed.
func choosePlatform(entries []descriptor, want Platform) (descriptor, bool) {
	var fallback *descriptor
	for i := range entries {
		p := entries[i].Platform
		if p == nil || p.OS != want.OS || p.Architecture != want.Architecture {
			continue
		}
		if p.normalizedVariant() == want.normalizedVariant() {
			return entries[i], true
		}
		if want.Variant == "" && fallback == nil {
			fallback = &entries[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return descriptor{}, false
}

// sameCommand reports whether two configs start the same process.
func sameCommand(a, b *ImageConfig) bool {
	return slices.Equal(a.Entrypoint, b.Entrypoint) && slices.Equal(a.Cmd, b.Cmd)
}
