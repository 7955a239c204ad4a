"""The ingestion metadata every bronze row carries: where it came from, when, and which run."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.table_spec import DriftPolicy, TableSpec

SOURCE = "_source"
SOURCE_FILE = "_source_file"
SOURCE_QUERY = "_source_query"
INGESTED_AT = "_ingested_at"
RUN_ID = "_run_id"
CORRUPT = "_corrupt_record"

COMMENTS = {
    SOURCE: "name of the source in sources.yml",
    SOURCE_FILE: "file the row was read from",
    SOURCE_QUERY: "query the row was read with (watermark range included)",
    INGESTED_AT: "when bronze_ingest read the row (UTC)",
    RUN_ID: "run of bronze_ingest that wrote the row (ops.job_runs.run_id)",
    CORRUPT: "the raw line when it could not be parsed (the row's other columns are then unreliable)",
}
METADATA_COLUMNS = (SOURCE, SOURCE_FILE, SOURCE_QUERY, INGESTED_AT, RUN_ID)


def with_ingest_metadata(
    frame: DataFrame, source: str, origin: Column, origin_column: str, run_id: str, ingested_at: dt.datetime
) -> DataFrame:
    """Append the ingestion metadata columns to a frame of raw rows.

    Args:
        source: the source's name.
        origin: where each row came from: a file path column or a query literal.
        origin_column: ``_source_file`` or ``_source_query``.
        run_id: the ingesting run.
        ingested_at: one timestamp for the whole run, so that a run's rows share it.
    """
    return frame.select(
        "*",
        F.lit(source).alias(SOURCE),
        origin.cast(T.StringType()).alias(origin_column),
        F.lit(ingested_at).cast(T.TimestampType()).alias(INGESTED_AT),
        F.lit(run_id).alias(RUN_ID),
    )


def with_comments(schema: T.StructType) -> T.StructType:
    """The bronze table schema of a frame: every column nullable (raw data promise nothing, and
    NOT NULL columns cost a check per row), a comment on each metadata column."""
    return T.StructType(
        [
            T.StructField(field.name, field.dataType, True, {"comment": COMMENTS[field.name]})
            if field.name in COMMENTS
            else T.StructField(field.name, field.dataType, True, field.metadata)
            for field in schema.fields
        ]
    )


def bronze_spec(table: str, schema: T.StructType, comment: str, drift: DriftPolicy) -> TableSpec:
    """The declaration of a bronze table written with rows of ``schema`` (source columns, the
    optional ``_corrupt_record``, then the metadata columns).

    Delta collects min/max/null-count statistics for the source columns and ``_corrupt_record``
    only (the malformed-row count is read from its null counts). The metadata columns are the
    same on every row of a file or run, so their statistics would cost time on every row
    (about a tenth of the write on narrow CSV rows) and skip nothing. Columns that a later
    batch adds (drift ``evolve``) are appended after the metadata and get no statistics.
    """
    indexed = 0
    for field in schema.fields:
        if field.name in METADATA_COLUMNS:
            break
        indexed += 1
    return TableSpec(
        name=table,
        schema=with_comments(schema),
        comment=comment,
        drift=drift,
        # the change feed lets silver read only what each run appended (appends write no extra files)
        properties={"delta.dataSkippingNumIndexedCols": str(indexed), "delta.enableChangeDataFeed": "true"},
    )


def data_columns(schema: T.StructType) -> T.StructType:
    """The source's own columns of a bronze schema (metadata and corrupt-record columns left out)."""
    return T.StructType([field for field in schema.fields if field.name not in (*METADATA_COLUMNS, CORRUPT)])
