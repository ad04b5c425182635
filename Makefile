# Warden: every target installs what it needs first, so a fresh checkout needs only `make test`
# (or `make demo`). uv is used from PATH, or installed into .tools/ on first use.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/uv/bin/uv)
RUN := $(UV) run --frozen
SERVERS := postgres github kubernetes slack aws
INTEROP := tests/interop/node_modules/.package-lock.json

.PHONY: help install wheels test test-install lint typecheck demo bench soak docs clean $(addprefix run-,$(SERVERS))

help: ## Show the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

$(CURDIR)/.tools/uv/bin/uv:
	python3 -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml shared/pyproject.toml $(wildcard servers/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen --all-packages --compile-bytecode
	@touch $@

$(INTEROP): tests/interop/package.json tests/interop/package-lock.json
	npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

install: .venv/.synced $(INTEROP) ## Install the Python workspace (locked) and the npm test clients

test: install ## Run the whole test suite (PostgreSQL from WARDEN_TEST_POSTGRES_DSN, else embedded; ARGS="tests/postgres" for some)
	$(RUN) pytest $(ARGS)

wheels: .venv/.synced ## Build the six wheels (lpwarden-core and the servers) into build/dist
	rm -rf build/dist
	$(UV) build --quiet --all-packages --wheel --out-dir build/dist
	@ls build/dist

test-install: .venv/.synced ## Install each server's wheel on its own (uv tool, pipx, pip from git) and check what it brings
	UV=$(UV) $(RUN) python scripts/test_install.py

lint: .venv/.synced ## ruff, format check, mypy (strict on the core), hadolint, compose.yaml
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) python scripts/dockerfiles.py --check
	$(RUN) python scripts/server_json.py --check
	$(RUN) hadolint servers/*/Dockerfile
	scripts/check-compose.sh

typecheck: .venv/.synced ## mypy only
	$(RUN) mypy

demo: .venv/.synced ## warden-postgres against a seeded embedded PostgreSQL, driven by a real MCP client
	$(RUN) python scripts/demo.py

bench: .venv/.synced ## Cold start, per-call overhead, throughput, memory (ARGS="--quick", "--only call")
	$(RUN) python bench/run.py $(ARGS)

soak: .venv/.synced ## A few minutes of mixed calls at the rate limit; RSS and file descriptors must stay flat
	$(RUN) python bench/soak.py

$(addprefix run-,$(SERVERS)): run-%: .venv/.synced ## Run a server over stdio (make run-postgres ARGS="--transport http")
	$(RUN) warden-$* $(ARGS)

clean: ## Remove installed environments and caches
	rm -rf .venv .tools build tests/interop/node_modules .pytest_cache .mypy_cache .ruff_cache

# --- Containers: docker or podman, whichever works; offline base image and wheelhouse when needed. ---
IMAGES ?= $(SERVERS)

.PHONY: images test-images wheelhouse dockerfiles server-json

images: .venv/.synced ## Build the servers' images (make images IMAGES="slack aws" for some)
	UV=$(UV) scripts/images.sh build $(IMAGES)

test-images: images ## Smoke-test the images: tools/list over stdio, /healthz and authenticated tools/list over HTTP
	UV=$(UV) scripts/images.sh test $(IMAGES)

wheelhouse: .venv/.synced ## Make build/wheelhouse: what the images install, from the lock (make images does this)
	UV=$(UV) $(RUN) python scripts/wheelhouse.py

dockerfiles: ## Write servers/*/Dockerfile from deploy/docker/Dockerfile.in
	$(RUN) python scripts/dockerfiles.py

server-json: .venv/.synced ## Write servers/*/server.json (MCP registry entries) from each server's settings and pyproject
	$(RUN) python scripts/server_json.py
