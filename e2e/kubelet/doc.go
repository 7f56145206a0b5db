// Package kubelet is the kubelet stand-in of the end-to-end tests: this
// machine has no kubelet and no container engine, so it reads a Pod stored in
// the API server and runs its containers as local processes, the way a
// kubelet would. The command is e2e/cmd/kubelet-standin; [Run] is the whole
// behaviour.
//
// # What it does
//
// Init containers run in order and must exit 0; native sidecars (init
// containers with restartPolicy Always) are started in the background and
// stopped (SIGTERM, SIGKILL after 5s) at the end. Then the chosen regular
// container runs (default: the first); other regular containers are not
// started. The container's stdout and stderr are passed through; init and
// sidecar output goes to stderr, each line prefixed "[init NAME] " or
// "[sidecar NAME] ". The exit code is the container's (128+N when killed by
// signal N), or ExitTimeout/ExitError/ExitNoExec/ExitNoFile.
//
// Environment, as the kubelet builds it ([ContainerEnv]): the `kubernetes`
// Service variables (KUBERNETES_SERVICE_HOST/PORT..., pointing at the API
// server the stand-in uses), then envFrom (configMapRef/secretRef, prefix,
// optional; later sources win), then env in order (value with $(VAR)
// expansion against what came before; valueFrom secretKeyRef,
// configMapKeyRef with optional; fieldRef metadata.name, namespace, uid,
// labels, annotations (whole or ['key']), spec.nodeName,
// spec.serviceAccountName, status.podIP/hostIP = 127.0.0.1). The image
// contributes PATH, HOSTNAME (the pod name) and HOME. Nothing of the
// stand-in's own environment reaches the container. Command and args are
// $(VAR)-expanded ([Expand]: $$ escapes, unknown references stay).
//
// Images ([ClassifyImage], by the last element of the repository):
//
//   - vault-env: argv[0] becomes /usr/local/bin/vault-env, where the
//     vault-env binary given (--vault-env; default the sandbox's) is
//     bind-mounted over a tmpfs hiding the host's /usr/local/bin;
//   - testapp: likewise /usr/local/bin/testapp is the e2e/cmd/testapp
//     binary (--testapp), and also the image's ENTRYPOINT, so a container
//     with only args runs it; an argv[0] named testapp is rewritten to that
//     path, other programs (such as /vault/vault-env after the webhook's
//     mutation) run as given and can exec /usr/local/bin/testapp;
//   - alpine, busybox: argv runs with this machine's own tools, argv[0]
//     looked up in the container's PATH.
//
// Any other image is an error naming it; so is an empty command for any
// image but testapp (the stand-in does not know image entrypoints).
//
// # Volumes and the mount namespaces
//
// Run re-executes its own binary (so main or TestMain must call RunHelper
// when IsHelper) as a pod helper in a private mount namespace (rprivate; the
// host sees none of its mounts). The helper materialises each volume that a
// container it runs mounts, under a temporary directory removed at the end:
// emptyDir (mode 0777; medium Memory is a tmpfs, sizeLimit honoured);
// secret, configMap, downwardAPI and projected volumes (items, modes,
// optional; projected serviceAccountToken through the TokenRequest API,
// bound to the Pod, with its audience and expirationSeconds, so the
// ServiceAccount admission plugin's kube-api-access-* volume works) are
// files on a tmpfs; hostPath binds the host path. Each container then gets
// its own mount namespace, a copy of the pod's, from a second re-executed
// helper that bind-mounts the volumes at their mountPaths (subPath and
// readOnly honoured; parents first), chdirs to workingDir (default /), sets
// runAsUser/runAsGroup/supplementalGroups/fsGroup from the securityContext
// (refusing runAsNonRoot as root), and execs the container's argv. A mount
// below /run/secrets (or /var/run/secrets) first gets a tmpfs on
// /run/secrets, so the ServiceAccount mount point is created there.
//
// # Limits
//
//   - Root only. Mount points must exist on the host: missing ones are
//     created and stay behind as empty directories (or empty files for file
//     mounts), e.g. /run/secrets and /vault.
//   - No images, no registry pulls, no network or PID namespaces, no
//     resource limits, no probes, no restarts, no service links of the pod's
//     own namespace; resourceFieldRef, fileKeyRef and clusterTrustBundle
//     are errors. Volume files are written once (no atomic updates, no token
//     rotation). With fsGroup, volume files get that group and g+r.
//   - Containers of one run share the host's network and PID space; every
//     container is its own process group, killed when it ends, and dies
//     with the stand-in (parent-death signal).
package kubelet
