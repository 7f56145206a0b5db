// Package kube is a small REST client for the Kubernetes API that speaks
// k8s.io/api types as JSON over net/http. It is deliberately not client-go:
// the webhook needs a handful of GETs, a TokenRequest and a PATCH, and its
// users audit the dependency tree.
//
// # Configuration
//
// A [Config] names the API server URL, the CA that signed its serving
// certificate, and a file holding a bearer token. [InClusterConfig] builds one
// the way every in-cluster Kubernetes client does:
//
//   - KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT: the API server's
//     address (the kubelet sets both in every container); the server URL is
//     https://HOST:PORT (IPv6 hosts are bracketed).
//   - /var/run/secrets/kubernetes.io/serviceaccount/token: the pod's
//     ServiceAccount token (the bearer token).
//   - /var/run/secrets/kubernetes.io/serviceaccount/ca.crt: the cluster CA.
//
// No other environment variable is read. Proxy variables (HTTPS_PROXY, ...)
// are ignored: the client always dials the API server directly.
//
// # Behaviour
//
//   - TLS 1.2 or newer, verified against CAFile (the system roots when CAFile
//     is empty). A plain http:// server is accepted only without a token, so a
//     bearer token never crosses the wire in clear text.
//   - The token file is cached in memory and re-read when its modification
//     time or size changes, at most once a second, and at least once a
//     minute; a 401 answer drops the cache so the next request re-reads it.
//     Projected ServiceAccount tokens are rotated by the kubelet, so a
//     long-running process must not keep the first token forever.
//   - Every request has a deadline: Config.Timeout (default 30s) bounds the
//     whole exchange, on top of the caller's context.
//   - Response bodies are read through a 16 MiB limit and always drained and
//     closed, so connections are reused and a hostile server cannot exhaust
//     memory.
//   - A non-2xx answer becomes a *[StatusError] decoded from the
//     metav1.Status body; [IsNotFound], [IsAlreadyExists], [IsConflict],
//     [IsForbidden] and [IsUnauthorized] classify it. Error texts never carry
//     the token or response bodies other than the Status message.
//   - Names in paths are escaped with url.PathEscape ([CorePath],
//     [GroupPath]).
package kube
