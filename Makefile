# wasmCloud operators for Kubernetes. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

CARGO ?= cargo
ENV := tests/env
CRD_DIRS := deploy/crds

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build the three binaries (debug).
	$(CARGO) build --workspace --bins

.PHONY: fmt
fmt: ## Format the Rust code.
	$(CARGO) fmt --all

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: generate
generate: ## Write every generated file (CRD YAML) from the Rust types.
	$(CARGO) run --quiet -p wasmcloud-operator-types --features runtime --bin crdgen -- $(CRD_DIRS)

.PHONY: verify
verify: generate ## Fail if a generated file is stale.
	@if ! git diff --quiet --exit-code -- $(CRD_DIRS) || [ -n "$$(git ls-files --others --exclude-standard -- $(CRD_DIRS))" ]; then \
	  git --no-pager diff --stat -- $(CRD_DIRS); \
	  echo "generated files are out of date: run make generate and commit the result" >&2; exit 1; fi

##@ Local environment

.PHONY: tools
tools: ## Build (or reuse from the cache) the control plane, kwok, helm, nats-server and the wadm runner.
	$(ENV)/build-tools.sh >/dev/null
	$(ENV)/build-wadm.sh >/dev/null

.PHONY: dev-up
dev-up: tools ## Start the local environment (API server, kwok, NATS, wadm) in .dev/ and print how to use it.
	$(ENV)/env.sh up .dev

.PHONY: dev-down
dev-down: ## Stop the local environment started by dev-up.
	$(ENV)/env.sh down .dev

.PHONY: demo
demo: dev-up ## Bring up the local environment and install the example objects.
	$(ENV)/demo.sh .dev

##@ Tests

.PHONY: test-unit
test-unit: ## Unit and fixture tests (no environment needed).
	$(CARGO) test --workspace --exclude wasmcloud-operator-tests --lib --bins --tests
	$(CARGO) test -p wasmcloud-operator-types --lib  # the types alone, without the runtime feature

.PHONY: test-integration
test-integration: tools ## Integration tests against a fresh local environment.
	$(CARGO) build --workspace --bins
	$(ENV)/with-env.sh $(CARGO) test -p wasmcloud-operator-tests --tests -- --test-threads=4

.PHONY: test
test: lint verify ## Every gate and every test: what CI runs. Ends with a line adding up the results.
	@$(ENV)/count-tests.sh $(MAKE) --no-print-directory test-unit test-integration
