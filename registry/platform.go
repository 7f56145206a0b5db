package registry

import "slices"

// Node labels a pod can constrain its platform with.
const (
	LabelOS   = "kubernetes.io/os"
	LabelArch = "kubernetes.io/arch"
)

// PodPlatform returns the platform a pod is constrained to, given the values
// its nodeSelector and required node affinity allow for kubernetes.io/os and
// kubernetes.io/arch (the caller collects them; nil = unconstrained). A label
// is decided when exactly one distinct value is allowed. The result goes in
// Request.Platform: fields left empty are filled from the client's default,
// and a lookup whose architecture was not decided by the pod warns when the
// image's platforms disagree.
func PodPlatform(osValues, archValues []string) Platform {
	return Platform{OS: single(osValues), Architecture: single(archValues)}
}

func single(values []string) string {
	v := slices.Compact(slices.Sorted(slices.Values(values)))
	if len(v) == 1 {
		return v[0]
	}
	return ""
}

// complete fills the empty fields of p from def; decided reports whether
// the architecture came from p.
func (p Platform) complete(def Platform) (full Platform, decided bool) {
	decided = p.Architecture != ""
	if p.OS == "" {
		p.OS = def.OS
	}
	if p.Architecture == "" {
		p.Architecture, p.Variant = def.Architecture, def.Variant
	}
	return p, decided
}
