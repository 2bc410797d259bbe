# ddbkeeper: every target installs what it needs into .venv / .venv-sam, so a fresh clone needs only `make demo` and `make test`.
PYTHON ?= python3
export SAM_CLI_TELEMETRY := 0
VENV := .venv
SAMVENV := .venv-sam
BIN := $(VENV)/bin
SAM := $(SAMVENV)/bin/sam
ASL := $(wildcard statemachines/*.asl.json)
# Placeholders (${...}) are not valid ARNs or numbers until DefinitionSubstitutions are applied.
STATELINT_IGNORE := URI,FLOAT

.PHONY: dev demo test lint unit validate bench build clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3

$(VENV)/.installed: $(BIN)/python requirements-dev.txt constraints.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(SAM):
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet -r requirements-sam.txt -c constraints-sam.txt

dev: $(VENV)/.installed $(SAM)

demo: $(VENV)/.installed
	$(BIN)/ddbkeeper demo

lint: $(VENV)/.installed $(SAM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/statelint --ignore=$(STATELINT_IGNORE) $(ASL)
	$(SAM) validate --lint --region us-east-1

unit: $(VENV)/.installed
	$(BIN)/pytest

test: lint unit

bench: $(VENV)/.installed
	$(BIN)/python -m bench.backup_retention

build: $(SAM)
	$(SAM) build

clean:
	rm -rf $(VENV) $(SAMVENV) .aws-sam .mypy_cache .ruff_cache
