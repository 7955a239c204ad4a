# The commands a newcomer needs. `make demo` and `make test` each run `make setup` first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LAKEHOUSE_ENV ?= local

PY_STAMP   := $(VENV)/.installed
# Apache Airflow, in its own venv (its pins clash with ours): the DAG export test loads DAGs in it
AIRFLOW_VENV  ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
JARS_STAMP := jars/lib/.resolved
JAVA_SOURCES := $(shell find jars/src -name "*.java")

.PHONY: setup prepare-tests airflow-venv postgres-binaries demo serve db-down test test-quick lint format cluster-up cluster-down cluster-status benchmarks wheel examples clean help

help:
	@echo "make demo          run the demo pipeline (lakehouse pipeline run demo) on the embedded local Spark"
	@echo "make serve         the search service over the embedding tables (http://127.0.0.1:8765, conf/base/serve.yml)"
	@echo "make test          run the test suite (does set-up first)"
	@echo "make test-quick    the tests not marked slow"
	@echo "make setup         venv + pinned packages + JVM jars (idempotent; network only the first time)"
	@echo "make cluster-up    start a Spark standalone master and worker on 127.0.0.1 (cluster-down stops them)"
	@echo "make wheel         build dist/lakehouse-*.whl (the JVM part inside: needs a JDK, and Maven without jars/lib)"
	@echo "make examples      rewrite examples/ from the templates of \`lakehouse init\` (a test checks they match)"
	@echo "make lint          ruff"
	@echo "make benchmarks    run every benchmark with --quick"

setup: $(PY_STAMP) $(JARS_STAMP) postgres-binaries

$(PY_STAMP): pyproject.toml requirements.lock
	@command -v java >/dev/null || { echo "Java 17 is required: install OpenJDK 17 (java not on PATH)"; exit 1; }
	@java -version 2>&1 | grep -q 'version "17' || { echo "Java 17 is required, found: $$(java -version 2>&1 | head -1)"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

airflow-venv: $(AIRFLOW_STAMP)

$(AIRFLOW_STAMP): requirements-airflow.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r requirements-airflow.txt
	touch $@

$(JARS_STAMP): jars/pom.xml $(JAVA_SOURCES) $(PY_STAMP)
	@command -v mvn >/dev/null || { echo "Maven (mvn) is required once, to resolve the JVM jars"; exit 1; }
	@command -v javac >/dev/null || [ -x "$$JAVA_HOME/bin/javac" ] || { echo "a JDK 17 (javac) is required once, to compile jars/src"; exit 1; }
	$(BIN)/lakehouse jars resolve
	touch $@

# The demo and the tests start their own PostgreSQL server (lakehouse/demo/postgres.py): only the
# binaries are needed. When they are missing and we are root with apt-get, install the Debian package,
# then stop the cluster it creates on port 5432 and set it to start manually: nothing uses it.
POSTGRES_LIB ?= /usr/lib/postgresql
postgres-binaries:
	@if command -v pg_ctl >/dev/null 2>&1 || ls $(POSTGRES_LIB)/*/bin/pg_ctl >/dev/null 2>&1; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing the PostgreSQL server (Debian package postgresql) for the demo and the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql || exit 1; \
		pg_lsclusters --no-header 2>/dev/null | while read -r version cluster rest; do \
			pg_ctlcluster "$$version" "$$cluster" stop 2>/dev/null || true; \
			start_conf="/etc/postgresql/$$version/$$cluster/start.conf"; \
			if [ -f "$$start_conf" ]; then echo manual > "$$start_conf"; fi; \
		done; \
	else \
		echo "the PostgreSQL server binaries (pg_ctl, initdb) are missing: the demo and the tests start their own server"; \
		echo "install them with: sudo apt-get install -y postgresql   (Debian/Ubuntu; make setup does it when run as root)"; \
		exit 1; \
	fi

# The README's main job: the demo pipeline of conf/base/pipelines.yml, every job of the lakehouse in
# dependency order in one Spark application (it starts the shop's PostgreSQL first), ending with the
# stage timings, tables, quality, metrics and the path of the run's HTML report.
demo: setup
	$(BIN)/lakehouse pipeline run demo --env $(LAKEHOUSE_ENV)

# The search service (lakehouse serve): the embedding tables of the demo over HTTP, without Spark;
# run `make demo` first so that the tables and their indexes exist.
serve: setup
	$(BIN)/lakehouse serve --env $(LAKEHOUSE_ENV)

# both venvs, the jars and PostgreSQL are set up side by side: on a fresh machine their downloads overlap
test: prepare-tests
	$(BIN)/pytest

test-quick: prepare-tests
	$(BIN)/pytest -m "not slow"

prepare-tests:
	$(MAKE) --jobs=3 --output-sync=target setup airflow-venv

lint: setup
	$(BIN)/ruff check lakehouse jobs tests benchmarks

format: setup
	$(BIN)/ruff check --fix lakehouse jobs tests benchmarks
	$(BIN)/ruff format lakehouse jobs tests benchmarks

cluster-up: setup
	$(BIN)/lakehouse cluster up --env cluster

cluster-down:
	$(BIN)/lakehouse cluster down --env cluster

cluster-status:
	$(BIN)/lakehouse cluster status --env cluster

db-down:
	$(BIN)/lakehouse db down --env $(LAKEHOUSE_ENV)

# A wheel that works outside this repository: setup.py's build hook compiles jars/src into
# lakehouse/jvm/lakehouse-catalog.jar and adds the pom; the Maven dependencies resolve at first use.
wheel: setup
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation --wheel-dir dist .

# examples/<name> is what `lakehouse init --example <name>` writes (tests/project checks it)
EXAMPLES := breast_cancer diabetes
examples: setup
	for example in $(EXAMPLES); do \
		rm -rf examples/$$example && $(BIN)/lakehouse init examples/$$example --example $$example >/dev/null || exit 1; \
	done

benchmarks: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script --quick || exit 1; done

clean:
	rm -rf data spark-warehouse metastore_db derby.log .pytest_cache .ruff_cache build dist
