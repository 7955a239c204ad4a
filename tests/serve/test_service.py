"""The search service for real: ``lakehouse serve`` in its own process on a free loopback port, a small
embedded tickets table, and stdlib HTTP clients.

One service process (API keys on) serves the whole module; a second one without keys runs in a thread
of this process for the auth-off case. The tests run in file order: the swap and staleness tests at
the end move the table and its index.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.io.delta_store import DeltaStore
from lakehouse.processes import descendants
from lakehouse.runs.runner import run_job
from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY
from lakehouse.storage.layout import StorageLayout
from tests.conftest import CONF_DIR, TEST_SPARK_CONFIG
from tests.embeddings.conftest import embedding_settings, generated_tickets, write_tickets

pytestmark = pytest.mark.slow  # starts the service in its own process

KEYS_VARIABLE = "LAKEHOUSE_TEST_SERVE_KEYS"
KEYS = ("first-key-0123456789", "second-key-9876543210")
AUTH = {"Authorization": f"Bearer {KEYS[1]}"}
TABLE = "gold.tickets_embeddings"
QUERY = "my battery is empty after a few hours"
EMBEDDINGS = {  # the embedding tests' small tickets table, staleness checked on every request
    "embeddings": embedding_settings().model_dump(mode="json", exclude={"similar"})
    | {"search": {"version_check_seconds": 0}}
}
SERVE = {
    "serve": {
        "reload_seconds": 0.3,
        "max_k": 20,
        "max_query_chars": 200,
        "max_body_bytes": 2048,
        "max_tokens": 256,
        "default_context_tokens": 64,
        "api_key_variables": [KEYS_VARIABLE],
    }
}


class Client:
    """A keep-alive HTTP/1.1 connection to the service (one per thread)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.used = time.monotonic()

    def call(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if time.monotonic() - self.used > 2:  # the server closes idle connections after 5 s
            self.connection.close()
        self.used = time.monotonic()
        try:
            self.connection.request(method, path, data, sent)
            response = self.connection.getresponse()
            payload = response.read()
        except (ConnectionError, http.client.HTTPException):
            # the server may close a connection after refusing a body it did not read: reconnect
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        kind = response.getheader("Content-Type", "")
        content = json.loads(payload) if kind.startswith("application/json") else payload.decode()
        return response.status, content

    def search(self, table="tickets", headers=AUTH, **body):
        return self.call("POST", f"/v1/tables/{table}/search", body, headers)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(client: Client, process: subprocess.Popen | None, log: Path | None, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the service exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            status, _ = client.call("GET", "/health")
            if status == 200:
                return
        except (ConnectionError, http.client.HTTPException, OSError):
            client.connection.close()
        time.sleep(0.2)
    raise AssertionError(
        "the service did not become ready" + (f":\n{log.read_text()[-3000:]}" if log else "")
    )


@pytest.fixture(scope="module")
def lakehouse(spark, tmp_path_factory):
    """A project (conf copied from the repository's, the test tables' settings on top) with an indexed
    tickets table, and the shared session pointed at its tables."""
    folder = tmp_path_factory.mktemp("serve")
    conf = folder / "conf"
    shutil.copytree(CONF_DIR / "base", conf / "base")
    shutil.copytree(CONF_DIR / "local", conf / "local")
    (conf / "base" / "embeddings.yml").write_text(yaml.safe_dump(EMBEDDINGS))
    (conf / "local" / "serve.yml").write_text(yaml.safe_dump(SERVE))
    environ = {**os.environ, "LAKEHOUSE_ROOT": str(folder / "lakehouse")}
    environ.pop(KEYS_VARIABLE, None)
    config = load_config("local", conf_dir=conf, environ=environ)
    config = config.model_copy(
        update={
            "spark": config.spark.model_copy(update={"config": {**config.spark.config, **TEST_SPARK_CONFIG}})
        }
    )
    previous = spark.conf.get(TABLES_ROOT_PROPERTY)
    spark.conf.set(TABLES_ROOT_PROPERTY, StorageLayout.from_config(config).tables_root)
    tickets = generated_tickets(32)
    write_tickets(spark, config, tickets)
    assert run_job("embed_documents", config, spark=spark).succeeded
    assert run_job("build_index", config, spark=spark).succeeded
    yield {"config": config, "conf": conf, "environ": environ, "folder": folder, "tickets": tickets}
    spark.conf.set(TABLES_ROOT_PROPERTY, previous)


@pytest.fixture(scope="module")
def service(lakehouse):
    """``lakehouse serve`` in its own process, with two API keys in the environment."""
    port = free_port()
    log = lakehouse["folder"] / "serve.log"
    environ = {**lakehouse["environ"], KEYS_VARIABLE: ",".join(KEYS), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lakehouse.cli", "serve", "--conf-dir", str(lakehouse["conf"])]
    command += ["--env", "local", "--port", str(port), "--tables", "tickets"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=environ, stdout=output, stderr=subprocess.STDOUT)
    client = Client(port)
    try:
        wait_ready(client, process, log)
        yield {"client": client, "port": port, "process": process, "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def add_chunk(spark, config, document_id: int, text: str, like_document) -> int:
    """Append a chunk to the embedding table (a new Delta version, no new index): a copy of
    ``like_document``'s first chunk (so its vector) under another document id and text."""
    store = DeltaStore(spark, StorageLayout.from_config(config))
    template = store.read(TABLE).where(F.col("document_id") == like_document).where(F.col("chunk_id") == 0)
    kind = template.schema["document_id"].dataType
    frame = template.withColumn("document_id", F.lit(document_id).cast(kind))
    store.append(TABLE, frame.withColumn("chunk_text", F.lit(text)))
    return store.version(TABLE)


def assert_refused(answer, status: int, field: str | None, *words: str) -> None:
    got, body = answer
    assert got == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"field", "message"}, body
    assert body["error"]["field"] == field, body
    for word in words:
        assert word in body["error"]["message"], body
    assert "Traceback" not in json.dumps(body)


def test_no_jvm_and_no_spark_in_the_service(service):
    pids = descendants(service["process"].pid)
    commands = []
    for pid in pids:
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    assert not any("java" in command for command in commands), commands
    maps = Path(f"/proc/{service['process'].pid}/maps").read_text()
    assert "libjvm" not in maps


def test_tables_health_and_the_three_modes(service, lakehouse):
    client = service["client"]
    status, health = client.call("GET", "/health")
    assert status == 200 and health == {"status": "ready", "tables": {"tickets": "loaded"}}
    status, listing = client.call("GET", "/v1/tables", headers=AUTH)
    assert status == 200
    [table] = listing["tables"]
    assert table["table"] == "tickets" and table["delta_table"] == "gold.tickets_embeddings"
    assert table["loaded"] and table["stale"] is False and table["model"] == "all-MiniLM-L6-v2"
    assert table["index_version"] == table["table_version"] and table["rows"] > 48  # several chunks

    battery = {ticket[0] for ticket in lakehouse["tickets"] if "batter" in (ticket[6] + ticket[7]).lower()}
    for mode in ("vector", "keyword", "hybrid"):
        status, answer = client.search(query="my battery is empty after a few hours", k=5, mode=mode)
        assert status == 200, answer
        assert answer["mode"] == mode and answer["table"] == "tickets" and answer["stale"] is False
        assert answer["index_version"] == answer["table_version"] == table["table_version"]
        hits = answer["hits"]
        assert [hit["rank"] for hit in hits] == [1, 2, 3, 4, 5]
        assert len({hit["document_id"] for hit in hits}) == 5
        assert hits[0]["document_id"] in battery, (mode, hits[0])
        assert set(hits[0]["metadata"]) == {"created_at", "channel", "product_id"}
        if mode == "hybrid":
            assert any(hit["vector_rank"] and hit["keyword_rank"] for hit in hits)
        if mode == "keyword":
            assert all(hit["vector_rank"] is None and hit["keyword_rank"] for hit in hits)

    filters = {"channel": ["chat", "phone"], "created_at": {">=": "2026-01-05"}}
    status, answer = client.search(query="parcel crushed", k=10, filters=filters, select=["channel"])
    assert status == 200 and answer["hits"], answer
    for hit in answer["hits"]:
        assert set(hit["metadata"]) == {"channel"} and hit["metadata"]["channel"] in ("chat", "phone")
    status, answer = client.search(query="parcel crushed", k=10, filters=["product_id<5"], mode="keyword")
    assert status == 200 and all(hit["metadata"]["product_id"] < 5 for hit in answer["hits"])


def test_context_fits_the_token_budget_and_cites_its_sources(service):
    client = service["client"]
    body = {"query": "the battery drains fast", "max_tokens": 48, "k": 4}
    status, answer = client.call("POST", "/v1/tables/tickets/context", body, AUTH)
    assert status == 200, answer
    assert answer["max_tokens"] == 48 and 0 < answer["tokens"] <= 48
    assert sum(passage["tokens"] for passage in answer["passages"]) == answer["tokens"]
    documents = [passage["document_id"] for passage in answer["passages"]]
    assert len(documents) == len(set(documents))  # one window per document
    for passage in answer["passages"]:
        citation = passage["citation"]
        assert citation["table"] == "gold.tickets_embeddings"
        assert citation["table_version"] == answer["index_version"]
        assert citation["document_id"] == passage["document_id"] and citation["chunk_ids"]
        assert passage["text"].strip()
    # the configured default budget
    status, answer = client.call("POST", "/v1/tables/tickets/context", {"query": "refund"}, AUTH)
    assert status == 200 and answer["max_tokens"] == 64 and answer["tokens"] <= 64


def test_api_keys_are_required_when_configured(service):
    client = service["client"]
    body = {"query": "refund"}
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEYS[0]}"}):
        assert_refused(client.search(headers=headers, **body), 401, "authorization", "Bearer")
    assert_refused(client.call("GET", "/v1/tables"), 401, "authorization")
    for key in KEYS:
        status, _ = client.search(headers={"Authorization": f"Bearer {key}"}, **body)
        assert status == 200
    # probes and scrapers need no key
    assert client.call("GET", "/health")[0] == 200 and client.call("GET", "/metrics")[0] == 200
    assert not any(key in service["log"].read_text() for key in KEYS)


def test_no_keys_means_no_auth_and_a_failure_is_a_500_without_its_trace(lakehouse, caplog):
    """The same application without keys, in a thread of this process (auth off); its searcher fails
    on one query as a bug would (a fault injected: no input makes the real one fail like this)."""
    import uvicorn

    from lakehouse.search.api import Searcher
    from lakehouse.serve.app import create_app
    from lakehouse.serve.auth import ApiKeys

    class FailingSearcher(Searcher):
        def search(self, texts, *args, **kwargs):
            if texts == "fail on purpose":
                raise RuntimeError("internal detail at /secret/path")
            return super().search(texts, *args, **kwargs)

    port = free_port()
    app = create_app(
        lakehouse["config"], ["tickets"], ApiKeys([]), lambda config, name: FailingSearcher(config, name)
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        client = Client(port)
        wait_ready(client, None, None, 60)
        status, answer = client.search(headers={}, query="refund", k=3)
        assert status == 200 and len(answer["hits"]) == 3
        assert client.call("GET", "/v1/tables")[0] == 200
        with caplog.at_level("ERROR", logger="lakehouse.serve"):
            failed = client.search(headers={}, query="fail on purpose")
        assert_refused(failed, 500, None, "internal error")
        assert "secret" not in json.dumps(failed[1])
        [record] = [r for r in caplog.records if r.name == "lakehouse.serve" and r.exc_info]
        assert "internal detail at /secret/path" in str(record.exc_info[1])  # the trace is in the log
        assert client.search(headers={}, query="refund", k=1)[0] == 200
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_bad_input_gets_a_4xx_naming_the_field(service):
    client = service["client"]
    search = client.search
    assert_refused(search(table="orders", query="x"), 404, "table", "no table 'orders'")
    assert_refused(search(query=""), 422, "query", "empty")
    assert_refused(search(query="   "), 422, "query", "empty")
    assert_refused(search(query="x" * 201), 422, "query", "201 characters", "200")
    assert_refused(search(k=3), 422, "query", "required")
    assert_refused(search(query="x", k=21), 422, "k", "between 1 and 20")
    assert_refused(search(query="x", k=0), 422, "k")
    assert_refused(search(query="x", k="5"), 422, "k")
    assert_refused(search(query="x", mode="fuzzy"), 422, "mode", "vector, keyword, hybrid")
    assert_refused(search(query="x", top_k=3), 422, "top_k", "unknown field")
    assert_refused(search(query="x", select=["colour"]), 422, "select[0]", "metadata column")
    assert_refused(search(query="x", filters={"colour": "red"}), 422, "filters.colour", "filterable")
    assert_refused(search(query="x", filters={"product_id": {"~": 3}}), 422, "filters.product_id", "operator")
    assert_refused(search(query="x", filters=["channel", "price~3"]), 422, "filters[0]", "column<op>value")
    assert_refused(
        search(query="x", filters={"product_id": "seven"}), 422, "filters.product_id", "'seven'", "bigint"
    )
    assert_refused(search(query="x", filters={"channel": {"=": None}}), 422, "filters.channel")
    tickets = "/v1/tables/tickets/search"
    assert_refused(
        client.call("POST", tickets, raw=b'{"query": "x",', headers=AUTH), 400, "body", "malformed"
    )
    assert_refused(client.call("POST", tickets, raw=b'["x"]', headers=AUTH), 400, "body", "JSON object")
    assert_refused(client.call("POST", tickets, raw=b"", headers=AUTH), 400, "body", "empty")
    deep = b"[" * 1020 + b"]" * 1020  # within the 2048 bytes allowed
    assert_refused(client.call("POST", tickets, raw=deep, headers=AUTH), 400, "body", "nested too deeply")
    big = json.dumps({"query": "x", "filters": ["channel=" + "e" * 3000]}).encode()
    assert_refused(client.call("POST", tickets, raw=big, headers=AUTH), 413, "body", "2048")
    context = "/v1/tables/tickets/context"
    assert_refused(client.call("POST", context, {"query": "x", "max_tokens": 257}, AUTH), 422, "max_tokens")
    assert_refused(client.call("GET", tickets, headers=AUTH), 405, None, "GET")
    assert_refused(client.call("GET", "/v2/anything"), 404, None, "/v2/anything")
    # the service still answers after all that
    assert search(query="refund", k=2)[0] == 200


def test_metrics_count_requests_errors_and_latency(service):
    client = service["client"]
    client.search(query="refund", k=2)
    client.search(query="", k=2)
    status, text = client.call("GET", "/metrics")
    assert status == 200
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    ok = 'lakehouse_serve_requests_total{endpoint="search",status="200",table="tickets"}'
    refused = 'lakehouse_serve_errors_total{endpoint="search",status="422",table="tickets"}'
    assert samples[ok] >= 1 and samples[refused] >= 1
    # a client's unknown table name never becomes a label
    assert samples['lakehouse_serve_requests_total{endpoint="search",status="404",table=""}'] >= 1
    count = samples['lakehouse_serve_request_seconds_count{endpoint="search",table="tickets"}']
    assert (
        samples['lakehouse_serve_request_seconds_bucket{endpoint="search",le="+Inf",table="tickets"}']
        == count
    )
    assert samples['lakehouse_serve_index_stale{table="tickets"}'] == 0


def test_a_new_index_is_swapped_in_under_load_without_a_failed_or_mixed_answer(service, lakehouse, spark):
    port, config = service["port"], lakehouse["config"]
    _, before = service["client"].call("GET", "/v1/tables", headers=AUTH)
    old_version = before["tables"][0]["index_version"]
    answers, failures, stop = [], [], threading.Event()
    _, best = service["client"].search(query=QUERY, k=1, mode="vector")
    like = best["hits"][0]["document_id"]

    def query(mode: str) -> None:
        client = Client(port)
        while not stop.is_set():
            try:
                status, answer = client.search(query=QUERY, k=5, mode=mode)
            except Exception as error:  # a dropped connection is a failure too
                failures.append(repr(error))
                continue
            if status != 200:
                failures.append((status, answer))
            else:
                answers.append(answer)

    threads = [threading.Thread(target=query, args=(mode,)) for mode in ("vector", "keyword", "hybrid")]
    for thread in threads:
        thread.start()
    try:
        # a new chunk whose vector is the best one's and whose words are the query's, then a new index
        new_version = add_chunk(spark, config, 9001, f"{QUERY}, says the quokka of ORD-99173", like)
        assert run_job("build_index", config, spark=spark).succeeded
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(a["index_version"] == new_version for a in answers):
            time.sleep(0.1)
        time.sleep(0.5)  # more answers from the new version
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures[:5]
    versions = {answer["index_version"] for answer in answers}
    assert versions == {old_version, new_version}, versions
    for answer in answers:
        found = any(hit["document_id"] == 9001 for hit in answer["hits"])
        # the new ticket is in every answer of the new version, and in none of the old one
        assert found == (answer["index_version"] == new_version), answer
        assert answer["table_version"] >= answer["index_version"]
    _, metrics = service["client"].call("GET", "/metrics")
    assert 'lakehouse_serve_index_reloads_total{table="tickets"} 1.0' in metrics


def test_staleness_is_reported_once_the_table_moves(service, lakehouse, spark):
    client = service["client"]
    latest = add_chunk(spark, lakehouse["config"], 9002, "a chunk the index does not have", 1)
    status, answer = client.search(query="refund", k=2)
    assert status == 200 and answer["stale"] is True
    assert answer["table_version"] == latest > answer["index_version"]
    assert any("stale index" in note for note in answer["notes"])
    _, listing = client.call("GET", "/v1/tables", headers=AUTH)
    assert listing["tables"][0]["stale"] is True and listing["tables"][0]["table_version"] == latest
    status, answer = client.call("POST", "/v1/tables/tickets/context", {"query": "refund"}, AUTH)
    assert status == 200 and answer["stale"] is True


def test_serving_an_unknown_table_is_refused_before_starting(lakehouse, capsys, monkeypatch):
    from lakehouse.cli import main

    monkeypatch.setenv("LAKEHOUSE_ROOT", lakehouse["environ"]["LAKEHOUSE_ROOT"])
    code = main(["serve", "--conf-dir", str(lakehouse["conf"]), "--env", "local", "--tables", "tickts"])
    assert code == 2
    error = capsys.readouterr().err
    assert "'tickts' is not in embeddings.tables" in error and "did you mean 'tickets'?" in error
