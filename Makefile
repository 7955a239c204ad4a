# The commands a newcomer needs. `make demo` and `make test` each run `make setup` first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LAKEHOUSE_ENV ?= local

PY_STAMP   := $(VENV)/.installed
JARS_STAMP := jars/lib/.resolved
JAVA_SOURCES := $(shell find jars/src -name "*.java")

.PHONY: setup demo test test-quick lint format cluster-up cluster-down cluster-status benchmarks clean help

help:
	@echo "make demo          run the demo pipeline on the embedded local Spark (does set-up first)"
	@echo "make test          run the test suite (does set-up first)"
	@echo "make test-quick    the tests not marked slow"
	@echo "make setup         venv + pinned packages + JVM jars (idempotent; network only the first time)"
	@echo "make cluster-up    start a Spark standalone master and worker on 127.0.0.1 (cluster-down stops them)"
	@echo "make lint          ruff"
	@echo "make benchmarks    run every benchmark with --quick"

setup: $(PY_STAMP) $(JARS_STAMP)

$(PY_STAMP): pyproject.toml requirements.lock
	@command -v java >/dev/null || { echo "Java 17 is required: install OpenJDK 17 (java not on PATH)"; exit 1; }
	@java -version 2>&1 | grep -q 'version "17' || { echo "Java 17 is required, found: $$(java -version 2>&1 | head -1)"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

$(JARS_STAMP): jars/pom.xml $(JAVA_SOURCES) $(PY_STAMP)
	@command -v mvn >/dev/null || { echo "Maven (mvn) is required once, to resolve the JVM jars"; exit 1; }
	@command -v javac >/dev/null || [ -x "$$JAVA_HOME/bin/javac" ] || { echo "a JDK 17 (javac) is required once, to compile jars/src"; exit 1; }
	$(BIN)/lakehouse jars resolve
	touch $@

demo: setup
	$(BIN)/lakehouse run hello --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse tables --env $(LAKEHOUSE_ENV)

test: setup
	$(BIN)/pytest

test-quick: setup
	$(BIN)/pytest -m "not slow"

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

benchmarks: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script --quick || exit 1; done

clean:
	rm -rf data spark-warehouse metastore_db derby.log .pytest_cache .ruff_cache
