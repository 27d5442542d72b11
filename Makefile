# The README's commands: `make run` (the whole job on the embedded database) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The MongoDB-protocol test server (FerretDB v2 on a PostgreSQL tree with DocumentDB), built once by
# tools/build-ferretdb.sh from the source archives in $BRAINSTORM_VENDOR_DIR (../shared/vendor when it
# exists), else downloaded; each archive's sha256 is checked either way.
FERRETDB := .cache/ferretdb-v2.5.0/.stamp
BRAINSTORM_VENDOR_DIR ?= $(wildcard $(abspath ../shared/vendor))
export BRAINSTORM_VENDOR_DIR

.PHONY: run serve test lint bench test-servers test-packages clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# compat: a plain path entry, which type checkers follow (the default import hook hides the package from mypy)
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

$(FERRETDB): tools/build-ferretdb.sh | test-packages
	bash tools/build-ferretdb.sh $(dir $@)
	@touch $@  # the script leaves a build of the same versions as it is

# Everything the suite needs that is not Python: Debian's packages, then the test server built from them.
test-servers: test-packages $(FERRETDB)

# Debian packages the suite drives or builds the test server from, each PACKAGE or PACKAGE:PATH (the
# program or file whose absence means it is missing): chromium for the viewer's browser test (through
# Playwright, but never a browser Playwright downloads: `playwright install` fetches one from a CDN),
# curl for the API's range tests, tzdata for times shown in other zones, RabbitMQ for the saver's queue tests (a private node, see
# tools/rabbitmq_server.py); PostgreSQL 15 with its headers, the rum and PostGIS extensions and
# the libraries DocumentDB builds against (see tools/build-ferretdb.sh). Installed only when missing;
# sudo only when not root (CI runs as root on fresh Debian).
TEST_PACKAGES := chromium curl build-essential:cc cmake pkg-config tzdata:/usr/share/zoneinfo/Asia/Kolkata \
	rabbitmq-server:/usr/lib/rabbitmq/bin/rabbitmq-server \
	postgresql-15:/usr/lib/postgresql/15/bin/postgres \
	postgresql-server-dev-15:/usr/lib/postgresql/15/bin/pg_config \
	postgresql-15-rum:/usr/share/postgresql/15/extension/rum.control \
	postgresql-15-postgis-3:/usr/share/postgresql/15/extension/postgis.control \
	libpcre2-dev:/usr/include/pcre2.h libkrb5-dev:/usr/include/gssapi/gssapi.h \
	libintelrdfpmath-dev:/usr/lib/x86_64-linux-gnu/libbidgcc000.a

test-packages:
	@missing=; for entry in $(TEST_PACKAGES); do \
		needed=$${entry#*:}; case $$needed in */*) [ -e $$needed ];; *) command -v $$needed >/dev/null 2>&1;; esac \
			|| missing="$$missing $${entry%%:*}"; done; \
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

# The whole suite, on the test server (or on the server in $BRAINSTORM_TEST_MONGODB_URL); PYTEST_ARGS
# go to pytest (e.g. PYTEST_ARGS='-x -k saver').
test: $(INSTALLED) test-servers
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED) test-servers
	$(PY) -m bench $(BENCH_ARGS)

lint: $(INSTALLED)
	$(PY) -m ruff check brainstorm tests
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .hypothesis
