# Two commands on a fresh machine:  `make demo`  and  `make test`.  Each does its own set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup connector dashboard jars classes demo test test-unit test-integration lint bench clean stack-down docs docs-reference

setup: $(VENV)/.installed node_modules/.installed connector dashboard jars classes

# Flink's own jars the wheel lacks (the S3 plugin, the SQL gateway): pinned by version and SHA-256
# in connectors/official.py, fetched with Maven (your ~/.m2/settings.xml applies) into ~/.cache/clickflow/maven once
jars: $(VENV)/.installed
	@$(BIN)/python -m connectors.official

# clickflow's Java (connectors/pom.xml): the Kinesis connector on the AWS SDK and the job's functions,
# shaded into connectors/build/clickflow-flink.jar by Maven; rebuilt only when a source or a pom changes
connector: $(VENV)/.installed
	@command -v mvn >/dev/null || { echo "Maven 3 is needed to build clickflow's Java: apt-get install maven (and a JDK 17)"; exit 1; }
	@$(BIN)/python -m connectors.kinesis_connector >/dev/null

# the JVM class archive every clickflow JVM starts with (connectors/class_archive.py): built once per java and
# set of jars (about a minute), 1-3 s off each JVM's start (docs/benchmarks.md); CLICKFLOW_CLASS_ARCHIVE=off: without it
classes: connector jars
	@$(BIN)/python -m connectors.class_archive

# the dashboard page's script: src/main.js + Chart.js, bundled by esbuild (both pinned in package-lock.json)
dashboard: clickflow/dashboard/static/dist/app.js

clickflow/dashboard/static/dist/app.js: clickflow/dashboard/src/main.js node_modules/.installed
	@npm run -s build:dashboard >/dev/null

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "clickflow needs Python 3.11 or newer; set PYTHON=python3.11 (or 3.12)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed for the local Kinesis server and the dashboard's build: apt-get install nodejs npm, or see nodejs.org"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(BIN)/clickflow demo

# TEST_WORKERS=2: the suite on two pytest-xdist workers, each given whole test files (a file's tests share its
# fixtures, and the walkthrough's pages run in order); 0, the default, runs it in one process.
TEST_WORKERS ?= 0
PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,--numprocesses $(TEST_WORKERS) --dist loadfile)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(DOCS_CHECK_DIR)
	$(BIN)/python -m pytest $(PARALLEL)

# The documentation site (mkdocs.yml, docs/) into site/: open site/index.html from disk, no server or network.
# The build fails on a warning, a broken link or a stale generated reference (docs/reference/: `make docs-reference`).
DOCS_CHECK_DIR ?= $(or $(TMPDIR),/tmp)/clickflow-docs-check
docs: $(VENV)/.installed node_modules/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	@echo "open site/index.html"

# Rewrite docs/reference/ from the code (config dataclasses, --help, sql/ typed by Flink, error messages)
docs-reference: $(VENV)/.installed
	$(BIN)/python -m clickflow.reference

test-unit: setup
	$(BIN)/python -m pytest -m "not integration"

test-integration: setup
	$(BIN)/python -m pytest -m integration $(PARALLEL)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/producer.py

stack-down:
	-$(BIN)/clickflow cluster down
	-$(BIN)/clickflow stack down

clean: stack-down
	rm -rf $(VENV) node_modules .clickflow out site connectors/build connectors/*/target connectors/kinesis/build connectors/udf/build clickflow/dashboard/static/dist .pytest_cache .ruff_cache *.egg-info
