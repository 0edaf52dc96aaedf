# Set-up and everyday commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXP ?=
ARGS ?=
# Hydra overrides of `make train`; the experiment name is then whatever train.py composes from them.
RUN_ARGS = $(if $(EXP),exp_name=$(EXP)) $(ARGS)

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
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

venv: $(VENV)/.dev  ## Create .venv and install the pinned dependencies

train: $(VENV)/.runtime  ## Generate the synthetic data, train and test (ARGS="..." Hydra overrides, EXP=name)
	$(PY) train.py $(RUN_ARGS)
	$(PY) test.py exp_name=$$($(PY) train.py $(RUN_ARGS) --cfg job --package exp_name)

# One pytest worker per core, each test file on one worker (its module fixtures built once).
PYTEST := $(PY) -m pytest -n auto --dist loadfile

test: $(VENV)/.dev  ## Run the quick tests (under a minute): every layer, in-process
	$(PYTEST) -m "not slow"

test-all: $(VENV)/.dev  ## Run every test (about 15 minutes): processes, DVC, README, DDP, SLURM, sweeps
	$(PYTEST)

repro: $(VENV)/.runtime  ## Run the DVC pipeline (dvc repro): data, check, train, test, curves
	$(VENV)/bin/dvc repro

format: $(VENV)/.dev  ## Fix lint and format the code with ruff
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:  ## Delete caches and generated data (data/synthetic); never experiments or DRIVE
	rm -rf .pytest_cache .ruff_cache dvc_plots data/synthetic
	find . -name __pycache__ -type d -not -path "./.venv/*" -prune -exec rm -rf {} +

hooks:  ## Install the git hook that checks branch names before each commit
	@if git rev-parse --git-dir >/dev/null 2>&1; then git config core.hooksPath .githooks; fi

lint: $(VENV)/.dev  ## Check style with ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

.PHONY: help venv train test test-all repro format clean lint hooks
