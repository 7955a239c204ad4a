"""The bodies the search service accepts, checked field by field before any search runs.

A body that is not what the API takes is a :class:`RequestError` naming the field at fault
(``query``, ``k``, ``filters.channel``, ``body``); the service answers it as
``{"error": {"field": ..., "message": ...}}`` with its status, never with a trace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from lakehouse.config.serve import ServeSettings
from lakehouse.errors import VectorSearchError, did_you_mean
from lakehouse.search import filters as filtering

MODES = ("vector", "keyword", "hybrid")
# columns of every embedding table a filter or `select` may name beside the metadata columns
IDENTITY_COLUMNS = ("document_id", "chunk_id")


class RequestError(Exception):
    """A request the service refuses: its HTTP status, the field at fault and why."""

    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict[str, Any]:
        return {"error": {"field": self.field, "message": self.message}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FilterValue = StrictStr | int | float | bool | None | list[Any] | dict[str, Any]


class SearchBody(_Body):
    """``POST /v1/tables/{table}/search``."""

    query: StrictStr
    k: StrictInt = 10
    filters: dict[str, FilterValue] | list[StrictStr] | None = None
    mode: Literal["vector", "keyword", "hybrid"] | None = None
    select: list[StrictStr] | None = None


class ContextBody(_Body):
    """``POST /v1/tables/{table}/context``."""

    query: StrictStr
    max_tokens: StrictInt | None = None
    k: StrictInt = 10
    filters: dict[str, FilterValue] | list[StrictStr] | None = None
    mode: Literal["vector", "keyword", "hybrid"] | None = None
    windows_per_document: StrictInt = Field(default=1)


@dataclass(frozen=True)
class TableColumns:
    """What a request on one table may name: its metadata columns (filters and ``select``)."""

    table: str
    metadata: tuple[str, ...]

    @property
    def filterable(self) -> tuple[str, ...]:
        return (*IDENTITY_COLUMNS, *self.metadata)


def read_json(body: bytes) -> dict[str, Any]:
    """The request's JSON object.

    Raises:
        RequestError: 400 for a body that is not UTF-8 JSON or not an object.
    """
    if not body.strip():
        raise RequestError(400, "body", 'the body is empty; send a JSON object, e.g. {"query": "..."}')
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError(400, "body", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RequestError(
            400, "body", f"malformed JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except RecursionError:
        raise RequestError(400, "body", "the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(400, "body", f"expected a JSON object, got {_json_kind(data)}")
    return data


def parse_search(data: Mapping[str, Any], settings: ServeSettings, columns: TableColumns) -> SearchBody:
    """A search body, each field within the configured limits and naming only the table's columns.

    Raises:
        RequestError: 422 naming the field that is missing, of the wrong type or out of bounds.
    """
    body = _validate(SearchBody, data)
    _check_query(body.query, settings)
    _check_k(body.k, settings)
    _check_filters(body.filters, columns)
    for number, column in enumerate(body.select or []):
        if column not in columns.metadata:
            raise RequestError(
                422,
                f"select[{number}]",
                f"{column!r} is not a metadata column of {columns.table}; "
                f"{did_you_mean(column, columns.metadata, 'metadata columns')}",
            )
    return body


def parse_context(data: Mapping[str, Any], settings: ServeSettings, columns: TableColumns) -> ContextBody:
    """A context body (see :func:`parse_search`); ``max_tokens`` defaults to
    ``serve.default_context_tokens`` and may not exceed ``serve.max_tokens``."""
    body = _validate(ContextBody, data)
    _check_query(body.query, settings)
    _check_k(body.k, settings)
    _check_filters(body.filters, columns)
    if body.max_tokens is None:
        body = body.model_copy(update={"max_tokens": settings.default_context_tokens})
    elif not 1 <= body.max_tokens <= settings.max_tokens:
        raise RequestError(
            422,
            "max_tokens",
            f"must be between 1 and {settings.max_tokens} (serve.max_tokens), got {body.max_tokens}",
        )
    if not 1 <= body.windows_per_document <= 10:
        raise RequestError(
            422, "windows_per_document", f"must be between 1 and 10, got {body.windows_per_document}"
        )
    return body


def _validate(model: type[_Body], data: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = first["loc"]
        field = _field_name(location)
        if first["type"] == "extra_forbidden":
            allowed = list(model.model_fields)
            message = f"unknown field; {did_you_mean(str(location[-1]), allowed, 'fields')}"
        elif first["type"] == "missing":
            message = "required"
        elif field == "mode":
            message = f"must be one of {', '.join(MODES)}, got {_short(first.get('input'))}"
        else:
            message = f"{first['msg']}, got {_short(first.get('input'))}"
        raise RequestError(422, field, message) from None


def _field_name(location: Sequence[Any]) -> str:
    """``('select', 2)`` as ``select[2]``, ``('filters', 'dict[...]', 'channel')`` as ``filters.channel``."""
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool", "none"}):
            continue  # the union branch pydantic tried
        else:
            parts.append(str(part))
    return ".".join(parts) or "body"


def _check_query(query: str, settings: ServeSettings) -> None:
    if not query.strip():
        raise RequestError(422, "query", "is empty; give the text to search for")
    if len(query) > settings.max_query_chars:
        raise RequestError(
            422,
            "query",
            f"is {len(query)} characters, above the limit of {settings.max_query_chars} "
            "(serve.max_query_chars)",
        )


def _check_k(k: int, settings: ServeSettings) -> None:
    if not 1 <= k <= settings.max_k:
        raise RequestError(422, "k", f"must be between 1 and {settings.max_k} (serve.max_k), got {k}")


def _check_filters(filters: Any, columns: TableColumns) -> None:
    """Filters parse into conditions on the table's columns (their values are typed by the search)."""
    if not filters:
        return
    # one entry at a time, so that the error names the entry at fault
    entries = (
        [(f"filters.{column}", {column: value}) for column, value in filters.items()]
        if isinstance(filters, Mapping)
        else [(f"filters[{number}]", [text]) for number, text in enumerate(filters)]
    )
    conditions = []
    for field, entry in entries:
        try:
            conditions += filtering.parse(entry)
        except VectorSearchError as error:
            raise RequestError(422, field, str(error)) from None
        except TypeError:  # an "in" bound that is not a list
            raise RequestError(422, field, "an 'in' filter takes a list of values") from None
    for condition in conditions:
        if condition.column not in columns.filterable:
            raise RequestError(
                422,
                f"filters.{condition.column}",
                f"not a filterable column of {columns.table}; "
                f"{did_you_mean(condition.column, columns.filterable, 'filterable')}",
            )
        values = condition.value if condition.op == "in" else (condition.value,)
        for value in values:
            if isinstance(value, dict | list) or value is None:
                raise RequestError(
                    422,
                    f"filters.{condition.column}",
                    f"{_short(value)} is not a value to compare with "
                    "(give a number, text, true/false or a date)",
                )


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
