// Package kube is a small REST client for the Kubernetes API that speaks
// k8s.io/api types as JSON over net/http. It is deliberately not client-go:
// the webhook needs a handful of GETs, a TokenRequest and a PATCH, and its
// users audit the dependency tree.
//
// [InClusterConfig] reads KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT and the ServiceAccount token and CA under
// [ServiceAccountDir], as every in-cluster client does; no other
// environment variable is read, and proxy variables are ignored (the client
// always dials the API server directly).
//
// Behaviour: TLS 1.2 or newer; a plain http:// server only without a token,
// so a bearer token never crosses the wire in clear text. The token file is
// re-read when it changes (token.go), since the kubelet rotates projected
// tokens. Every request is bounded by Config.Timeout and by a 16 MiB
// response limit. A non-2xx answer is a *[StatusError]; [IsNotFound] and
// friends classify it. Error texts never carry the token or response bodies
// other than the Status message.
package kube
