# The README's commands: `make run` (the whole job on the embedded database) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
FERRETDB := .cache/ferretdb/ferretdb-v1.24.2

.PHONY: run serve test lint bench ferretdb test-packages clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# compat: a plain path entry, which type checkers follow (the default import hook hides the package from mypy)
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

$(FERRETDB): tools/build-ferretdb.sh
	bash tools/build-ferretdb.sh $@

ferretdb: $(FERRETDB)

# Debian packages the suite drives: chromium for the viewer's browser test (through Playwright, but never
# a browser Playwright downloads: `playwright install` fetches one from a CDN), curl for the API's
# range tests and postgresql (15) for FerretDB's PostgreSQL backend (the suite runs a private cluster of
# its own, tools/postgres_server.py). Each is PACKAGE or PACKAGE:PROGRAM (the command or path whose
# absence means it is missing). Installed only when missing; sudo only when not root (CI runs as root
# on fresh Debian).
TEST_PACKAGES := chromium curl postgresql:/usr/lib/postgresql/15/bin/postgres

test-packages:
	@missing=; for entry in $(TEST_PACKAGES); do \
		command -v $${entry#*:} >/dev/null 2>&1 || missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi

# The whole job on the embedded default database (or $BRAINSTORM_DATABASE_URL): generate the pipeline
# dataset if it is missing, import it (a second run imports nothing new), read it back, and write one
# colour image out as a PNG.
PIPELINE := .cache/pipeline
RUN_IMAGE := .cache/run/color_image.png
BRAINSTORM := $(PY) -m brainstorm.cli

run: $(INSTALLED)
	@$(PY) -m fixtures.pipeline.generate $(PIPELINE)
	@$(PY) -m brainstorm.saver import $(PIPELINE)
	@echo; echo '$$ brainstorm users'; $(BRAINSTORM) users
	@echo; echo '$$ brainstorm snapshots 1'; $(BRAINSTORM) snapshots 1
	@echo; echo '$$ brainstorm snapshot 1 1'; $(BRAINSTORM) snapshot 1 1
	@for name in pose feelings color_image depth_image; do \
		echo; echo "\$$ brainstorm result 1 1 $$name"; $(BRAINSTORM) result 1 1 $$name || exit 1; done
	@mkdir -p $(dir $(RUN_IMAGE))
	@echo; echo '$$ brainstorm result 1 1 color_image --save $(RUN_IMAGE)'
	@$(BRAINSTORM) result 1 1 color_image --save $(RUN_IMAGE)

# `brainstorm serve` on the embedded default (or $BRAINSTORM_DATABASE_URL): the web viewer and the API at
# http://127.0.0.1:8000/ (SERVE_ARGS='--host 0.0.0.0 --port 8080' to change where it listens).
serve: $(INSTALLED)
	$(BRAINSTORM) serve $(SERVE_ARGS)

# The suite on each FerretDB backend (README, *Tests*): everything on SQLite, then the tests that use the
# server again on PostgreSQL. With BRAINSTORM_TEST_MONGODB_URL (a server of yours), one pass on it.
# PYTEST_ARGS go to both passes (e.g. PYTEST_ARGS='-x -k saver').
FERRETDB_BACKENDS := sqlite postgresql

test: $(INSTALLED) $(FERRETDB) test-packages
	@if [ -n "$$BRAINSTORM_TEST_MONGODB_URL" ]; then $(PY) -m pytest $(PYTEST_ARGS); exit; fi; \
	failed=; for backend in $(FERRETDB_BACKENDS); do \
		echo "make test: FerretDB on $$backend"; start=$$(date +%s); \
		BRAINSTORM_TEST_FERRETDB_BACKEND=$$backend $(PY) -m pytest $(PYTEST_ARGS) && outcome=passed \
			|| { outcome=FAILED; failed="$$failed $$backend"; }; \
		echo "make test: FerretDB on $$backend: $$outcome in $$(( $$(date +%s) - start ))s"; done; \
	[ -z "$$failed" ] || { echo "make test: failed on FerretDB on$$failed"; exit 1; }

bench: $(INSTALLED) $(FERRETDB)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(INSTALLED)
	$(PY) -m ruff check brainstorm tests
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .hypothesis
