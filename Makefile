# govlink: a newcomer needs `make run` and `make test`; the rest are their parts.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
GOVLINK := $(VENV)/bin/govlink

.PHONY: help venv lock services stop status run test unit bench chaos cluster cluster-stop chaos-cluster clean

help:
	@echo "make run       install, start the services and the whole system (gateway, workers, simulators)"
	@echo "make test      the same set-up, then the layers check (lint-imports) and the whole test suite"
	@echo "make services  only install what is missing and start what is not running"
	@echo "make stop      stop the services this project started"
	@echo "make bench     run the benchmarks in bench/"
	@echo "make chaos     run the chaos tests alone"
	@echo "make cluster   the production topology on this machine (docs/deployment.md); make cluster-stop stops it"
	@echo "make chaos-cluster  kill nodes of that cluster under load (brings it up first)"
	@echo "make lock      re-resolve requirements.lock after changing pyproject.toml"

venv: $(VENV)/.installed

# Every version installed comes from requirements.lock (the whole resolved tree, all extras),
# used as pip constraints here, in CI (which runs make) and in the Dockerfile.
$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v python3.11 >/dev/null || command -v python3 >/dev/null || { echo "python3.11 is required"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q -c requirements.lock -e ".[test,sim,dev]"
	@touch $@

# Re-resolve the lock after changing pyproject.toml (keeps every pin it can; pip-tools runs in its own venv).
lock:
	@test -x var/lock-tools/bin/pip-compile || { python3 -m venv var/lock-tools && var/lock-tools/bin/pip install -q pip-tools==7.6.2; }
	@var/lock-tools/bin/pip-compile -q --all-extras --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

services:
	@bash scripts/stack.sh up

stop:
	@bash scripts/stack.sh down

status:
	@bash scripts/stack.sh status

run: venv services
	@bash scripts/run.sh

test: venv services
	@$(VENV)/bin/lint-imports --no-cache  # the layers contract in pyproject.toml (docs/architecture.md)
	@bash scripts/test.sh

unit: venv
	@$(PY) -m pytest tests/unit -q

bench: venv services
	@bash scripts/bench.sh

chaos: venv services
	@bash scripts/test.sh tests/chaos

# The production topology on one machine, on ports of its own (scripts/cluster.env): the single-node
# services above are neither used nor stopped by it.
cluster: venv
	@bash scripts/cluster.sh up

cluster-stop:
	@bash scripts/cluster.sh down

chaos-cluster: venv cluster
	@GOVLINK_CLUSTER=required bash scripts/test.sh tests/cluster

clean:
	rm -rf $(VENV) var .pytest_cache
