// Package admission decides how a Pod is mutated so that vault-env resolves
// its Vault references, and serves that decision as a Kubernetes mutating
// admission webhook (AdmissionReview admission.k8s.io/v1 over net/http).
//
// The decision ([Mutator.Mutate]) knows no HTTP and performs no I/O of its
// own: Secrets, ConfigMaps ([Lookups]) and image configurations
// ([ImageConfigs]) come through interfaces the webhook's main wires to the
// kube and registry clients. It returns an RFC 6902 patch built by hand
// ([Patch]: add and replace only, RFC 6901 escaping, the first add to a
// missing array creates it and later ones append with "/-"), or a [Denied]
// refusal whose message the user sees, or a [LookupError].
//
// The transport ([Handler]) accepts POST only, application/json only, at
// most [DefaultMaxBodyBytes] (413 beyond), only an admission.k8s.io/v1
// AdmissionReview with a request and a uid; once a review can be written it
// answers HTTP 200 with the real outcome in response.status.code, echoes the
// uid, recovers panics, and bounds the decision by ?timeout= (at most
// [MaxReviewTimeout]) less a margin ([LookupBudget]), so that a denial
// caused by a slow lookup reaches the apiserver before it stops waiting.
// With a [Budget] it bounds reviews and body bytes in flight (503 when
// none is free within [BudgetWait], 408 for a body still arriving after
// [BodyReadTimeout]). A review whose request namespace is missing or
// differs from the pod's is refused, and so is a pod needing more than
// [MaxLookupsPerReview] lookups (limits.go). Its JSON logs carry uid, namespace, pod name,
// operation and outcome, never the object or env values; a review that is
// allowed logs at debug only (the metrics count it), refusals and errors at
// info and above. Only the fields of the Pod the mutation reads are decoded
// (package reviewjson).
//
// [Metrics] is a hand-written Prometheus text exposition: reviews by outcome
// and reason, review duration histogram, lookups by kind and result, and
// in-flight reviews.
//
// Pod annotations (all under [AnnotationPrefix]) and the webhook
// environment variables that set their webhook-wide defaults are listed in
// [Annotations] and documented in README.md, section "Annotations". An
// annotation under the prefix that is not among them, or one of the seed
// product's that this webhook replaces (consul-template, object mutation),
// gets an admission warning, never a refusal (warnings.go). The Vault Agent
// (agent.go), vault-role templating (role.go) and vault-env as an image
// volume (imagevolume.go) have their own files. This package reads no
// environment variables itself.
package admission
