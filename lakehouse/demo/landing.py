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
    build_customers,
    build_order_lines,
    build_orders,
    build_product_snapshot,
    build_products,
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
        day_index: the day, ``0 .. scale.days - 1``.
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
    landing_root, truth_root = landing_root.rstrip("/"), truth_root.rstrip("/")
    date = scale.date_of(day_index).isoformat()
    counts = scale.counts(day_index)
    written: dict[str, int] = {}

    orders = format_orders_csv(build_orders(spark, scale, day_index))
    parts = _part_count(counts.order_records, rows_per_file)
    header = spark.range(parts).select(
        F.col("id").cast("int").alias("part"),
        F.lit(0).alias("rank"),  # the header comes first in each part
        F.lit(None).cast("timestamp").alias("updated_at"),
        F.lit(None).cast("long").alias("order_id"),
        F.lit(orders_csv_header(scale, day_index)).alias("value"),
    )
    records = orders.select(
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
        staging=f"{landing_root}/_staging",
        folder=f"{landing_root}/orders/{date}",
        stem=f"orders-{date}",
        extension=".csv",
    )
    written["orders"] = counts.order_records

    lines = build_order_lines(spark, scale, day_index)
    parts = _part_count(math.ceil(counts.orders * ORDER_LINES_PER_ORDER), rows_per_file)
    files = _publish_parquet(
        lines, ["order_id", "line_no"], parts, landing_root, f"order_lines/{date}", f"order_lines-{date}"
    )
    written["order_lines"] = spark.read.parquet(*files).count()  # from the footers

    # the day's tickets feed five files: generated once, not once per file
    tickets = build_tickets(spark, scale, day_index).persist()
    parts = _part_count(counts.tickets, rows_per_file)
    text = format_tickets_json(tickets)
    _publish(
        text.select(_part(F.col("ticket_id"), parts), "ticket_id", F.col("line").alias("value")),
        "text",
        ["value"],
        ["ticket_id"],
        parts,
        staging=f"{landing_root}/_staging",
        folder=f"{landing_root}/tickets/{date}",
        stem=f"tickets-{date}",
        extension=".jsonl",
    )
    written["tickets"] = counts.tickets

    topics = tickets.select("ticket_id", "topic")
    _publish_parquet(
        topics, ["ticket_id"], parts, truth_root, f"ticket_topics/day={date}", f"ticket_topics-{date}"
    )
    written["ticket_topics"] = counts.tickets
    # the retrieval evaluation's labelled set: the queries, and the day's tickets relevant to each
    queries = search_queries(spark)
    relevance = topics.join(F.broadcast(queries), "topic").select(
        "query_id", F.col("ticket_id").alias("document_id")
    )
    _publish_parquet(queries.drop("topic"), ["query_id"], 1, truth_root, "search_queries", "search_queries")
    _publish_parquet(
        relevance,
        ["query_id", "document_id"],
        1,
        truth_root,
        f"search_relevance/day={date}",
        f"search_relevance-{date}",
    )
    written["search_relevance"] = relevance.count()
    # exact-thing lookups (order numbers, phone numbers, product names) and the tickets naming them
    lookups, looked_up = ticket_lookups(tickets, build_product_snapshot(spark, scale, day_index))
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
            staging=f"{truth_root}/_staging",
            folder=f"{truth_root}/ticket_lookups/{kind}/day={date}",
            stem=f"ticket_lookups_{kind}-{date}",
            extension=".parquet",
        )
    written["ticket_lookups"] = spark.read.parquet(*files).count()  # from the footers
    tickets.unpersist()

    churn = build_customer_churn(spark, scale, day_index)
    parts = _part_count(counts.new_customers, rows_per_file)
    _publish_parquet(
        churn, ["customer_id"], parts, truth_root, f"customer_churn/day={date}", f"customer_churn-{date}"
    )
    written["customer_churn"] = counts.new_customers

    if connection is not None:
        written.update(land_database_day(spark, connection, scale, day_index))
    return written


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
    """Land several days in order (every day of ``scale`` by default), as :func:`land_day` does.

    Returns:
        Rows written per entity, per date (``YYYY-MM-DD``).
    """
    landed = {}
    for day in range(scale.days) if days is None else days:
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

    jvm = spark.sparkContext._jvm
    _, fs = hadoop_path(spark, temporary)
    written = []
    for part in range(parts):
        part_folder = jvm.org.apache.hadoop.fs.Path(f"{temporary}/part={part}")
        if fs.exists(part_folder):
            names = sorted(
                status.getPath().getName()
                for status in fs.listStatus(part_folder)
                if not status.getPath().getName().startswith(("_", "."))
            )
            written.extend(f"{temporary}/part={part}/{name}" for name in names)
    if len(written) == 1:
        final_names = [f"{stem}{extension}"]
    else:
        final_names = [f"{stem}-{index:05d}{extension}" for index in range(len(written))]

    target = jvm.org.apache.hadoop.fs.Path(folder)
    fs.mkdirs(target)
    ours = re.compile(rf"^{re.escape(stem)}(-\d{{5}})?{re.escape(extension)}$")
    for status in fs.listStatus(target):
        name = status.getPath().getName()
        if ours.match(name) and name not in final_names:
            fs.delete(status.getPath(), False)
    finals = []
    for source_file, name in zip(written, final_names, strict=True):
        destination = jvm.org.apache.hadoop.fs.Path(f"{folder}/{name}")
        if fs.exists(destination):
            fs.delete(destination, False)
        if not fs.rename(jvm.org.apache.hadoop.fs.Path(source_file), destination):
            raise OSError(f"cannot move {source_file} to {folder}/{name}")
        finals.append(f"{folder}/{name}")
    fs.delete(jvm.org.apache.hadoop.fs.Path(temporary), True)
    staging_path = jvm.org.apache.hadoop.fs.Path(staging)
    if fs.exists(staging_path) and len(fs.listStatus(staging_path)) == 0:
        fs.delete(staging_path, False)
    return finals
