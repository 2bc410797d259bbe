# ddbkeeper: every target installs what it needs into .venv / .venv-sam, so a fresh clone needs only `make demo` and `make test`.
PYTHON ?= python3
export SAM_CLI_TELEMETRY := 0
VENV := .venv
SAMVENV := .venv-sam
BIN := $(VENV)/bin
SAM := $(SAMVENV)/bin/sam
ASL := $(wildcard statemachines/*.asl.json)
# sam build for the python3.12 runtime needs a python3.12 on PATH: take pyenv's if there is one.
PY312_BIN := $(firstword $(dir $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12)))
# Placeholders (${...}) are not valid ARNs or numbers until DefinitionSubstitutions are applied.
STATELINT_IGNORE := URI,FLOAT

.PHONY: dev demo test quick lint layer-check arm64-check wheel unit bench build clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3

$(VENV)/.installed: $(BIN)/python requirements-dev.txt constraints.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# dynalite, the second DynamoDB backend for tests and benchmarks (pinned in package-lock.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SAM):
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet -r requirements-sam.txt -c constraints-sam.txt

dev: $(VENV)/.installed $(SAM) node_modules/.installed

demo: $(VENV)/.installed
	$(BIN)/ddbkeeper demo

lint: $(VENV)/.installed $(SAM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m tests.support.statelint --ignore=$(STATELINT_IGNORE) $(ASL)
	$(SAM) validate --lint --region us-east-1
	$(SAMVENV)/bin/cfn-lint roles/*.yaml

unit: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest

# The pure decisions and models alone (no AWS, no server): seconds, for the edit-test loop.
quick: $(VENV)/.installed
	$(BIN)/pytest -m pure -q

# The layer must hold the package at python/ddbkeeper/ for the handlers' imports to work on Lambda.
layer-check: $(SAM)
	PATH="$(PY312_BIN):$$PATH" $(SAM) build --build-dir .aws-sam/check --cache-dir .aws-sam/cache --cached >/dev/null
	test -f .aws-sam/check/CoreLayer/python/ddbkeeper/__init__.py
	test -f .aws-sam/check/CoreLayer/python/aws_lambda_powertools/__init__.py
	test -f .aws-sam/check/CreateBackupFunction/app.py
	@echo "layer-check: python/ddbkeeper/ is in the layer"

test: lint layer-check unit

# Every layer dependency must have a manylinux aarch64 wheel for python3.12 before Architectures: [arm64] can be
# considered (README: Architecture). Needs the network; downloads into .aws-sam/arm64-check.
arm64-check: $(VENV)/.installed
	rm -rf .aws-sam/arm64-check
	$(BIN)/pip download --quiet -r layers/core/requirements.txt -c constraints.txt --only-binary=:all: \
		--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --python-version 3.12 --implementation cp \
		-d .aws-sam/arm64-check
	@ls .aws-sam/arm64-check | grep -E 'aarch64|none-any'

# The CLI's wheel, stack included (template, state machines, handlers): pipx install dist/ddbkeeper-*.whl[local]
wheel: $(VENV)/.installed
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist .

bench: $(VENV)/.installed node_modules/.installed
	$(BIN)/python -m bench.backup_retention
	$(BIN)/python -m bench.copy
	$(BIN)/python -m bench.restore_verify
	$(BIN)/python -m bench.apply

build: $(SAM)
	PATH="$(PY312_BIN):$$PATH" $(SAM) build

clean:
	rm -rf $(VENV) $(SAMVENV) .aws-sam .mypy_cache .ruff_cache node_modules
