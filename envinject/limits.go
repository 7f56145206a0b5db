package envinject

import "fmt"

// MaxLookupsPerReview bounds the Secret and ConfigMap reads and image
// lookups one review may cause (each object or image counted once; the
// pod's imagePullSecrets and ServiceAccount count once, with its first
// image lookup). A pod needing more is refused: without the bound, one
// review naming thousands of objects or images made the webhook issue as
// many apiserver or registry requests.
const MaxLookupsPerReview = 100

// charge counts n more lookups of this review.
func (l *lookupCache) charge(n int) error {
	l.lookups += n
	if l.lookups > MaxLookupsPerReview {
		return &Denied{Reason: RefusedTooManyLookups, Message: fmt.Sprintf(
			"the pod needs more than %d Secret, ConfigMap and image lookups (imagePullSecrets included), more than the webhook makes for one pod; set the containers' command explicitly or use fewer references",
			MaxLookupsPerReview)}
	}
	return nil
}

// CheckNamespace refuses a review whose request namespace is missing or
// differs from the one its pod names: the webhook reads Secrets and
// ConfigMaps in the request's namespace, and a caller that is not the
// apiserver must not choose it apart from the pod.
func CheckNamespace(requestNS, podNS string) *Denied {
	switch {
	case requestNS == "":
		return &Denied{Reason: RefusedBadNamespace, Message: "the review's request names no namespace"}
	case podNS != "" && podNS != requestNS:
		return &Denied{Reason: RefusedBadNamespace, Message: fmt.Sprintf("the review's request namespace %q differs from the pod's %q", requestNS, podNS)}
	}
	return nil
}
