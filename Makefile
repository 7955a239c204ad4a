# The commands a newcomer needs. `make demo` and `make test` each run `make setup` first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LAKEHOUSE_ENV ?= local

PY_STAMP   := $(VENV)/.installed
JARS_STAMP := jars/lib/.resolved
JAVA_SOURCES := $(shell find jars/src -name "*.java")

.PHONY: setup postgres-binaries demo db-down test test-quick lint format cluster-up cluster-down cluster-status benchmarks clean help

help:
	@echo "make demo          run the demo pipeline on the embedded local Spark (does set-up first)"
	@echo "make test          run the test suite (does set-up first)"
	@echo "make test-quick    the tests not marked slow"
	@echo "make setup         venv + pinned packages + JVM jars (idempotent; network only the first time)"
	@echo "make cluster-up    start a Spark standalone master and worker on 127.0.0.1 (cluster-down stops them)"
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

# The demo pipeline so far: start the shop's database, land a week of demo data (files and
# database rows), ingest every source into bronze, refine and check silver (bad rows quarantined),
# write the data-quality report, compute the feature tables and churn labels, list the features,
# train the churn model (SynapseML LightGBM; prints its test metrics), score the newest feature rows
# with the production model, list the registered models, embed tickets and products, build their
# vector indexes, find each ticket's most similar earlier tickets, measure retrieval quality on the
# generator's labelled queries, run two example searches, and list the tables.
demo: setup
	$(BIN)/lakehouse db up --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run demo_data --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run bronze_ingest --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run silver_refine --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse quality report --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run gold_features --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse features list --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run train_model --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run batch_score --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse models list --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run embed_documents --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run build_index --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run similar_documents --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse run evaluate_search --env $(LAKEHOUSE_ENV)
	$(BIN)/lakehouse search --env $(LAKEHOUSE_ENV) --table tickets -k 5 "my parcel arrived crushed and the item inside is broken"
	$(BIN)/lakehouse search --env $(LAKEHOUSE_ENV) --table products -k 5 --filter "price<200" "wireless headphones with a long battery life"
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

db-down:
	$(BIN)/lakehouse db down --env $(LAKEHOUSE_ENV)

benchmarks: setup
	for script in benchmarks/*.py; do $(BIN)/python $$script --quick || exit 1; done

clean:
	rm -rf data spark-warehouse metastore_db derby.log .pytest_cache .ruff_cache
