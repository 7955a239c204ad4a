"""Raw files: the one place that reads landed files and inspects folders.

Everything goes through Spark or Hadoop's ``FileSystem`` (never Python's ``open``), so the
same code reads a local folder, ``abfss://`` OneLake or ADLS Gen2, or any Hadoop file system.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

# Spark's name of a malformed line's raw text in PERMISSIVE mode
CORRUPT_COLUMN = "_corrupt_record"


def hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """Hadoop's ``Path`` for ``path`` and the ``FileSystem`` that holds it (local, abfss://, ...)."""
    jvm = spark.sparkContext._jvm
    located = jvm.org.apache.hadoop.fs.Path(path)
    return located, located.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def exists(spark: SparkSession, path: str) -> bool:
    """True when a file or folder exists at ``path``."""
    location, fs = hadoop_path(spark, path)
    return bool(fs.exists(location))


def read_text(spark: SparkSession, path: str) -> str | None:
    """The whole content of a small text file, or None when it does not exist."""
    location, fs = hadoop_path(spark, path)
    if not fs.exists(location):
        return None
    jvm = spark.sparkContext._jvm
    stream = fs.open(location)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def _local(location: str) -> Path | None:
    """The local path of ``location`` (a plain path or ``file://``), or None for other file systems."""
    if "://" not in location or location.startswith("file://"):
        return Path(location.removeprefix("file://")).expanduser().resolve()
    return None


def write_bytes(spark: SparkSession, location: str, data: bytes) -> Path | str:
    """Write a file, replacing it: a local path directly, anything else (``abfss://``) through
    Hadoop's file system with the session's credentials.

    Returns:
        The local ``Path`` written, or the remote location.
    """
    path = _local(location)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path
    target, file_system = hadoop_path(spark, location)
    stream = file_system.create(target, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    return location


def write_text(spark: SparkSession, location: str, text: str) -> Path | str:
    """Write a text file (UTF-8), replacing it (see :func:`write_bytes`)."""
    return write_bytes(spark, location, text.encode("utf-8"))


def read_bytes(spark: SparkSession, location: str) -> bytes | None:
    """The whole content of a file, or None when it does not exist."""
    path = _local(location)
    if path is not None:
        return path.read_bytes() if path.is_file() else None
    source, file_system = hadoop_path(spark, location)
    if not file_system.exists(source):
        return None
    stream = file_system.open(source)
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def create_new(spark: SparkSession | None, location: str, data: bytes) -> bool:
    """Create a file only if none exists, atomically (a lock): False when one already existed.

    A local path is created with ``O_EXCL`` (no Spark needed); anything else through Hadoop's
    ``create`` without overwrite, which is atomic on HDFS and ADLS Gen2 / OneLake.
    """
    path = _local(location)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        return True
    if spark is None:
        raise ValueError(f"{location}: a remote location needs a SparkSession")
    target, file_system = hadoop_path(spark, location)
    try:
        stream = file_system.create(target, False)
    except Exception as error:  # py4j wraps FileAlreadyExistsException
        if "FileAlreadyExists" in str(error) or file_system.exists(target):
            return False
        raise
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    return True


def list_names(spark: SparkSession, location: str) -> list[str]:
    """The names of the files and folders directly inside a folder (empty when it does not exist)."""
    folder, file_system = hadoop_path(spark, location)
    if not file_system.exists(folder):
        return []
    return sorted(status.getPath().getName() for status in file_system.listStatus(folder))


def delete(spark: SparkSession | None, location: str) -> bool:
    """Delete a file or a folder with everything in it; False when there was nothing."""
    path = _local(location)
    if path is not None and (path.is_file() or not path.exists()):
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
    target, file_system = hadoop_path(spark, location)
    return bool(file_system.delete(target, True))


def qualified(spark: SparkSession, path: str) -> str:
    """``path`` as the file system names what it lists (``file:/...``, ``abfss://...``)."""
    location, fs = hadoop_path(spark, path)
    return str(fs.makeQualified(location).toString()).rstrip("/")


def list_files(spark: SparkSession, folder: str, options: Mapping[str, Any]) -> DataFrame:
    """The files under a folder as ``path, file, size, modified_at`` (``file`` relative to it).

    Listed by Spark's file index (in parallel for many folders; no content read), so hidden
    files (``_*``, ``.*``) are skipped as every Spark reader skips them.

    Args:
        options: listing options of Spark's file sources: ``pathGlobFilter``,
            ``recursiveFileLookup`` (default true), ``modifiedBefore``, ``modifiedAfter``.
    """
    root = qualified(spark, folder)
    listing = {"recursiveFileLookup": "true", **{key: str(value) for key, value in options.items()}}
    listed = spark.read.format("binaryFile").options(**listing).load(folder)
    return listed.select(
        F.col("path"),
        F.expr(f"substring(path, {len(root) + 2})").alias("file"),
        F.col("length").alias("size"),
        F.col("modificationTime").alias("modified_at"),
    )


def first_lines(
    spark: SparkSession, paths: Sequence[str], encoding: str = "UTF-8", max_bytes: int | None = None
) -> dict[str, str | None]:
    """The first line of each file (``None`` for an empty file), decompressing ``.gz``/``.bz2``.

    Used to read CSV headers without reading the files. With ``max_bytes``, at most that many
    bytes plus one are read per file: a longer first line comes back cut at that length, so that
    the caller can tell it is too long without holding it whole.
    """
    jvm = spark.sparkContext._jvm
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
        spark.sparkContext._jsc.hadoopConfiguration()
    )
    lines: dict[str, str | None] = {}
    for path in paths:
        location, fs = hadoop_path(spark, path)
        stream = fs.open(location)
        try:
            codec = codecs.getCodec(location)
            source = codec.createInputStream(stream) if codec is not None else stream
            if max_bytes is not None:
                source = jvm.org.apache.commons.io.input.BoundedInputStream(source, max_bytes + 1)
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(source, encoding))
            line = reader.readLine()
            lines[path] = line.lstrip("\ufeff") if line is not None else None
        finally:
            stream.close()
    return lines


def read_files(
    spark: SparkSession,
    file_format: str,
    files: Sequence[str],
    schema: StructType | None,
    options: Mapping[str, Any],
) -> DataFrame:
    """Read the given files in one batch (malformed CSV/JSON lines kept in ``_corrupt_record``).

    Args:
        file_format: ``csv``, ``json`` or ``parquet``.
        files: the files to read (full paths as the file system lists them).
        schema: the columns to read, in file order for CSV; for CSV and JSON it should end
            with a ``_corrupt_record`` string column to keep malformed lines. None: Parquet's own.
        options: Spark reader options.
    """
    reader = spark.read.format(file_format).options(**{key: str(value) for key, value in options.items()})
    if file_format in ("csv", "json"):
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
    if schema is not None:
        reader = reader.schema(schema)
    return reader.load(list(files))


def parquet_schema(spark: SparkSession, files: Sequence[str]) -> StructType:
    """The merged schema of Parquet files, read from their footers only."""
    return spark.read.option("mergeSchema", "true").parquet(*files).schema


def json_layouts(spark: SparkSession, files: Sequence[str]) -> dict[str, tuple[set[str], int]]:
    """Per JSON-lines file (by its path as listed): every top-level key, and the longest line
    in bytes (one pass over the text, no typing)."""
    rows = (
        spark.read.text(list(files))
        .groupBy(F.col("_metadata.file_path").alias("path"))
        .agg(
            F.collect_set(F.expr("json_object_keys(value)")).alias("keys"),
            F.max(F.expr("octet_length(value)")).alias("longest"),
        )
        .collect()
    )
    return {
        unquote(row["path"]): ({key for layout in row["keys"] for key in layout}, int(row["longest"] or 0))
        for row in rows
    }


def fully_read(frame: DataFrame) -> None:
    """Parse every row and column of a frame and discard them (raises what reading raises)."""
    frame.write.format("noop").mode("overwrite").save()
