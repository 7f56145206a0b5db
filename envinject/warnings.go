package envinject

import (
	"maps"
	"slices"
	"strings"
)

// Admission warnings about a pod's annotations: kubectl prints them, and no
// pod is refused for one. An annotation under AnnotationPrefix that the
// webhook does not read is named, with the nearest known name when one is
// close (a misspelling); the seed product's consul-template and
// object-mutation annotations say what to use instead.

// replacedAnnotations are seed-product annotations this webhook does not
// implement, with what to use instead.
var replacedAnnotations = map[string]string{
	"vault-ct-configmap":                "consul-template is not supported: put the templates in a Vault Agent config (" + AnnotationPrefix + AnnVaultAgentConfigMap + ")",
	"vault-ct-image":                    "consul-template is not supported: the Vault Agent image is " + AnnotationPrefix + AnnVaultImage,
	"vault-ct-image-pull-policy":        "consul-template is not supported: use " + AnnotationPrefix + AnnVaultImagePullPolicy + " for the Vault Agent",
	"vault-ct-once":                     "consul-template is not supported: use " + AnnotationPrefix + AnnVaultAgentOnce + " for a Vault Agent that renders once",
	"vault-ct-cpu":                      "consul-template is not supported: use " + AnnotationPrefix + AnnAgentCPULimit + " for the Vault Agent",
	"vault-ct-memory":                   "consul-template is not supported: use " + AnnotationPrefix + AnnAgentMemoryLimit + " for the Vault Agent",
	"vault-ct-share-process-namespace":  "consul-template is not supported: use " + AnnotationPrefix + AnnAgentShareProcessNS + " for the Vault Agent",
	"vault-ct-inject-in-initcontainers": "consul-template is not supported: a Vault Agent in init form (" + AnnotationPrefix + AnnVaultAgentOnce + ") runs before every init container",
	"vault-agent-cpu":                   "renamed: use " + AnnotationPrefix + AnnAgentCPULimit,
	"vault-agent-memory":                "renamed: use " + AnnotationPrefix + AnnAgentMemoryLimit,
	"mutate-configmap":                  "this webhook mutates pods only: reference Vault from the pod's env (vault:PATH#KEY) or render files with " + AnnotationPrefix + AnnVaultAgentConfigMap,
	"mutate-secret":                     "this webhook mutates pods only: reference Vault from the pod's env (vault:PATH#KEY) or render files with " + AnnotationPrefix + AnnVaultAgentConfigMap,
	"inline-mutation":                   "this webhook mutates pods only: inline ${vault:PATH#KEY} references work in a pod's env values",
}

// maxAnnotationWarnings bounds the warnings about one pod's annotations
// (the apiserver truncates long warning lists anyway).
const maxAnnotationWarnings = 16

// annotationWarnings returns the warnings about a pod's annotations, in
// annotation-name order.
func annotationWarnings(annotations map[string]string, cfg *Config) []string {
	var names []string
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	var out []string
	for _, full := range names {
		if len(out) == maxAnnotationWarnings {
			break
		}
		name := full[len(AnnotationPrefix):]
		switch {
		case name == "mutated" || isKnownAnnotation(name):
			if name == AnnVaultSkipVerify && !cfg.AllowSkipVerify {
				out = append(out, "annotation "+full+" is ignored: the webhook's operator has not allowed pods to turn off Vault TLS verification (VAULT_ALLOW_OBJECT_SKIP_VERIFY); the webhook-wide VAULT_SKIP_VERIFY applies")
			}
		case replacedAnnotations[name] != "":
			out = append(out, "annotation "+full+" is ignored: "+replacedAnnotations[name])
		default:
			w := "annotation " + quoteShort(full) + " is not known to this webhook and is ignored"
			if near := nearestAnnotation(name); near != "" {
				w += "; did you mean " + AnnotationPrefix + near + "?"
			}
			out = append(out, w)
		}
	}
	return out
}

func isKnownAnnotation(name string) bool {
	return slices.ContainsFunc(Annotations, func(a struct{ Name, Default, DefaultEnv string }) bool { return a.Name == name })
}

// nearestAnnotation returns the known annotation within a small edit
// distance of name (at most 2, and less than a third of its length), or "".
func nearestAnnotation(name string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestD := "", 3
	for _, a := range Annotations {
		if d := editDistance(name, a.Name); d < bestD && 3*d < len(a.Name) {
			best, bestD = a.Name, d
		}
	}
	for _, k := range slices.Sorted(maps.Keys(replacedAnnotations)) {
		if d := editDistance(name, k); d < bestD && 3*d < len(k) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short ASCII-ish strings
// (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
