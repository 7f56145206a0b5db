package envinject

// RefusalReason says why a pod is refused (Denied.Reason; the metric label
// "reason").
type RefusalReason string

// The reasons a pod is refused.
const (
	RefusedInvalidAnnotation RefusalReason = "invalid_annotation" // an annotation (or webhook default) does not parse
	RefusedVaultAddr         RefusalReason = "vault_addr_refused" // vault-addr is not allowed (--allowed-vault-addrs)
	RefusedNoCommand         RefusalReason = "no_command"         // no command, and the image's cannot be read or is empty
	RefusedConflict          RefusalReason = "conflict"           // a name or path the webhook adds is taken
	RefusedTooManyLookups    RefusalReason = "too_many_lookups"   // more than MaxLookupsPerReview lookups
	RefusedBadNamespace      RefusalReason = "bad_namespace"      // the request's namespace is missing or not the pod's
	RefusedImageLookup       RefusalReason = "image_lookup"       // the registry refused the image lookup for a reason the user must fix
)
