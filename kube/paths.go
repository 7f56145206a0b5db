package kube

import (
	"net/url"
	"strings"
)

// CorePath builds the path of a core (/api/v1) resource. namespace may be
// empty for cluster-scoped resources; name may be empty for a collection;
// subresources follow name. Every segment is escaped with url.PathEscape.
//
//	CorePath("default", "secrets", "db")            // /api/v1/namespaces/default/secrets/db
//	CorePath("ns", "serviceaccounts", "sa", "token") // .../serviceaccounts/sa/token
func CorePath(namespace, resource, name string, subresources ...string) string {
	return buildPath("/api/v1", namespace, resource, name, subresources)
}

// GroupPath builds the path of a resource in a named API group, e.g.
// GroupPath("admissionregistration.k8s.io", "v1", "",
// "mutatingwebhookconfigurations", "vault-secrets-webhook").
func GroupPath(group, version, namespace, resource, name string, subresources ...string) string {
	return buildPath("/apis/"+url.PathEscape(group)+"/"+url.PathEscape(version), namespace, resource, name, subresources)
}

func buildPath(prefix, namespace, resource, name string, subresources []string) string {
	var b strings.Builder
	b.WriteString(prefix)
	if namespace != "" {
		b.WriteString("/namespaces/")
		b.WriteString(url.PathEscape(namespace))
	}
	b.WriteString("/")
	b.WriteString(url.PathEscape(resource))
	if name != "" {
		b.WriteString("/")
		b.WriteString(url.PathEscape(name))
		for _, s := range subresources {
			b.WriteString("/")
			b.WriteString(url.PathEscape(s))
		}
	}
	return b.String()
}
