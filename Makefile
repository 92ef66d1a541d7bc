# mlrollout: `make demo` runs the pipeline in the embedded sandbox; `make test` runs every check.
# Both bootstrap their own virtual environment with Python 3.13 (scripts/find-python313 finds it).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON313 ?= $(shell scripts/find-python313)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# checkov pins its own dependency tree (and supports older Pythons than the project): its own venv.
CHECKOV_PYTHON ?= python3
CHECKOV_VENV := .venv-checkov
PIP_FLAGS := --quiet --disable-pip-version-check
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help setup lint format typecheck validate test test-sdk3 test-fast demo smoke build sizes coldstart bench-judge bench-drift bench-scale bench-cost bench-status reliability-report lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# uv (pinned in requirements/bootstrap.lock) installs the locked sets into each venv: the same pins as pip would
# install, in seconds instead of minutes.
UV := $(BIN)/uv
UV_INSTALL = $(UV) pip install --quiet --python

$(BIN)/python:
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	$(PYTHON313) -m venv $(VENV)

$(UV): requirements/bootstrap.lock | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -r requirements/bootstrap.lock

$(VENV)/.installed: $(UV) pyproject.toml requirements/dev.lock
	$(UV_INSTALL) $(BIN)/python -r requirements/dev.lock
	$(UV_INSTALL) $(BIN)/python --no-deps -e .
	touch $@

$(SAM_VENV)/.installed: $(UV) requirements/sam.lock
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	test -x $(SAM_VENV)/bin/python || $(PYTHON313) -m venv $(SAM_VENV)
	$(UV_INSTALL) $(SAM_VENV)/bin/python -r requirements/sam.lock
	touch $@

setup: $(VENV)/.installed ## create .venv with the pinned dependencies

lint: setup ## ruff lint and format check, and the import contracts (pyproject.toml's [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup ## mypy (strict) on the runtime library
	$(BIN)/mypy

$(CHECKOV_VENV)/.installed: $(UV) requirements/checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(CHECKOV_PYTHON) -m venv $(CHECKOV_VENV)
	$(UV_INSTALL) $(CHECKOV_VENV)/bin/python -r requirements/checkov.lock
	touch $@

validate: setup $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## sam validate --lint, the ASL (cfn-lint E3601, statelint), checkov
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) validate --lint --template template.yaml
	$(BIN)/python -m mlrollout_dev.checks
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --file template.yaml --framework cloudformation --compact --quiet --skip-download

# Two workers, one test file each at a time: the sandbox runs in one process per file (the GIL keeps each to about
# one core), so two files side by side use both cores of a 2-core machine.
PYTEST_WORKERS ?= 2

# The checks before the suite are single-threaded (ruff, mypy, lint-imports, sam validate, checkov) or waiting on the
# network (the SDK 3.x venv): side by side they keep both cores busy, then the suite takes both.
test: setup ## everything CI runs: lint, types, template/ASL validation, all tests
	$(MAKE) --no-print-directory --jobs=3 --output-sync=target lint typecheck validate test-sdk3
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

# .venv has the sagemaker SDK 2.x (requirements/dev.lock); the `[sagemaker]` extra allows 3.x too, so the tests that
# go through the SDK run again under 3.x. Only sagemaker-core 2.x is installed there: it is the distribution of SDK 3.x
# that provides every module the CLI imports (sagemaker.core.*), without the meta-package's mlflow, pyarrow, etc.
SDK3_VENV := .venv-sdk3
SDK3_TESTS := tests/cli/test_sagemaker_sdk.py \
	tests/cli/test_cli_baseline.py::test_model_monitor_runs_sagemakers_baselining_job_through_the_sdk \
	tests/cli/test_cli_baseline.py::test_model_monitor_without_the_sagemaker_sdk_says_how_to_install_it \
	tests/cli/test_cli_publish.py::test_framework_without_the_sagemaker_sdk_says_how_to_install_it

$(SDK3_VENV)/.installed: $(UV) pyproject.toml requirements/sagemaker3.lock
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	test -x $(SDK3_VENV)/bin/python || $(PYTHON313) -m venv --without-pip $(SDK3_VENV)
	$(UV_INSTALL) $(SDK3_VENV)/bin/python -r requirements/sagemaker3.lock
	$(UV_INSTALL) $(SDK3_VENV)/bin/python --no-deps -e .
	touch $@

test-sdk3: $(SDK3_VENV)/.installed ## the tests that go through the sagemaker SDK, under SDK 3.x (.venv-sdk3)
	MLROLLOUT_TEST_SAGEMAKER_MAJOR=3 $(SDK3_VENV)/bin/pytest -q -p no:cacheprovider $(SDK3_TESTS)

test-fast: setup ## the tests without the sandbox scenarios
	$(BIN)/pytest -m "not sandbox"

demo: setup ## run the demo scenarios in the embedded sandbox
	$(BIN)/mlrollout demo

# `make smoke` spends real money in the account the AWS environment points at (see README, "Smoke test in your own
# account"); SMOKE_ARGS=--sandbox (or AWS_ENDPOINT_URL set) runs the same script in the sandbox, without SAM.
SMOKE_ARGS ?=
SMOKE_NEEDS_SAM := $(if $(findstring --sandbox,$(SMOKE_ARGS))$(AWS_ENDPOINT_URL),,$(SAM_VENV)/.installed)

smoke: setup $(SMOKE_NEEDS_SAM) ## one real rollout in your AWS account (promoted, then rolled back), then all deleted
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m mlrollout_dev.smoke $(SMOKE_ARGS)

build: setup $(SAM_VENV)/.installed ## sam build (needs python3.13 on PATH: the venv's)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) build

sizes: build ## report the size of each function and of the layer, as built
	$(BIN)/python -m mlrollout_dev.sizes .aws-sam/build

bench-judge: setup ## judge benchmark: whole rollouts under the product's policy vs an SPRT and a 5-min static rule, issue 11's targets (bench/results/)
	$(BIN)/python -m mlrollout_bench.run

reliability-report: setup ## run tests/reliability and write docs/reliability.md from what happened
	MLROLLOUT_RELIABILITY_REPORT=docs/reliability.md $(BIN)/pytest tests/reliability -q

bench-scale: setup ## 100 uploads over 20 endpoints in the sandbox, duplicates and bad artifacts (bench/results/scale.md)
	$(BIN)/python -m mlrollout_bench.scale

bench-cost: setup ## control-plane cost of a 3-step, 10-minute-bake rollout in the sandbox, by `mlrollout cost` (bench/results/cost.md)
	$(BIN)/python -m mlrollout_bench.cost

bench-status: setup ## `mlrollout status` on 20 endpoints in the sandbox: response time (bench/results/status.md)
	$(BIN)/python -m mlrollout_bench.status

bench-drift: setup ## builtin drift backend: analysis time and memory per window of captured traffic
	$(BIN)/python -m mlrollout_bench.drift

coldstart: setup ## measure each handler's cold import against boto3 and its clients
	$(BIN)/python -m mlrollout_dev.coldstart

# dev.lock keeps the sagemaker SDK at 2.x, which the extra still allows; sagemaker3.lock is dev.lock's pins for the
# sandbox and the tests, with SDK 3.x's sagemaker-core instead (make test-sdk3).
lock: ## re-resolve requirements/*.lock from pyproject.toml (needs network)
	rm -rf .lock-venv && $(PYTHON313) -m venv .lock-venv
	.lock-venv/bin/pip install $(PIP_FLAGS) -e ".[sandbox,dev,sagemaker]" "sagemaker<3"
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > requirements/dev.lock
	rm -rf .lock-venv && $(PYTHON313) -m venv .lock-venv
	grep -iv '^sagemaker' requirements/dev.lock > .lock-venv/constraints.txt
	.lock-venv/bin/pip install $(PIP_FLAGS) -c .lock-venv/constraints.txt -e ".[sandbox]" pytest pytest-timeout \
		pytest-socket "sagemaker-core>=2,<3"
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > requirements/sagemaker3.lock
	rm -rf .lock-venv && $(PYTHON313) -m venv .lock-venv
	.lock-venv/bin/pip install $(PIP_FLAGS) aws-sam-cli
	.lock-venv/bin/pip freeze > requirements/sam.lock
	rm -rf .lock-venv && $(CHECKOV_PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install $(PIP_FLAGS) checkov
	.lock-venv/bin/pip freeze > requirements/checkov.lock
	rm -rf .lock-venv

clean: ## remove build output and virtual environments
	rm -rf .aws-sam $(VENV) $(SAM_VENV) $(SDK3_VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache
