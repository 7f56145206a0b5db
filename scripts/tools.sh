#!/usr/bin/env bash
# Builds (once) and prints the path of the third-party tools the sandbox and the
# tests need. Everything is built from the Go module proxy or taken from Debian
# packages, and cached outside the repo keyed by version, so a warm machine
# pays nothing and a cold one pays once.
#
#   scripts/tools.sh path NAME     print the path of tool NAME, building it if needed
#   scripts/tools.sh all           build every tool
#   scripts/tools.sh apt           install the Debian packages the sandbox uses
#
# NAME is one of: kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl
# containerd containerd-shim-runc-v2 ctr vault helm promtool
set -euo pipefail

KUBE_VERSION=v1.37.2
KUBE_STAGING_VERSION=v0.37.2
VAULT_VERSION=v1.21.1
HELM_VERSION=v3.22.0
CONTAINERD_VERSION=v2.4.2
KUBE_CMDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${VSW_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-secrets-webhook/tools}
mkdir -p "$cache"

log() { printf 'tools: %s\n' "$*" >&2; }

# runc, the CNI plugins and iptables are the node's; busybox-static, buildah and
# skopeo build and move images; gcc builds the static pause binary; mariadb-server
# is the database of the daemon-mode e2e test (it starts its own mariadbd).
APT_PACKAGES=(etcd-server etcd-client docker-registry apache2-utils redis-server jq openssl curl ca-certificates util-linux
	runc containernetworking-plugins busybox-static buildah skopeo gcc libc6-dev iproute2 iptables
	mariadb-server mariadb-client)

apt_install() {
	local missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# --no-install-recommends keeps services we do not want off the machine;
	# policy-rc.d stops Debian from starting the daemons it installs: the
	# sandbox starts its own, on its own ports, with its own data dirs.
	local prc=/usr/sbin/policy-rc.d created=0
	if [ ! -e "$prc" ]; then printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; created=1; fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	[ $created -eq 1 ] && rm -f "$prc"
	return 0
}

# build_kube builds kube-apiserver, kube-controller-manager and kubectl from a
# wrapper module that requires k8s.io/kubernetes and replaces each staging
# module it requires with the published k8s.io/X at the matching v0 version.
build_kube() {
	local out=$cache/kube-$KUBE_VERSION
	local c missing=0
	for c in $KUBE_CMDS; do [ -x "$out/bin/$c" ] || missing=1; done
	[ $missing -eq 0 ] && return 0
	log "building $KUBE_CMDS $KUBE_VERSION (cold: about 10 minutes)"
	local src=$out/src
	rm -rf "$src"; mkdir -p "$src" "$out/bin"
	cp "$here/tools/kube/tools.go" "$src/"
	if [ -f "$here/tools/kube/go.sum" ]; then
		cp "$here/tools/kube/go.mod" "$here/tools/kube/go.sum" "$src/"
	else
		local gomod
		gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
		{
			echo "module vsw.local/tools/kube"
			echo
			echo "go 1.26.0"
			echo
			echo "require k8s.io/kubernetes $KUBE_VERSION"
			echo
			# staging modules are required at v0.0.0 and replaced with ./staging/... upstream
			awk '$1 ~ /^k8s.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u | while read -r m; do
				echo "replace $m => $m $KUBE_STAGING_VERSION"
			done
		} >"$src/go.mod"
		(cd "$src" && GOFLAGS=-mod=mod go mod tidy >&2)
	fi
	local pkg=k8s.io/component-base/version
	local ld="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37 -X $pkg.gitTreeState=clean"
	# each binary appears under its final name only once complete
	(cd "$src" && for c in $KUBE_CMDS; do
		[ -x "$out/bin/$c" ] && continue
		local t0=$SECONDS
		log "  building $c"
		GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$out/bin/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
		mv -f "$out/bin/$c.tmp" "$out/bin/$c"
		log "  built $c in $((SECONDS - t0)) s"
	done)
}

# build_vault builds the Vault server from a wrapper module pinned to the
# published api/sdk versions its own go.mod asks for.
build_vault() {
	local out=$cache/vault-$VAULT_VERSION
	if [ -x "$out/bin/vault" ]; then return 0; fi
	log "building vault $VAULT_VERSION (cold: several minutes)"
	local src=$out/src
	rm -rf "$src"; mkdir -p "$src" "$out/bin"
	cp "$here/tools/vault/tools.go" "$src/"
	local dir
	dir=$(go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	# Vault's own go.sum covers its plugin modules; without it checksum lookups fail.
	cp "$dir/go.sum" "$src/go.sum"
	chmod u+w "$src/go.sum"
	cat >"$src/go.mod" <<MOD
module vsw.local/tools/vault

go 1.26.0

require (
	github.com/hashicorp/vault $VAULT_VERSION
	github.com/hashicorp/vault/api v1.22.0
	github.com/hashicorp/vault/sdk v0.20.0
)

replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
	(cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/bin/vault.tmp" github.com/hashicorp/vault >&2)
	mv -f "$out/bin/vault.tmp" "$out/bin/vault"
}

# build_containerd builds containerd 2.x (image volumes need >= 2.1; Debian has
# 1.6) and its runc shim, static, from the Go module proxy.
build_containerd() {
	local out=$cache/containerd-$CONTAINERD_VERSION
	if [ -x "$out/bin/containerd" ] && [ -x "$out/bin/containerd-shim-runc-v2" ] && [ -x "$out/bin/ctr" ]; then return 0; fi
	log "building containerd $CONTAINERD_VERSION (cold: about 4 minutes)"
	local t0=$SECONDS
	mkdir -p "$out/bin"
	GOBIN=$out/bin CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" >&2
	log "built containerd in $((SECONDS - t0)) s"
}

build_helm() {
	local out=$cache/helm-$HELM_VERSION
	if [ -x "$out/bin/helm" ]; then return 0; fi
	log "building helm $HELM_VERSION"
	mkdir -p "$out/bin"
	GOBIN=$out/bin CGO_ENABLED=0 go install -trimpath \
		-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
		"helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
}

# promtool ships inside Debian's prometheus package; extract just that binary
# rather than installing the server.
build_promtool() {
	local out=$cache/promtool
	if [ -x "$out/bin/promtool" ]; then return 0; fi
	log "extracting promtool from Debian's prometheus package"
	mkdir -p "$out/bin" "$out/deb"
	(cd "$out/deb" && { apt-get download prometheus >&2 2>/dev/null || { apt-get update -qq >&2 && apt-get download prometheus >&2; }; })
	dpkg-deb -x "$out"/deb/prometheus_*.deb "$out/x"
	cp "$out/x/usr/bin/promtool" "$out/bin/promtool"
	rm -rf "$out/x" "$out/deb"
}

# with_lock runs a build under a per-tool lock, so concurrent callers (tests,
# several sandboxes, several developers' shells) wait for one build instead of
# deleting each other's work trees.
with_lock() {
	local name=$1; shift
	(
		flock 9
		"$@"
	) 9>"$cache/.lock-$name"
}

tool_path() {
	case $1 in
	kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kubectl) with_lock kube build_kube; echo "$cache/kube-$KUBE_VERSION/bin/$1" ;;
	vault) with_lock vault build_vault; echo "$cache/vault-$VAULT_VERSION/bin/vault" ;;
	helm) with_lock helm build_helm; echo "$cache/helm-$HELM_VERSION/bin/helm" ;;
	promtool) with_lock promtool build_promtool; echo "$cache/promtool/bin/promtool" ;;
	containerd | containerd-shim-runc-v2 | ctr) with_lock containerd build_containerd; echo "$cache/containerd-$CONTAINERD_VERSION/bin/$1" ;;
	*) log "unknown tool $1"; return 2 ;;
	esac
}

case ${1:-} in
path) tool_path "$2" ;;
apt) with_lock apt apt_install ;;
all)
	t_all=$SECONDS
	for step in "apt apt_install" "kube build_kube" "containerd build_containerd" "vault build_vault" "promtool build_promtool" "helm build_helm"; do
		t0=$SECONDS
		with_lock $step
		[ $((SECONDS - t0)) -gt 1 ] && log "${step%% *}: done in $((SECONDS - t0)) s"
	done
	log "all tools ready ($((SECONDS - t_all)) s)"
	;;
*) echo "usage: $0 path NAME | apt | all" >&2; exit 2 ;;
esac
