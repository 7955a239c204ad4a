"""The search service: the embedding tables of ``embeddings.yml`` over HTTP, without Spark.

Routes (JSON; ``/v1`` needs ``Authorization: Bearer <key>`` when keys are configured):

- ``GET /v1/tables``: each served table with its Delta version, index version, model, rows, staleness;
- ``POST /v1/tables/{table}/search``: ``{query, k, filters, mode, select}`` -> ranked hits;
- ``POST /v1/tables/{table}/context``: ``{query, max_tokens, k, filters, windows_per_document}`` ->
  passages for grounding a prompt, each with its citation;
- ``GET /health``: 200 once every table's index is loaded, 503 before (or when one failed);
- ``GET /metrics``: Prometheus text format.

One :class:`~lakehouse.search.api.Searcher` per table answers, loaded once in the background at
start (``/health`` says when). Every search runs in a worker thread, at most
``serve.search_threads`` at once, so the event loop keeps accepting requests. A background task per
table calls ``Searcher.reload()`` every ``serve.reload_seconds``: a new index (its ``CURRENT``
pointer moved) is loaded beside the old one and swapped in whole, so a request sees one version.
A refused request gets ``{"error": {"field", "message"}}`` and a 4xx status; an unexpected failure
is logged with its trace and answered 500 with a generic message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
import pandas as pd
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import FilterValueError, LakehouseError, VectorSearchError, did_you_mean
from lakehouse.serve.auth import ApiKeys
from lakehouse.serve.metrics import CONTENT_TYPE, ServiceMetrics
from lakehouse.serve.requests import (
    RequestError,
    TableColumns,
    parse_context,
    parse_search,
    read_json,
)

log = logging.getLogger("lakehouse.serve")
# a body above serve.max_body_bytes but below this is read and dropped before the 413 (see _read_body)
DRAIN_BYTES = 1 << 20
SearcherFactory = Callable[[LakehouseConfig, str], Any]


def served_tables(config: LakehouseConfig, tables: Iterable[str] | None = None) -> list[str]:
    """The tables to serve: ``tables`` if given, else ``serve.tables``, else every table of
    ``embeddings.tables`` not set ``enabled: false``.

    Raises:
        VectorSearchError: a name that is not in ``embeddings.tables``, or no table at all.
    """
    enabled = [name for name, table in config.embeddings.tables.items() if getattr(table, "enabled", True)]
    names = list(tables or config.serve.tables or enabled)
    known = list(config.embeddings.tables)
    for name in names:
        if name not in config.embeddings.tables:
            raise VectorSearchError(
                f"serve.tables / --tables: {name!r} is not in embeddings.tables (embeddings.yml); "
                f"{did_you_mean(name, known)}"
            )
    if not names:
        raise VectorSearchError("nothing to serve: embeddings.tables (embeddings.yml) is empty")
    return names


def default_searcher(config: LakehouseConfig, name: str) -> Any:
    """The search core's Searcher of one table, loaded without Spark."""
    from lakehouse.search.api import Searcher

    return Searcher(config, name)


@dataclass
class TableState:
    """One served table: its searcher once loaded, or why it is not."""

    name: str
    columns: TableColumns
    searcher: Any = None
    problem: str | None = "loading"


@dataclass
class SearchService:
    """The state the routes share: settings, keys, metrics, and one :class:`TableState` per table."""

    config: LakehouseConfig
    tables: dict[str, TableState]
    keys: ApiKeys
    metrics: ServiceMetrics
    make_searcher: SearcherFactory = default_searcher
    search_limiter: anyio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.search_limiter = anyio.CapacityLimiter(self.config.serve.search_threads)

    @property
    def settings(self):
        return self.config.serve

    async def keep_in_step(self) -> None:
        """Load every table, then check each for a new index every ``serve.reload_seconds``."""
        async with anyio.create_task_group() as group:
            for state in self.tables.values():
                group.start_soon(self._keep_table_in_step, state)

    async def _keep_table_in_step(self, state: TableState) -> None:
        interval = self.settings.reload_seconds
        while state.searcher is None:
            try:
                state.searcher = await anyio.to_thread.run_sync(
                    self.make_searcher, self.config, state.name, abandon_on_cancel=True
                )
                # usable once its status says its index loaded (next line of this loop)
                state.problem = "checking its index"
                log.info("serving %s", state.name)
            except LakehouseError as error:
                if str(error) != state.problem:  # said once, not every interval
                    log.warning(
                        "table %s cannot be served yet: %s (trying again every %ss)",
                        state.name,
                        error,
                        interval,
                    )
                state.problem = str(error)
            except Exception:
                state.problem = "failed to load; see the service's log"
                log.exception("table %s failed to load (trying again in %ss)", state.name, interval)
            if state.searcher is None:
                await anyio.sleep(interval)
        await self._refresh_status(state)
        while True:
            await anyio.sleep(interval)
            try:
                swapped = await anyio.to_thread.run_sync(state.searcher.reload, abandon_on_cancel=True)
            except Exception:  # a broken new version: keep answering from the loaded one
                log.exception("table %s: reload failed; still serving the loaded index", state.name)
                continue
            if swapped:
                self.metrics.reloads.labels(state.name).inc()
                log.info("table %s: swapped in a new index", state.name)
            await self._refresh_status(state)

    async def _refresh_status(self, state: TableState) -> None:
        """Read the table's status (its Delta log: file system I/O, so in a thread): whether its index
        can answer, which requests check without I/O, and the gauges."""
        try:
            status = await anyio.to_thread.run_sync(self.status_of, state, abandon_on_cancel=True)
        except Exception:
            log.exception("table %s: status failed", state.name)
            return
        problem = status.get("problem")
        if problem != state.problem:
            if problem is None:
                log.info("table %s: answering from index %s", state.name, status.get("index_folder"))
            else:
                log.warning("table %s cannot be searched: %s", state.name, problem)
        state.problem = problem
        self.metrics.set_table(
            state.name, status.get("table_version"), status.get("index_version"), bool(status.get("stale"))
        )

    def status_of(self, state: TableState) -> dict[str, Any]:
        if state.searcher is None:
            return {"table": state.name, "loaded": False, "problem": state.problem}
        status = dict(_plain(_as_mapping(state.searcher.status())))
        status["delta_table"] = status.pop("table", None)
        return {"table": state.name, "loaded": status.get("problem") is None, **status}

    def all_loaded(self) -> bool:
        return all(self.problem_of(state) is None for state in self.tables.values())

    def problem_of(self, state: TableState) -> str | None:
        """Why ``state`` cannot answer from its index (None: it can), as of the last status check.
        A table without a usable index is not searched at all: the search core's fallback, exact
        search, would start Spark. Once loaded, an index is only ever replaced by another loaded one."""
        return state.problem

    def table(self, name: str) -> TableState:
        state = self.tables.get(name)
        if state is None:
            raise RequestError(
                404, "table", f"no table {name!r} is served; {did_you_mean(name, self.tables, 'served')}"
            )
        problem = self.problem_of(state)
        if problem is not None:
            raise RequestError(503, "table", f"table {name!r} cannot be searched yet: {problem}")
        return state

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in a worker thread, at most ``serve.search_threads`` at once."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.search_limiter)


def create_app(
    config: LakehouseConfig,
    tables: Iterable[str] | None = None,
    keys: ApiKeys | None = None,
    make_searcher: SearcherFactory = default_searcher,
) -> Starlette:
    """The ASGI application serving ``tables`` (default: see :func:`served_tables`).

    Args:
        config: the environment's configuration (``serve:`` and ``embeddings:``).
        tables: names of ``embeddings.tables`` to serve.
        keys: the API keys; default: from the variables named by ``serve.api_key_variables``.
        make_searcher: builds one table's searcher (default: the search core's, without Spark).

    Raises:
        VectorSearchError: an unknown table name.
    """
    names = served_tables(config, tables)
    service = SearchService(
        config,
        {
            name: TableState(name, TableColumns(name, tuple(config.embeddings.tables[name].metadata)))
            for name in names
        },
        keys if keys is not None else ApiKeys.from_environment(config.serve.api_key_variables),
        ServiceMetrics(),
        make_searcher,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        log.info(
            "lakehouse serve: tables %s; API keys %s",
            ", ".join(names),
            f"required ({len(service.keys)})" if service.keys.required else "not required",
        )
        async with anyio.create_task_group() as group:
            group.start_soon(service.keep_in_step)
            yield
            group.cancel_scope.cancel()

    routes = [
        Route("/v1/tables", _endpoint(service, "tables", _list_tables), methods=["GET"]),
        Route("/v1/tables/{table}/search", _endpoint(service, "search", _search), methods=["POST"]),
        Route("/v1/tables/{table}/context", _endpoint(service, "context", _context), methods=["POST"]),
        Route("/health", _endpoint(service, "health", _health, public=True), methods=["GET"]),
        Route("/metrics", _endpoint(service, "metrics", _metrics, public=True), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error(service)},
    )
    app.state.service = service
    return app


Handler = Callable[[SearchService, Request], Awaitable[Response]]


def _endpoint(service: SearchService, name: str, handler: Handler, public: bool = False):
    """A route around ``handler``: API key check, JSON errors, metrics."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        table = request.path_params.get("table", "")
        table = table if table in service.tables else ""  # never a client's text as a label
        try:
            if not public and not service.keys.allows(request.headers.get("authorization")):
                raise RequestError(
                    401, "authorization", "a valid API key is required: send Authorization: Bearer <key>"
                )
            response = await handler(service, request)
        except RequestError as error:
            response = _json(error.body(), error.status)
            if error.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            response = _json(
                {"error": {"field": None, "message": "internal error; the service's log has the details"}},
                500,
            )
        service.metrics.observe(name, table, response.status_code, time.perf_counter() - started)
        return response

    return endpoint


def _http_error(service: SearchService):
    """Routing's own errors (no such path, wrong method) as JSON."""

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 404:
            message = f"no route {request.url.path}; see /v1/tables, /health, /metrics"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(error.detail)
        service.metrics.observe(
            "not_found" if error.status_code == 404 else "other", "", error.status_code, 0.0
        )
        return _json({"error": {"field": None, "message": message}}, error.status_code, error.headers)

    return handle


async def _list_tables(service: SearchService, request: Request) -> Response:
    tables = [await anyio.to_thread.run_sync(service.status_of, state) for state in service.tables.values()]
    return _json({"tables": tables})


async def _search(service: SearchService, request: Request) -> Response:
    state = service.table(request.path_params["table"])
    body = parse_search(await _read_body(request, service), service.settings, state.columns)
    filters = body.filters or None
    result = (await service.run(_search_one, state.searcher, body.query, body.k, filters, body.mode))[0]
    selected = body.select if body.select is not None else list(state.columns.metadata)
    hits = [
        {
            "rank": hit.rank,
            "document_id": hit.document_id,
            "chunk_id": hit.chunk_id,
            "score": hit.score,
            "text": hit.text,
            "title": getattr(hit, "title", None),
            "metadata": {column: hit.metadata.get(column) for column in selected},
            "vector_rank": getattr(hit, "vector_rank", None),
            "keyword_rank": getattr(hit, "keyword_rank", None),
        }
        for hit in result.hits
    ]
    return _json(
        {
            "table": state.name,
            "delta_table": result.table,
            "query": body.query,
            "mode": getattr(result, "mode", body.mode),
            "method": result.method,
            "table_version": result.table_version,
            "index_version": result.index_version,
            "stale": result.stale,
            "notes": list(result.notes),
            "hits": hits,
        }
    )


def _search_one(searcher: Any, query: str, k: int, filters: Any, mode: str | None) -> Any:
    try:
        return searcher.search(query, k=k, filters=filters, mode=mode)
    except VectorSearchError as error:
        raise _refusal(error) from None


async def _context(service: SearchService, request: Request) -> Response:
    state = service.table(request.path_params["table"])
    body = parse_context(await _read_body(request, service), service.settings, state.columns)
    result = await service.run(_context_of, state.searcher, body)
    answer = {key: value for key, value in _plain(_as_mapping(result)).items() if key != "passages"}
    passages = [
        {
            **_plain(_as_mapping(passage)),
            # the text comes from the index, so from the table version the index reflects
            "citation": {
                "table": result.table,
                "table_version": result.index_version,
                "document_id": _plain(passage.document_id),
                "chunk_ids": _plain(passage.chunk_ids),
                "score": _plain(passage.score),
            },
        }
        for passage in result.passages
    ]
    answer["delta_table"] = answer.pop("table", None)
    return _json({"table": state.name, **answer, "passages": passages})


def _context_of(searcher: Any, body: Any) -> Any:
    try:
        return searcher.context(
            body.query,
            max_tokens=body.max_tokens,
            k=body.k,
            filters=body.filters or None,
            mode=body.mode,
            windows_per_document=body.windows_per_document,
        )
    except VectorSearchError as error:
        raise _refusal(error) from None


def _refusal(error: VectorSearchError) -> RequestError:
    """The search core's refusal as the client's error: a filter value that does not fit its column's
    type names the column; anything else the core refuses is said as it is (its messages are typed
    and written for users)."""
    if isinstance(error, FilterValueError):
        return RequestError(422, f"filters.{error.column}", str(error))
    return RequestError(422, None, str(error))


async def _health(service: SearchService, request: Request) -> Response:
    tables = {state.name: service.problem_of(state) or "loaded" for state in service.tables.values()}
    ready = service.all_loaded()
    return _json({"status": "ready" if ready else "loading", "tables": tables}, 200 if ready else 503)


async def _metrics(service: SearchService, request: Request) -> Response:
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)


async def _read_body(request: Request, service: SearchService) -> dict[str, Any]:
    """The request's JSON object, refused with 413 past ``serve.max_body_bytes`` (read no further)."""
    limit = service.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and not declared.strip().isdigit():
        raise RequestError(400, "content-length", f"not a number of bytes: {declared!r}")
    too_big = RequestError(
        413,
        "body",
        f"{declared} bytes, above the limit of {limit} (serve.max_body_bytes)"
        if declared is not None
        else f"more than {limit} bytes (serve.max_body_bytes)",
    )
    if declared is not None and int(declared) > DRAIN_BYTES:
        raise too_big  # not read at all: the connection is closed after the answer
    received, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            received += chunk
        elif size > DRAIN_BYTES:
            raise too_big
    # a body a little too big is read (and dropped) before answering: closing a connection with
    # unread bytes resets it, and the client would lose the answer
    if size > limit:
        raise too_big
    return read_json(bytes(received))


def _json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(_plain(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status, headers, media_type="application/json")


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    if hasattr(value, "_asdict"):
        return value._asdict()
    return vars(value)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy and pandas scalars as Python values, times as ISO text, NaN as null."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return _plain(_as_mapping(value))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool):
        return value
    if _is_missing(value):  # before dates: pandas' NaT is a datetime
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, int):
        return value
    if hasattr(value, "isoformat"):  # pandas.Timestamp
        return value.isoformat()
    return str(value)


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
