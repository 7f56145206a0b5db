// Package admission serves the injection decision (package envinject) as a
// Kubernetes mutating admission webhook: AdmissionReview admission.k8s.io/v1
// over net/http, written by hand.
//
// The [Handler] accepts POST only, application/json only, at most
// [DefaultMaxBodyBytes] (413 beyond), only an admission.k8s.io/v1
// AdmissionReview with a request and a uid; once a review can be written it
// answers HTTP 200 with the real outcome in response.status.code, echoes the
// uid, recovers panics, and bounds the decision by ?timeout= (at most
// [MaxReviewTimeout]) less a margin ([LookupBudget]), so that a denial
// caused by a slow lookup reaches the apiserver before it stops waiting.
// With a [Budget] it bounds reviews and body bytes in flight (503 when none
// is free within [BudgetWait], 408 for a body still arriving after
// [BodyReadTimeout]). Only the fields of the Pod the decision reads are
// decoded (package reviewjson; encoding/json for anything unusual). Its
// JSON logs carry uid, namespace, pod name, operation and outcome, never the
// object or env values; a review that is allowed logs at debug only (the
// metrics count it), refusals and errors at info and above.
//
// [Metrics] is a hand-written Prometheus text exposition: reviews by outcome
// and reason, review duration histogram, lookups by kind and result, and
// in-flight reviews.
package admission
