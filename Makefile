# Set-up and everyday commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXP ?= unet_synthetic_noaug
ARGS ?=

.DEFAULT_GOAL := help

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(MAKE) --no-print-directory hooks
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.dev  ## Create .venv and install the pinned dependencies

train: $(VENV)/.runtime  ## Generate the synthetic data, train and test EXP (ARGS="..." adds Hydra overrides)
	$(PY) train.py exp_name=$(EXP) $(ARGS)
	$(PY) test.py exp_name=$(EXP)

test: $(VENV)/.dev  ## Run the test suite
	$(PY) -m pytest

hooks:  ## Install the git hook that checks branch names before each commit
	@if git rev-parse --git-dir >/dev/null 2>&1; then git config core.hooksPath .githooks; fi

lint: $(VENV)/.dev  ## Check style with ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

.PHONY: help venv train test lint hooks
