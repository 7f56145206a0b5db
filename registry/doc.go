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
//     image by registry host as the kubelet's keyring does: scheme and /v1/ or
//     /v2/ suffix ignored, "*" globs per host label, path prefixes, the most
//     specific key first, and "index.docker.io" credentials for Docker Hub
//     images. Matching credentials are tried in order until one is accepted.
//   - TLS: system roots plus Options.CABundle; verification is skipped only
//     when Options.InsecureSkipVerify or Request.InsecureSkipVerify is set,
//     and never for credentials of a PullSecret with AlwaysVerifyTLS (the
//     operator's). Loopback hosts and Options.InsecureHosts may answer in
//     plain HTTP (the client falls back when the TLS handshake gets an HTTP
//     answer), as Docker treats 127.0.0.0/8.
//   - Request forgery guard (guard.go): every connection is checked after
//     name resolution (cloud metadata and link-local addresses refused,
//     loopback too but for the image's own registry address, unless the
//     host is in Options.InsecureHosts); a token realm must be https unless
//     listed; credentials go only to a realm on the registry's own domain;
//     no redirect from https to http; only the exact "token" and
//     "access_token" fields of a token answer are read.
//   - Cache: an LRU (Options.CacheSize) keyed by the resolved reference,
//     platform, TLS mode and a keyed hash of the candidate credentials, so a
//     pod without a pull secret never gets a private image's config that
//     another pod's secret fetched. Tag lookups live Options.TTL, digest
//     lookups Options.DigestTTL. Failures are not cached. Bearer tokens are
//     cached until shortly before they expire.
//   - Concurrency and time: concurrent lookups of one key share one set of
//     requests; every lookup ends within Options.Timeout (keep it below the
//     admission webhook timeout) or the caller's deadline.
//   - Errors are *Error: they name the image and registry, never credentials,
//     and match ErrNotFound, ErrUnauthorized, ErrTimeout, ErrUnavailable,
//     ErrNoPlatform, ErrInvalid or ErrRefused with errors.Is. Error() is for
//     logs; Public() is for the pod's author and holds nothing a server
//     sent (no status code, no body).
//   - Metrics: Client.Snapshot (lookups by result, cache hits/misses,
//     coalesced lookups, cache size, a duration histogram) and an optional
//     Options.Metrics sink.
//
// Resolve applies kubelet command/args semantics to a looked-up config.
//
// Environment: the built-in transports honour the standard proxy variables
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY (net/http.ProxyFromEnvironment;
// loopback hosts are never proxied); Options.Transport replaces them. The
// package reads no other environment variable and defines no flags: the
// webhook maps its own flags (CA bundle, REGISTRY_SKIP_VERIFY, insecure
// hosts, default platform, timeouts) onto Options.
package registry
