"""Land the demo shop's data: daily files in the landing folders, customers and products in its database.

For day ``d`` (date ``D``, ISO ``YYYY-MM-DD``) :func:`land_day` writes

- ``<landing>/orders/D/orders-D.csv``: a header line, then the order records (CSV, with the
  mess of :func:`lakehouse.demo.generator.build_orders`);
- ``<landing>/order_lines/D/order_lines-D.parquet``;
- ``<landing>/tickets/D/tickets-D.jsonl``: one JSON object a line;
- ``<truth>/ticket_topics/day=D/ticket_topics-D.parquet`` (``ticket_id``, ``topic``) and
  ``<truth>/customer_churn/day=D/customer_churn-D.parquet``: ground truth, never landed, in
  partition folders so that ``spark.read.parquet("<truth>/ticket_topics")`` reads every day
  (with a ``day`` column);
- ``<truth>/search_queries/search_queries.parquet`` (``query_id``, ``query``) and
  ``<truth>/search_relevance/day=D/`` (``query_id``, ``document_id``: the day's tickets about each
  query's topic): the labelled set of the retrieval evaluation;
- ``<truth>/ticket_lookups/queries/day=D/`` (``query_id``, ``query``, ``kind``) and
  ``<truth>/ticket_lookups/relevance/day=D/`` (``query_id``, ``document_id``): lookups of the order
  numbers, phone numbers and product names the day's tickets mention, and the tickets that mention
  them (:mod:`lakehouse.demo.lookups`);
- and, given a connection, upserts the day's new and changed rows into the tables
  ``customers`` and ``products`` (created when missing; day 0 is the initial load).

The history (days ``0 .. scale.history_days - 1``) lands first and at once, by
:func:`land_history`: ``<landing>/<source>/history/<source>-<first date>-to-<last date>.<ext>``
for orders (each order once, at its latest status), order lines and tickets, its ground truth in
the partitions of its last date, and the database as it stands at its end.

A day bigger than ``rows_per_file`` rows is split into parts named ``<stem>-00000``,
``<stem>-00001`` ... (each CSV part with its header). Files are written by Spark into a staging
folder (``<root>/_staging``), then renamed into their day folder, so a reader never sees a
half-written file under its final name; the rename goes through Hadoop's ``FileSystem``, so
local folders and ``abfss://`` roots work alike.

Landing a day again writes the same files under the same names and leaves the database as it
was: the data is a function of ``(seed, scale, day)``, and a database row is only replaced by
one whose ``updated_at`` is not older, so relanding an earlier day never undoes a later one.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.demo.generator import (
    ORDER_LINES_PER_ORDER,
    DemoScale,
    build_customer_churn,
    build_customer_snapshot,
    build_customers,
    build_order_history,
    build_order_line_history,
    build_order_lines,
    build_orders,
    build_product_snapshot,
    build_products,
    build_ticket_history,
    build_tickets,
    format_orders_csv,
    format_tickets_json,
    orders_csv_header,
    search_queries,
)
from lakehouse.demo.lookups import ticket_lookups
from lakehouse.io.files import hadoop_path
from lakehouse.io.jdbc import JdbcConnection, execute, write

log = logging.getLogger(__name__)

DEFAULT_ROWS_PER_FILE = 1_000_000
CUSTOMERS_TABLE = "customers"
PRODUCTS_TABLE = "products"
# The shop's tables (PostgreSQL). email and phone may be null: the shop never enforced them.
DATABASE_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {CUSTOMERS_TABLE} (
    customer_id BIGINT PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    segment TEXT NOT NULL,
    signup_date DATE NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
)""",
    f"CREATE INDEX IF NOT EXISTS {CUSTOMERS_TABLE}_updated_at ON {CUSTOMERS_TABLE} (updated_at)",
    f"""CREATE TABLE IF NOT EXISTS {PRODUCTS_TABLE} (
    product_id BIGINT PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    brand TEXT NOT NULL,
    description TEXT NOT NULL,
    price NUMERIC(10, 2) NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
)""",
    f"CREATE INDEX IF NOT EXISTS {PRODUCTS_TABLE}_updated_at ON {PRODUCTS_TABLE} (updated_at)",
)


def land_day(
    spark: SparkSession,
    landing_root: str,
    truth_root: str,
    connection: JdbcConnection | None,
    scale: DemoScale,
    day_index: int,
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
) -> dict[str, int]:
    """Land one day of demo data (see the module docstring for what goes where).

    Args:
        spark: the session.
        landing_root: folder (or URI) of the landing area; entity folders are created below it.
        truth_root: folder (or URI) of the ground truth.
        connection: the shop database, or None to land files only.
        scale: what to generate.
        day_index: the day, ``scale.history_days .. scale.days - 1`` (the history's days land
            together, :func:`land_history`).
        rows_per_file: most rows in one file; a bigger day is split into parts.

    Returns:
        Rows written per entity: ``orders`` (CSV data lines), ``order_lines``, ``tickets``
        (JSON lines), ``ticket_topics``, ``search_relevance`` and ``ticket_lookups`` (labelled
        pairs), ``customer_churn``, and with a connection
        ``customers`` and ``products`` (rows upserted).

    Raises:
        TypeError, ValueError: a bad argument.
        OSError: a file could not be moved into its day folder.
        DatabaseError: the database refused a statement.
    """
    _check_arguments(landing_root, truth_root, connection, scale, day_index, rows_per_file)
    if day_index < scale.history_days:
        raise ValueError(
            f"day_index {day_index} is in the history (days 0 .. {scale.history_days - 1}), "
            "which land_history writes as one export"
        )
    date = scale.date_of(day_index).isoformat()
    counts = scale.counts(day_index)
    drop = _Drop(spark, landing_root, truth_root, rows_per_file, folder=date, name=date, truth_day=date)
    written = {
        "orders": drop.orders(
            build_orders(spark, scale, day_index), orders_csv_header(scale, day_index), counts.order_records
        ),
        "order_lines": drop.order_lines(build_order_lines(spark, scale, day_index), counts.orders),
        **drop.tickets(
            build_tickets(spark, scale, day_index),
            counts.tickets,
            build_product_snapshot(spark, scale, day_index),
        ),
        "customer_churn": drop.churn(build_customer_churn(spark, scale, day_index), counts.new_customers),
    }
    if connection is not None:
        written.update(land_database_day(spark, connection, scale, day_index))
    return written


def land_history(
    spark: SparkSession,
    landing_root: str,
    truth_root: str,
    connection: JdbcConnection | None,
    scale: DemoScale,
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
) -> dict[str, int]:
    """Land the history (days ``0 .. scale.history_days - 1``) as one export per source.

    ``<landing>/<source>/history/<source>-<first date>-to-<last date>.<ext>`` for orders (every
    order with its latest status), order lines and tickets; the ground truth in the partition of
    the history's last date; and, given a connection, the database as it stands at the end of
    the history (each customer and product at its latest state). Generated in one pass, not a
    day at a time: the history of 90 days costs about what one day does.

    Returns:
        Rows written per entity, as :func:`land_day` counts them.

    Raises:
        TypeError, ValueError: a bad argument, or a scale without history.
    """
    last = scale.history_days - 1
    _check_arguments(landing_root, truth_root, connection, scale, max(last, 0), rows_per_file)
    if last < 0:
        raise ValueError("scale.history_days is 0: there is no history to land")
    first_date, last_date = scale.start_date.isoformat(), scale.date_of(last).isoformat()
    name = f"{first_date}-to-{last_date}"
    drop = _Drop(
        spark, landing_root, truth_root, rows_per_file, folder="history", name=name, truth_day=last_date
    )
    orders = scale.first_order_id(last + 1) - 1
    header = orders_csv_header(scale, last)
    written = {
        "orders": drop.orders(build_order_history(spark, scale), header, orders),
        "order_lines": drop.order_lines(build_order_line_history(spark, scale), orders),
        **drop.tickets(
            build_ticket_history(spark, scale),
            scale.first_ticket_id(last + 1) - 1,
            build_product_snapshot(spark, scale, last),
        ),
        "customer_churn": drop.churn(build_customer_churn(spark, scale, 0, last), scale.customers_on(last)),
    }
    if connection is not None:
        execute(spark, connection, DATABASE_DDL)
        written[CUSTOMERS_TABLE] = _upsert_newer(
            spark, build_customer_snapshot(spark, scale, last), connection, CUSTOMERS_TABLE, "customer_id"
        )
        written[PRODUCTS_TABLE] = _upsert_newer(
            spark, build_product_snapshot(spark, scale, last), connection, PRODUCTS_TABLE, "product_id"
        )
    return written


class _Drop:
    """The files of one drop (a day, or the history) and its ground truth."""

    def __init__(
        self,
        spark: SparkSession,
        landing_root: str,
        truth_root: str,
        rows_per_file: int,
        *,
        folder: str,
        name: str,
        truth_day: str,
    ):
        self.spark, self.rows_per_file = spark, rows_per_file
        self.landing_root, self.truth_root = landing_root.rstrip("/"), truth_root.rstrip("/")
        self.folder, self.name, self.truth_day = folder, name, truth_day

    def orders(self, orders: DataFrame, header_line: str, rows: int) -> int:
        """The orders CSV (a header line in each part); returns its data lines."""
        lines = format_orders_csv(orders)
        parts = _part_count(rows, self.rows_per_file)
        header = self.spark.range(parts).select(
            F.col("id").cast("int").alias("part"),
            F.lit(0).alias("rank"),  # the header comes first in each part
            F.lit(None).cast("timestamp").alias("updated_at"),
            F.lit(None).cast("long").alias("order_id"),
            F.lit(header_line).alias("value"),
        )
        records = lines.select(
            _part(F.col("order_id"), parts),
            F.lit(1).alias("rank"),
            "updated_at",
            "order_id",
            F.col("line").alias("value"),
        )
        _publish(
            header.unionByName(records),
            "text",
            ["value"],
            ["rank", "updated_at", "order_id"],
            parts,
            staging=f"{self.landing_root}/_staging",
            folder=f"{self.landing_root}/orders/{self.folder}",
            stem=f"orders-{self.name}",
            extension=".csv",
        )
        return rows

    def order_lines(self, lines: DataFrame, orders: int) -> int:
        """The order lines Parquet; returns its rows (read from the footers)."""
        parts = _part_count(math.ceil(orders * ORDER_LINES_PER_ORDER), self.rows_per_file)
        files = _publish_parquet(
            lines,
            ["order_id", "line_no"],
            parts,
            self.landing_root,
            f"order_lines/{self.folder}",
            f"order_lines-{self.name}",
        )
        return self.spark.read.parquet(*files).count()

    def tickets(self, tickets: DataFrame, rows: int, products: DataFrame) -> dict[str, int]:
        """The tickets JSON lines and the ground truth about them: topics, the retrieval
        evaluation's labelled set and the lookups. Generated once, not once per file."""
        tickets = tickets.persist()
        try:
            parts = _part_count(rows, self.rows_per_file)
            _publish(
                format_tickets_json(tickets).select(
                    _part(F.col("ticket_id"), parts), "ticket_id", F.col("line").alias("value")
                ),
                "text",
                ["value"],
                ["ticket_id"],
                parts,
                staging=f"{self.landing_root}/_staging",
                folder=f"{self.landing_root}/tickets/{self.folder}",
                stem=f"tickets-{self.name}",
                extension=".jsonl",
            )
            topics = tickets.select("ticket_id", "topic")
            self.truth(topics, ["ticket_id"], parts, "ticket_topics")
            return {
                "tickets": rows,
                "ticket_topics": rows,
                "search_relevance": self._search_relevance(topics),
                "ticket_lookups": self._lookups(tickets, products),
            }
        finally:
            tickets.unpersist()

    def churn(self, churn: DataFrame, rows: int) -> int:
        self.truth(churn, ["customer_id"], _part_count(rows, self.rows_per_file), "customer_churn")
        return rows

    def truth(self, frame: DataFrame, order_by: list[str], parts: int, kind: str) -> list[str]:
        """``<truth>/<kind>/day=<truth day>/<kind>-<name>.parquet``."""
        return _publish_parquet(
            frame, order_by, parts, self.truth_root, f"{kind}/day={self.truth_day}", f"{kind}-{self.name}"
        )

    def _search_relevance(self, topics: DataFrame) -> int:
        """The retrieval evaluation's labelled set: the queries, and the drop's tickets relevant to each."""
        queries = search_queries(self.spark)
        relevance = topics.join(F.broadcast(queries), "topic").select(
            "query_id", F.col("ticket_id").alias("document_id")
        )
        _publish_parquet(
            queries.drop("topic"), ["query_id"], 1, self.truth_root, "search_queries", "search_queries"
        )
        self.truth(relevance, ["query_id", "document_id"], 1, "search_relevance")
        return relevance.count()

    def _lookups(self, tickets: DataFrame, products: DataFrame) -> int:
        """Exact-thing lookups (order numbers, phone numbers, product names) and the tickets naming them."""
        lookups, looked_up = ticket_lookups(tickets, products)
        for frame, kind, order_by in (
            (lookups, "queries", ["query_id"]),
            (looked_up, "relevance", ["query_id", "document_id"]),
        ):
            files = _publish(  # one file, by the lookups' ids (strings: no part by number)
                frame.select(F.lit(0).alias("part"), *frame.columns),
                "parquet",
                frame.columns,
                order_by,
                1,
                staging=f"{self.truth_root}/_staging",
                folder=f"{self.truth_root}/ticket_lookups/{kind}/day={self.truth_day}",
                stem=f"ticket_lookups_{kind}-{self.name}",
                extension=".parquet",
            )
        return self.spark.read.parquet(*files).count()  # from the footers


def land(
    spark: SparkSession,
    landing_root: str,
    truth_root: str,
    connection: JdbcConnection | None,
    scale: DemoScale,
    days: Iterable[int] | None = None,
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
) -> dict[str, dict[str, int]]:
    """Land several days in order, as :func:`land_day` does; by default the history
    (:func:`land_history`), then every later day of ``scale``.

    Returns:
        Rows written per entity, per date (``YYYY-MM-DD``), and the history's under ``history``.
    """
    landed = {}
    if days is None and scale.history_days:
        history = land_history(
            spark, landing_root, truth_root, connection, scale, rows_per_file=rows_per_file
        )
        log.info("demo history landed: %s", ", ".join(f"{name} {rows}" for name, rows in history.items()))
        landed["history"] = history
    days = range(scale.history_days, scale.days) if days is None else list(days)
    in_history = [day for day in days if day < scale.history_days]
    if in_history:  # refused before any day lands
        raise ValueError(
            f"days {in_history} are in the history (days 0 .. {scale.history_days - 1}), "
            "which land_history writes as one export"
        )
    for day in days:
        written = land_day(
            spark, landing_root, truth_root, connection, scale, day, rows_per_file=rows_per_file
        )
        date = scale.date_of(day).isoformat()
        log.info(
            "demo data of %s landed: %s", date, ", ".join(f"{name} {rows}" for name, rows in written.items())
        )
        landed[date] = written
    return landed


def land_database_day(
    spark: SparkSession, connection: JdbcConnection, scale: DemoScale, day_index: int
) -> dict[str, int]:
    """Create the shop's tables if missing and upsert the day's new and changed customers and products.

    A row replaces the stored one of its key only if its ``updated_at`` is not older, so
    landing days again, in any order, leaves each row at its latest landed state.

    Returns:
        Rows upserted: ``customers`` and ``products``.

    Raises:
        DatabaseError: the database refused a statement (the day's changes are rolled back).
    """
    execute(spark, connection, DATABASE_DDL)
    customers = build_customers(spark, scale, day_index)
    products = build_products(spark, scale, day_index)
    return {
        CUSTOMERS_TABLE: _upsert_newer(spark, customers, connection, CUSTOMERS_TABLE, "customer_id"),
        PRODUCTS_TABLE: _upsert_newer(spark, products, connection, PRODUCTS_TABLE, "product_id"),
    }


def _upsert_newer(
    spark: SparkSession, frame: DataFrame, connection: JdbcConnection, table: str, key: str
) -> int:
    """Stage ``frame`` in a scratch table, then insert it, replacing rows that are not newer."""
    rows = frame.count()
    staging = f"{table}__staging"
    write(frame, connection, staging, mode="overwrite")
    columns = ", ".join(frame.columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in frame.columns if column != key)
    execute(
        spark,
        connection,
        [
            f"INSERT INTO {table} AS stored ({columns}) SELECT {columns} FROM {staging} "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE stored.updated_at <= EXCLUDED.updated_at",
            f"DROP TABLE {staging}",
        ],
    )
    return rows


def _check_arguments(
    landing_root: Any, truth_root: Any, connection: Any, scale: Any, day_index: Any, rows_per_file: Any
) -> None:
    for name, value in (("landing_root", landing_root), ("truth_root", truth_root)):
        if not isinstance(value, str) or not value.strip("/"):
            raise ValueError(f"{name} must be a folder path or URI, got {value!r}")
    if connection is not None and not isinstance(connection, JdbcConnection):
        raise TypeError(f"connection must be a JdbcConnection or None, got {type(connection).__name__}")
    if not isinstance(scale, DemoScale):
        raise TypeError(f"scale must be a DemoScale, got {type(scale).__name__}")
    if not isinstance(day_index, int) or isinstance(day_index, bool):
        raise TypeError(f"day_index must be an int, got {type(day_index).__name__}")
    if not 0 <= day_index < scale.days:
        raise ValueError(
            f"day_index must be in 0 .. {scale.days - 1} (scale.days is {scale.days}), got {day_index}"
        )
    if not isinstance(rows_per_file, int) or isinstance(rows_per_file, bool) or rows_per_file < 1:
        raise ValueError(f"rows_per_file must be a positive int, got {rows_per_file!r}")


def _part_count(rows: int, rows_per_file: int) -> int:
    return max(1, math.ceil(rows / rows_per_file))


def _part(key, parts: int):
    """The part file a row goes to: consecutive keys spread evenly over the parts."""
    return F.pmod(key, F.lit(parts)).cast("int").alias("part")


def _publish_parquet(
    frame: DataFrame, order_by: Sequence[str], parts: int, root: str, folder: str, stem: str
) -> list[str]:
    """:func:`_publish` every column of ``frame`` as Parquet under ``root``, split into ``parts``
    files by the first ``order_by`` column."""
    return _publish(
        frame.select(_part(F.col(order_by[0]), parts), *frame.columns),
        "parquet",
        frame.columns,
        order_by,
        parts,
        staging=f"{root}/_staging",
        folder=f"{root}/{folder}",
        stem=stem,
        extension=".parquet",
    )


def _publish(
    frame: DataFrame,
    file_format: str,
    columns: Sequence[str],
    order_by: Sequence[str],
    parts: int,
    *,
    staging: str,
    folder: str,
    stem: str,
    extension: str,
) -> list[str]:
    """Write ``columns`` of ``frame`` as the files ``<folder>/<stem>[-nnnnn]<extension>``.

    Rows go to the file of their ``part`` column (``0 .. parts - 1``), sorted by ``order_by``.
    The files are written into a staging folder, then renamed into ``folder``; files of an
    earlier landing of the same stem that this one does not rewrite (another part count) are
    deleted.

    Returns:
        The final paths, in part order.
    """
    spark = frame.sparkSession
    ordered = (
        frame.repartition(parts, "part").sortWithinPartitions("part", *order_by).select("part", *columns)
    )
    temporary = f"{staging}/{stem}-{uuid.uuid4().hex}"
    ordered.write.mode("overwrite").partitionBy("part").format(file_format).save(temporary)
    _, fs = hadoop_path(spark, temporary)
    written = _part_files(spark, fs, temporary, parts)
    if len(written) == 1:
        final_names = [f"{stem}{extension}"]
    else:
        final_names = [f"{stem}-{index:05d}{extension}" for index in range(len(written))]
    finals = _move_into(
        spark,
        fs,
        written,
        folder,
        final_names,
        re.compile(rf"^{re.escape(stem)}(-\d{{5}})?{re.escape(extension)}$"),
    )
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    fs.delete(path(temporary), True)
    if fs.exists(path(staging)) and len(fs.listStatus(path(staging))) == 0:
        fs.delete(path(staging), False)
    return finals


def _part_files(spark: SparkSession, fs: Any, temporary: str, parts: int) -> list[str]:
    """The data files Spark wrote under ``<temporary>/part=<n>``, in part order."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    written = []
    for part in range(parts):
        part_folder = path(f"{temporary}/part={part}")
        if fs.exists(part_folder):
            names = sorted(
                status.getPath().getName()
                for status in fs.listStatus(part_folder)
                if not status.getPath().getName().startswith(("_", "."))
            )
            written.extend(f"{temporary}/part={part}/{name}" for name in names)
    return written


def _move_into(
    spark: SparkSession, fs: Any, written: list[str], folder: str, final_names: list[str], ours: re.Pattern
) -> list[str]:
    """Rename ``written`` into ``folder`` as ``final_names``; delete the files of an earlier landing
    (names matching ``ours``) that these do not replace. Returns the final paths."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    target = path(folder)
    fs.mkdirs(target)
    for status in fs.listStatus(target):
        name = status.getPath().getName()
        if ours.match(name) and name not in final_names:
            fs.delete(status.getPath(), False)
    finals = []
    for source_file, name in zip(written, final_names, strict=True):
        destination = path(f"{folder}/{name}")
        if fs.exists(destination):
            fs.delete(destination, False)
        if not fs.rename(path(source_file), destination):
            raise OSError(f"cannot move {source_file} to {folder}/{name}")
        finals.append(f"{folder}/{name}")
    return finals
