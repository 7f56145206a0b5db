// Package registry is a small OCI distribution client: the webhook asks it,
// at admission time, for the ENTRYPOINT and CMD of a container image whose
// pod gives no command, so that it can wrap the original argv with vault-env.
//
// It speaks the distribution API (GET /v2/<name>/manifests/<ref> and
// /v2/<name>/blobs/<digest>) over net/http and nothing else:
//
//   - References: Docker Hub short names ("redis", "library/redis",
//     "docker.io/…", "index.docker.io/…" → registry-1.docker.io, "library/"),
//     other hosts with ports, tags, digests and tag+digest (the digest wins).
//   - Manifests: Docker schema 2, OCI image manifest, Docker manifest list and
//     OCI index. From an index the Request's Platform is chosen (PodPlatform
//     derives it from the pod's kubernetes.io/os and kubernetes.io/arch
//     constraints; empty fields come from Options.DefaultPlatform,
//     linux/amd64 by default); when the pod did not decide the architecture
//     and the index's platforms disagree on ENTRYPOINT/CMD,
//     ImageConfig.Warnings says so. Digests are verified.
//   - Auth: anonymous, basic, and the bearer token flow (WWW-Authenticate:
//     Bearer realm=…,service=…,scope=…). Credentials come from image pull
//     secrets (.dockerconfigjson and legacy .dockercfg) matched against the
//     image by registry host as the kubelet's keyring does (dockerconfig.go);
//     matching credentials are tried in order until one is accepted.
//   - TLS: system roots plus Options.CABundle; verification is skipped only
//     when Options.InsecureSkipVerify or Request.InsecureSkipVerify is set,
//     and never for credentials of a PullSecret with AlwaysVerifyTLS (the
//     operator's). Loopback hosts and Options.InsecureHosts may answer in
//     plain HTTP (the client falls back when the TLS handshake gets an HTTP
//     answer), as Docker treats 127.0.0.0/8.
//   - Request forgery guard: see guard.go.
//   - Cache: an LRU of 1024 configs keyed by the resolved reference,
//     platform, TLS mode and a keyed hash of the candidate credentials, so a
//     pod without a pull secret never gets a private image's config that
//     another pod's secret fetched. Tag lookups live 10 minutes, digest
//     lookups a day. Failures are not cached. Bearer tokens are cached until
//     shortly before they expire.
//   - Concurrency and time: concurrent lookups of one key share one set of
//     requests; every lookup ends within Options.Timeout (keep it below the
//     admission webhook timeout) or the caller's deadline.
//   - Errors are *Error (errors.go): they name the image and registry, never
//     credentials. Error() is for logs; Public() is for the pod's author.
//   - Metrics: Client.Snapshot.
//
// Resolve applies kubelet command/args semantics to a looked-up config.
//
// Environment: the built-in transports honour the standard proxy variables
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY (net/http.ProxyFromEnvironment;
// loopback hosts are never proxied). The package reads no other variable
// and defines no flags: the webhook maps its own onto Options.
package registry
