# The README's commands: `make run` (the whole job on the embedded database) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
FERRETDB := .cache/ferretdb/ferretdb-v1.24.2

.PHONY: run test lint bench ferretdb clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(FERRETDB): tools/build-ferretdb.sh
	bash tools/build-ferretdb.sh $@

ferretdb: $(FERRETDB)

test: $(INSTALLED) $(FERRETDB)
	$(PY) -m pytest

lint: $(INSTALLED)
	$(PY) -m ruff check brainstorm tests
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .hypothesis
