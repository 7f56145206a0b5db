// Package envinject decides how a Pod is mutated so that vault-env resolves
// its Vault references, and writes that decision as an RFC 6902 JSONPatch.
//
// It is pure: no HTTP, no files, no sockets, no logging. Secrets and
// ConfigMaps ([Lookups]) and image configurations ([ImageConfigs]) come
// through interfaces that the webhook's main wires to the kube and registry
// clients (tests use maps); TestImports keeps it so.
//
// [Mutator.Mutate] returns a [Result] with a patch built by hand ([Patch]:
// add only, RFC 6901 escaping, the first add to a missing array
// creates it and later ones append with "/-"; encode.go writes it byte for
// byte as encoding/json would), or a [Denied] refusal whose message the user
// sees, or a [LookupError]. A pod needing more than [MaxLookupsPerReview]
// lookups is refused (limits.go), as is a review whose request namespace is
// missing or differs from the pod's ([CheckNamespace]).
//
// Pod annotations (all under [AnnotationPrefix]) and the webhook environment
// variables that set their webhook-wide defaults are listed in [Annotations]
// and documented in README.md, section "Annotations". An annotation under the
// prefix that is not among them, or one of the seed product's that this
// webhook replaces (consul-template, object mutation), gets an admission
// warning, never a refusal (warnings.go). The Vault Agent (agent.go),
// vault-role templating (role.go), vault-addr checks (vaultaddr.go) and
// vault-env as an image volume (imagevolume.go) have their own files. The
// `vault:` reference grammar is the leaf package envinject/ref, which
// vault-env's runtime imports too. This package reads no environment
// variables itself.
package envinject
