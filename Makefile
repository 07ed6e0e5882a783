# Slipway — one command each. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := $(BIN)/slipway-stack
MEMBERS := $(wildcard shared/pyproject.toml deploy/stack/pyproject.toml services/*/pyproject.toml)
SOURCES := shared/src deploy/stack/src $(wildcard services/*/src)

.PHONY: install bytecode system-deps kubernetes db-images up down status logs test test-fast lint fmt migrate bench clean

install: $(STAMP) ## create the virtualenv and install every workspace package

$(STAMP): pyproject.toml uv.lock $(MEMBERS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	@echo "installing Slipway into $(VENV)…"
	@$(BIN)/uv sync --frozen --compile-bytecode --python $(BIN)/python
	@touch $(STAMP)

# Compiled ahead, incrementally: with PYTHONDONTWRITEBYTECODE set (as on CI machines) Python never caches bytecode,
# and every service start would compile Slipway's sources and its dependencies again (5-6 s per process here).
bytecode: install
	@$(BIN)/python -m compileall -q -j 0 $(SOURCES) >/dev/null

system-deps: ## apt packages: git, make, python3-venv and the container engine (Podman, buildah, runc, registry)
	@bash deploy/system-deps.sh

kubernetes: system-deps install ## build the embedded Kubernetes binaries from Debian's source once (~12 min), into ~/.cache/slipway
	@$(STACK) kube-build

db-images: system-deps install ## build the local database images (PostgreSQL, MariaDB, Redis from Debian's packages) once and push them to the running stack's registry
	@$(STACK) db-images

up: system-deps bytecode $(if $(filter embedded,$(SLIPWAY_KUBERNETES)),kubernetes) ## start Postgres, NATS, Podman, registry, Caddy and the six services; write .slipway/env
	@$(STACK) up

down: ## stop every Slipway process (data is kept in .slipway/)
	@if [ -x $(STACK) ]; then $(STACK) down; else echo "nothing installed yet"; fi

status: install ## show each component and whether it is ready
	@$(STACK) status

logs: install ## show the last lines of every log (make logs C=iam F=1 to follow one)
	@$(STACK) logs $(C) $(if $(F),-f,)

test: system-deps bytecode kubernetes ## the whole suite: import contracts, unit, integration and cross-service tests
	@$(BIN)/lint-imports
	@$(BIN)/pytest

test-fast: bytecode ## everything except the cross-service stack tests
	@$(BIN)/pytest -m "not stack"

lint: install ## format check, lint and type check
	@$(BIN)/ruff format --check .
	@$(BIN)/ruff check .
	@$(BIN)/mypy shared/src services/*/src deploy/stack/src

fmt: install
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

migrate: install ## apply every service's migrations to $DATABASE_URL
	@$(BIN)/python -m slipway.migrate iam catalog builder deployer logs

bench: system-deps install ## run the benchmarks under bench/ (each prints numbers and ratios to a baseline)
	@set -e; for b in bench/*.py; do echo "== $$b"; $(BIN)/python "$$b"; done

clean: down ## stop everything, remove what it deployed on the engine, delete the virtualenv and all local data
	@if [ -x $(STACK) ]; then $(STACK) purge; fi
	rm -rf $(VENV) .slipway
