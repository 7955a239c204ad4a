"""Build the gold business tables of ``gold.tables`` (conf/base/gold.yml) from their sources.

Each table names its builder, a ``package.module:function``, and how the builder's rows reach it
(``mode``); :data:`BUILD_MODES` is the one table of those kinds:

- ``full``: the builder is a pure function of the sources' DataFrames (``{table: DataFrame}``)
  returning the table's rows; the table is overwritten whole whenever a source has changed.
- ``incremental``: the builder writes itself, through the table store, from the sources and, after
  the first run, their changes since the last run (Delta's change data feed, old and new side of
  each change), e.g. replacing the dates or merging the keys the changes touched.

Either way a table whose sources have not changed since the versions recorded in
``ops.table_progress`` is skipped without reading anything; each write is followed by OPTIMIZE
with Z-ordering on ``zorder_by`` (the columns readers filter by), and the versions read are
recorded last.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

from lakehouse.config.gold import GoldTableSettings
from lakehouse.errors import ConfigError, TableNotFoundError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.progress import last_source_version, record_source_versions
from lakehouse.io.table_spec import TableSpec


@dataclass
class GoldResult:
    """What one run did to one gold table."""

    table: str
    mode: str = ""  # full | incremental | skipped
    rows: int = 0
    touched: str = ""  # what the changes touched, e.g. "3 order dates"
    files: dict[str, int] = field(default_factory=dict)  # OPTIMIZE's files added and removed


@dataclass(frozen=True)
class GoldTable:
    """A gold business table as its builder sees it (from ``gold.tables.<name>``).

    Attributes:
        name: the table, ``gold.<name>``.
        sources: the tables it is built from.
        key: its key columns.
        zorder_by: the columns OPTIMIZE Z-orders by after each write.
        comment: the table's comment.
        mode: ``full`` or ``incremental`` (see the module docstring).
        build: the builder function.
    """

    name: str
    sources: tuple[str, ...]
    key: tuple[str, ...]
    zorder_by: tuple[str, ...]
    comment: str
    mode: str
    build: Callable

    @classmethod
    def from_settings(cls, name: str, settings: GoldTableSettings) -> GoldTable:
        """The table ``gold.<name>`` declared by ``settings``, with its builder loaded.

        Raises:
            ConfigError: the builder cannot be loaded (see :func:`load_builder`).
        """
        return cls(
            name=gold_table_name(name),
            sources=tuple(settings.sources),
            key=tuple(settings.key),
            zorder_by=tuple(settings.zorder_by or settings.key),
            comment=settings.comment,
            mode=settings.mode,
            build=load_builder(settings.builder),
        )

    def spec(self, rows: DataFrame) -> TableSpec:
        """The declaration of the table for ``rows``: its key and comment, new columns added."""
        return TableSpec(
            name=self.name, schema=rows.schema, key=self.key, comment=self.comment, drift="evolve"
        )


def gold_table_name(name: str) -> str:
    """The table of ``gold.tables.<name>``: ``gold.<name>``."""
    return f"gold.{name}"


def load_builder(reference: str) -> Callable:
    """The function a builder reference ``package.module:function`` names.

    Args:
        reference: ``package.module:function``.

    Returns:
        The function.

    Raises:
        ConfigError: the reference is malformed, the module cannot be imported, or it has no such
            callable (with a did-you-mean among the module's functions).
    """
    module_name, separator, attribute = reference.partition(":")
    if not separator or not module_name or not attribute:
        raise ConfigError(f"builder {reference!r}: expected package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"builder {reference!r}: cannot import module {module_name!r} ({type(error).__name__}: {error})"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        public = [
            name for name, value in vars(module).items() if callable(value) and not name.startswith("_")
        ]
        close = difflib.get_close_matches(attribute, public, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"builder {reference!r}: module {module_name} has no function {attribute!r}{hint}")
    return function


def build_full(
    store: DeltaStore,
    table: GoldTable,
    current: Mapping[str, DataFrame],
    changes: Mapping[str, DataFrame] | None,
) -> tuple[int, str]:
    """Mode ``full``: overwrite the table with the builder's rows of the current sources.

    Returns:
        The rows written, and what they cover (``everything``).
    """
    rows = table.build(dict(current))
    if not isinstance(rows, DataFrame):
        raise ConfigError(
            f"gold table {table.name}: builder {table.build.__module__}:{table.build.__name__} returned "
            f"{type(rows).__name__}, not a DataFrame (a builder of mode full returns the table's rows)"
        )
    return store.overwrite(table.name, rows, spec=table.spec(rows)), "everything"


def build_incremental(
    store: DeltaStore,
    table: GoldTable,
    current: Mapping[str, DataFrame],
    changes: Mapping[str, DataFrame] | None,
) -> tuple[int, str]:
    """Mode ``incremental``: the builder writes the table itself from the sources and their changes.

    Returns:
        The builder's ``(rows written, what the changes touched)``.
    """
    return table.build(store, table, current, changes)


# how a builder's result reaches its table, by gold.tables.<name>.mode
BUILD_MODES: dict[str, Callable[..., tuple[int, str]]] = {
    "full": build_full,
    "incremental": build_incremental,
}


def _versions(tables: DeltaStore, table: GoldTable, full_refresh: bool) -> tuple[dict, dict]:
    missing = [s for s in table.sources if not tables.exists(s)]
    if missing:
        raise TableNotFoundError(f"{table.name}: needs {missing}; build them first (e.g. run silver_refine)")
    now = {s: tables.version(s) for s in table.sources}
    last = {
        s: None if full_refresh else last_source_version(tables.spark, tables.layout, table.name, s)
        for s in table.sources
    }
    return now, last


def build_gold_table(
    tables: DeltaStore, run_id: str, table: GoldTable, full_refresh: bool = False
) -> GoldResult:
    """Bring one gold table up to date with its sources (see the module docstring).

    Args:
        tables: the run's table store (its writes are recorded with the run).
        run_id: the run, recorded with the source versions it read.
        table: the table, its sources and builder.
        full_refresh: build the table whole, whatever the versions read before.

    Returns:
        What the run did: the mode (``full``, ``incremental``, ``skipped``), rows written, what the
        changes touched, and OPTIMIZE's file counts.

    Raises:
        TableNotFoundError: a source table does not exist yet.
    """
    now, last = _versions(tables, table, full_refresh)
    result = GoldResult(table.name)
    whole = not tables.exists(table.name) or any(v is None for v in last.values())
    if not whole and all(last[s] == now[s] for s in table.sources):
        result.mode = "skipped"
        return result
    incremental = table.mode == "incremental"
    if whole and incremental:
        for source in table.sources:  # so that the next run reads only the changes
            tables.enable_change_feed(source)
        now = {s: tables.version(s) for s in table.sources}
    current = {s: tables.read(s, version=now[s]) for s in table.sources}
    changes = (
        None
        if whole or not incremental
        else {s: tables.changes(s, last[s], now[s], with_old_rows=True) for s in table.sources}
    )
    result.mode = "full" if changes is None else "incremental"
    result.rows, result.touched = BUILD_MODES[table.mode](tables, table, current, changes)
    if result.rows:
        result.files = tables.optimize(table.name, table.zorder_by)
    record_source_versions(tables.spark, tables.layout, table.name, now, run_id)
    return result
