# Two commands do everything (README quick start):
#   make demo   create .venv, install the package, run the demo (simulated market, DuckDB, MCP on :8080)
#   make test   create .venv, install the package with its test extras, run the whole test suite
# Installs are redone only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv

.PHONY: demo test bench clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   run the demo (simulated Polygon feed -> DuckDB -> signals -> MCP on 127.0.0.1:8080)"
	@echo "make test   run every test"
	@echo "make clean  remove the virtual environment and the demo database"

# The environment is made without pip (ensurepip is the slowest step); uv, installed into it by the
# interpreter's own pip, installs everything else.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

$(UV): $(BIN)/python
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --prefix $(VENV) "uv>=0.4"

$(VENV)/.installed-runtime: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -e ".[dev]"
	touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/microstructure demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data
