# syntax=docker/dockerfile:1
# Two images from one file, both static Go binaries on distroless (no shell,
# no package manager, uid 65532):
#
#   docker build --target vault-secrets-webhook --build-arg VERSION=$(git describe --always --dirty) -t IMAGE .
#   docker build --target vault-env             --build-arg VERSION=$(git describe --always --dirty) -t IMAGE .
#
# Multi-platform: add --platform linux/amd64,linux/arm64 (buildx); the Go
# toolchain cross-compiles, nothing is emulated. `make image` does not use this
# file (scripts/image writes the images with no container engine); the test
# e2e/dockerfile_test.go builds it, unchanged, with buildah so it keeps working,
# and checks that its binaries are bit-identical to scripts/image's.
#
# Base images are pinned by digest (multi-arch index digests); bump them
# deliberately. These two appear with these very tags in many independent
# public Dockerfiles, but could not be verified against the registries from
# the machine this was written on (no registry access): check them with
#   crane digest golang:1.26.5
#   crane digest gcr.io/distroless/static-debian12:nonroot
ARG GO_IMAGE=golang:1.26.5@sha256:b004b9c35c68c8bcf5420e5164423073a1de5f0c7d4b9121784780ceb7f9961f
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS source
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# The same flags as scripts/reproducible: the binary depends only on the
# source, the Go version and VERSION (never the clock, the path or the host).
ENV CGO_ENABLED=0 GOFLAGS=-trimpath

# ARGs are per stage: each build stage declares the ones it uses.
FROM source AS build-vault-env
ARG VERSION=devel
ARG TARGETOS
ARG TARGETARCH
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -buildvcs=false \
	-ldflags="-s -w -buildid= -X main.version=${VERSION}" \
	-o /out/vault-env ./cmd/vault-env

FROM source AS build-webhook
ARG VERSION=devel
ARG TARGETOS
ARG TARGETARCH
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -buildvcs=false \
	-ldflags="-s -w -buildid= -X main.version=${VERSION}" \
	-o /out/vault-secrets-webhook ./cmd/vault-secrets-webhook

# vault-env: the webhook's copy-vault-env init container runs
# `/usr/local/bin/vault-env copy /vault/` (no shell needed), and the wrapped
# container then runs the copy from /vault/.
FROM ${RUNTIME_IMAGE} AS vault-env
COPY --from=build-vault-env /out/vault-env /usr/local/bin/vault-env
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/vault-env"]

# The webhook (last stage: the default target).
FROM ${RUNTIME_IMAGE} AS vault-secrets-webhook
COPY --from=build-webhook /out/vault-secrets-webhook /usr/local/bin/vault-secrets-webhook
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/vault-secrets-webhook"]
