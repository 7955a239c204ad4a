"""Raw sources and the connections they read through (sources.yml)."""

from __future__ import annotations

import codecs
import re
from typing import Literal

from pydantic import Field, SecretStr

from lakehouse.config.section import Scalar, Section

SourceFormat = Literal["csv", "json", "parquet", "jdbc"]


FILE_FORMATS = ("csv", "json", "parquet")
# The column types a source may declare: Spark SQL name -> pyspark.sql.types class (kept free of pyspark
# here, so that loading the configuration does not import Spark), and decimal(p,s).
COLUMN_TYPES = {
    "string": "StringType",
    "boolean": "BooleanType",
    "tinyint": "ByteType",
    "smallint": "ShortType",
    "int": "IntegerType",
    "bigint": "LongType",
    "float": "FloatType",
    "double": "DoubleType",
    "date": "DateType",
    "timestamp": "TimestampType",
    "timestamp_ntz": "TimestampNTZType",
    "binary": "BinaryType",
}
DECIMAL_TYPE = re.compile(r"(?i)^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def is_column_type(name: str) -> bool:
    """True for a type a source may declare (``bigint``, ``decimal(10,2)``, ...)."""
    text = name.strip().lower()
    return text in COLUMN_TYPES or DECIMAL_TYPE.match(text) is not None


class ConnectionSettings(Section):
    """A database reached over JDBC (``connections.<name>``); sources refer to it by name."""

    url: str = Field(description="JDBC URL, e.g. jdbc:postgresql://host:5432/shop (no credentials in it).")
    user: str | None = None
    password: SecretStr | None = Field(default=None, description="From the environment only.")
    driver: str = "org.postgresql.Driver"
    properties: dict[str, Scalar] = Field(default_factory=dict, description="Extra JDBC properties.")


class SourceSettings(Section):
    """One raw source that ``bronze_ingest`` lands in a bronze table (``sources.<name>``).

    Files (``csv``, ``json`` lines, ``parquet``) are read from ``path`` incrementally: each file
    once. ``jdbc`` reads ``dbtable`` or ``query`` of a connection, the rows whose ``watermark``
    column grew since the last ingest.
    """

    format: SourceFormat
    table: str | None = Field(default=None, description="Target table; bronze.<source name> by default.")
    description: str | None = None
    enabled: bool = True
    drift: Literal["evolve", "fail"] = Field(
        default="evolve", description="New columns in the source: add them (evolve) or refuse (fail)."
    )
    # files
    path: str | None = Field(default=None, description="Folder under the lakehouse files/, or a URI.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Declared columns in file order: name -> Spark SQL type."
    )
    options: dict[str, Scalar] = Field(default_factory=dict, description="Spark reader options.")
    max_files_per_batch: int | None = Field(default=None, ge=1)
    encoding: str = Field(
        default="UTF-8",
        description="Character set of CSV and JSON files (UTF-8, ISO-8859-1, windows-1252, ...); "
        "a row with bytes that do not decode is kept as malformed.",
    )
    max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Longest line (CSV header, JSON record) a file may have; a file with a longer "
        "one is set aside in ops.rejected_files.",
    )
    # jdbc
    connection: str | None = None
    dbtable: str | None = None
    query: str | None = None
    watermark: str | None = Field(default=None, description="Column that grows when a row changes.")


class LocalDatabaseSettings(Section):
    """The development PostgreSQL server that ``lakehouse db up`` runs on this machine (``local_database:``).

    It serves the demo's operational database; its address, database and user are those of
    ``connection``, so jobs reach it like any other JDBC source.
    """

    connection: str = "shop_db"
    data_dir: str = "data/postgres"


# Options of Spark's streaming file source that bronze_ingest used before it tracked files itself.
STREAM_ONLY_OPTIONS = (
    "maxFileAge",
    "latestFirst",
    "fileNameOnly",
    "cleanSource",
    "sourceArchiveDir",
    "maxFilesPerTrigger",
)
# Spark 3.5's JSON parser (Jackson 2.15) refuses a string value longer than this many characters.
JSON_MAX_STRING = 20_000_000


def _file_source_problems(key: tuple[str, ...], source: SourceSettings) -> list[tuple[tuple[str, ...], str]]:
    """What is wrong with a file source's reading settings (options, encoding, record size)."""
    problems: list[tuple[tuple[str, ...], str]] = []
    for option in STREAM_ONLY_OPTIONS:
        if option in source.options:
            problems.append(
                (
                    (*key, "options", option),
                    "no longer used: bronze_ingest lists the folder itself and records each file in "
                    "ops.ingested_files (use max_files_per_batch, pathGlobFilter, modifiedAfter)",
                )
            )
    try:
        codecs.lookup(source.encoding)
    except LookupError:
        problems.append(
            ((*key, "encoding"), f"unknown character set {source.encoding!r}; e.g. UTF-8, ISO-8859-1")
        )
    if source.format == "json" and source.max_record_bytes > JSON_MAX_STRING:
        problems.append(
            (
                (*key, "max_record_bytes"),
                f"at most {JSON_MAX_STRING} for JSON: Spark's JSON parser refuses longer string values",
            )
        )
    return problems


def reading_problems(
    key: tuple[str, ...], source: SourceSettings, connections: dict[str, ConnectionSettings]
) -> list[tuple[tuple[str, ...], str]]:
    """What is wrong with how a source is read: a file source's path, columns and reading settings,
    or a jdbc source's connection, table or query, and watermark; and keys of the other kind."""
    problems: list[tuple[tuple[str, ...], str]] = []
    if source.format in FILE_FORMATS:
        if not source.path:
            problems.append(((*key, "path"), f"required for a {source.format} source"))
        problems += _file_source_problems(key, source)
        if source.format != "parquet" and not source.columns:
            problems.append(
                ((*key, "columns"), f"declare the columns of a {source.format} source (name: type)")
            )
        for field in ("connection", "dbtable", "query", "watermark"):
            if getattr(source, field) is not None:
                problems.append(((*key, field), "only for a jdbc source"))
    else:
        if source.connection not in connections:
            known = ", ".join(sorted(connections)) or "none"
            problems.append(
                (
                    (*key, "connection"),
                    f"unknown connection {source.connection!r}; connections: {known}",
                )
            )
        if (source.dbtable is None) == (source.query is None):
            problems.append((key, "give exactly one of dbtable and query"))
        if not source.watermark:
            problems.append(((*key, "watermark"), "required: the column that grows when a row changes"))
        for field in ("path", "max_files_per_batch"):
            if getattr(source, field) is not None:
                problems.append(((*key, field), "only for a file source"))
        for field in ("encoding", "max_record_bytes"):
            if field in source.model_fields_set:
                problems.append(((*key, field), "only for a file source"))
    return problems
