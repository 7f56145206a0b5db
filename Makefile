# Every target that needs tools installs or builds them itself (scripts/tools.sh,
# cached under ~/.cache/vault-secrets-webhook/tools). `make help` lists targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The same flags as scripts/reproducible and the Dockerfile; the version comes
# from git, never from the clock.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
GOBUILD := CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid= -X main.version=$(VERSION)'
# Images (scripts/image): OCI layouts under IMAGE_DIR, no container engine.
IMAGE_REPO ?= ghcr.io/vault-secrets-webhook
IMAGE_TAG ?= latest
IMAGE_DIR ?= bin/images
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64

# required runs a script that `make test` cannot do without: a missing script,
# or one that lost its exec bit, fails the target.
define required
	@if [ -x scripts/$(1) ]; then scripts/$(1) $(2); else echo "make: scripts/$(1) is missing or not executable" >&2; exit 1; fi
endef

# optional runs an optional script, or says plainly that it does not exist yet.
define optional
	@if [ -x scripts/$(1) ]; then scripts/$(1) $(2); else echo "make: scripts/$(1) does not exist yet" >&2; exit 2; fi
endef

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/vault-secrets-webhook and bin/vault-env (static, reproducible flags)
	@mkdir -p bin
	$(GOBUILD) -o bin/vault-secrets-webhook ./cmd/vault-secrets-webhook
	$(GOBUILD) -o bin/vault-env ./cmd/vault-env

.PHONY: tools
tools: ## install the Debian packages and build the sandbox tools (cached; a no-op when warm)
	scripts/tools.sh all

.PHONY: sandbox-up
sandbox-up: ## start the local sandbox in .sandbox/ (etcd, kube-apiserver, controller-manager, Vault, registry, webhook)
	scripts/sandbox up

.PHONY: sandbox-down
sandbox-down: ## stop the local sandbox and remove .sandbox/
	scripts/sandbox down

.PHONY: demo
demo: ## replay the Bank-Vaults walkthrough end to end in the local sandbox (left running)
	scripts/demo

.PHONY: unit
unit: ## go vet, then go test -race ./... without a sandbox (integration tests skip)
	go vet ./...
	env -u VSW_SANDBOX -u VSW_E2E_REQUIRED go test -race ./...

.PHONY: test
test: ## everything CI runs: tools, vet, all tests (race) against a FRESH sandbox, reproducibility, deps
	scripts/tools.sh all
	go vet ./...
	VSW_E2E_REQUIRED=1 scripts/sandbox with-fresh go test -race -count=1 -timeout 25m ./...
	$(call required,reproducible)
	$(call required,deps)

.PHONY: e2e
e2e: ## the end-to-end tests (./e2e/...) against the local sandbox in .sandbox/ (started if needed)
	scripts/sandbox up
	VSW_SANDBOX=$(CURDIR)/.sandbox VSW_E2E_REQUIRED=1 go test -race -count=1 -timeout 20m ./e2e/...

.PHONY: bench
bench: ## benchmarks (scripts/bench)
	$(call optional,bench)

.PHONY: fuzz
fuzz: ## run the fuzz targets for a while each (scripts/fuzz)
	$(call optional,fuzz)

.PHONY: soak
soak: ## long-running load against the sandbox (scripts/soak)
	$(call optional,soak)

.PHONY: reproducible
reproducible: ## build twice and check the binaries are bit-identical (scripts/reproducible)
	$(call optional,reproducible)

.PHONY: deps
deps: ## check each binary's dependency list against the committed allow-list (scripts/deps)
	$(call optional,deps)

.PHONY: helm-lint
helm-lint: ## lint and template the Helm chart (scripts/helm-check)
	$(call optional,helm-check)

.PHONY: image
image: ## build the vault-secrets-webhook and vault-env images as OCI layouts in bin/images (IMAGE_DIR) and print their digests (no container engine)
	go run ./scripts/image build -out $(IMAGE_DIR) -version $(VERSION) -repo $(IMAGE_REPO) -tag $(IMAGE_TAG) \
		-platform $(IMAGE_PLATFORMS) vault-secrets-webhook vault-env

.PHONY: image-push
image-push: ## push the layouts in IMAGE_DIR to REGISTRY=HOST:PORT over plain HTTP (e.g. the sandbox's registryAddr)
	@[ -n "$(REGISTRY)" ] || { echo "make: set REGISTRY=HOST:PORT" >&2; exit 2; }
	go run ./scripts/image push -registry $(REGISTRY) $(wildcard $(IMAGE_DIR)/*/)
