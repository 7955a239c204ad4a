"""Bronze ingestion throughput: our bronze_ingest path next to the batch floor and the streaming peer.

The same landed files, split into daily folders, are ingested in one Spark session and one run,
once per format: orders as CSV, support tickets as JSON lines and orders as Parquet. Four sides:

- plain (the floor): ``spark.read.schema(declared).csv/json/parquet(folder)`` written to Delta,
  the shortest correct batch load, with the same declared columns;
- streaming (the peer a data engineer would write instead of our job): Structured Streaming's
  file source with the declared schema, a checkpoint and ``trigger(availableNow=True)`` writing
  to Delta: exactly once per file, but no drift check, no malformed-row accounting, no
  metadata columns;
- contract: the plain read plus the columns every bronze row carries (``_corrupt_record`` and
  the four ingestion metadata columns) written with bronze's table properties, without file
  tracking, header or key checks, or the idempotent commit: what the rows themselves cost;
- ours: the ``bronze_ingest`` source path (``lakehouse.ingest``): the folder listed and compared
  with the ``ops.ingested_files`` ledger (claim, idempotent append, settle), CSV headers read
  and matched by name, JSON keys and record sizes checked (a new key is never silently
  dropped), Parquet footers compared, malformed lines and undecodable bytes kept in
  ``_corrupt_record`` and counted, ingestion metadata on every row.

Each side writes a fresh table; the sides alternate and each figure is the best of the runs.
Goals, per format: ours >= 0.9x the streaming peer's rows/s and >= 0.75x the plain floor's.
Results go to ``benchmarks/results/ingest.json``.

    python benchmarks/ingest.py [--quick] [--mb N] [--formats csv,json,parquet] [--runs N]

Full size: 1,024 MiB of each format (about 11M CSV rows, 3.9M JSON rows, 60M Parquet rows);
--quick: 64 MiB of each. Landed files are generated once into data/benchmarks/ingest/ and reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "ingest"
STREAMING_GOAL = 0.9
PLAIN_GOAL = 0.75
DAYS = 8
SIDES = ("plain", "streaming", "contract", "ours")

ORDERS = {
    "order_id": "bigint",
    "customer_id": "bigint",
    "order_ts": "timestamp",
    "status": "string",
    "currency": "string",
    "total_amount": "decimal(12,2)",
    "updated_at": "timestamp",
    "note": "string",
}
TICKETS = {
    "ticket_id": "bigint",
    "customer_id": "bigint",
    "order_id": "bigint",
    "created_at": "timestamp",
    "channel": "string",
    "subject": "string",
    "body": "string",
}
COLUMNS = {"csv": ORDERS, "json": TICKETS, "parquet": ORDERS}
# bytes a landed row takes, to size the files (measured: Parquet compresses the orders' columns)
ROW_BYTES = {"csv": 98, "json": 272, "parquet": 18}


def _orders(spark, first: int, last: int, day: int):
    """Order rows with typed columns (ids from ``first`` to ``last``, stamped on ``day``)."""
    from pyspark.sql import functions as F

    ids = spark.range(first, last, numPartitions=2)
    h = F.abs(F.xxhash64(F.lit("orders"), F.col("id")))
    ts = F.timestamp_seconds(F.lit(1767225600 + day * 86400) + h % 86400)
    status = F.element_at(
        F.array(*[F.lit(s) for s in ("new", "paid", "shipped", "delivered")]), (h % 4 + 1).cast("int")
    )
    return ids.select(
        F.col("id").alias("order_id"),
        (h % 50000).alias("customer_id"),
        ts.alias("order_ts"),
        status.alias("status"),
        F.lit("EUR").alias("currency"),
        ((h % 100000) / 100).cast("decimal(12,2)").alias("total_amount"),
        ts.alias("updated_at"),
        F.concat(F.lit("gift wrap "), (h % 97).cast("string"), F.lit(" leave at door")).alias("note"),
    )


def _tickets(spark, first: int, last: int, day: int):
    """Ticket rows as JSON lines (ids from ``first`` to ``last``, created on ``day``)."""
    from pyspark.sql import functions as F

    ids = spark.range(first, last, numPartitions=2)
    h = F.abs(F.xxhash64(F.lit("tickets"), F.col("id")))
    stamp = F.date_format(
        F.timestamp_seconds(F.lit(1767225600 + day * 86400) + h % 86400), "yyyy-MM-dd HH:mm:ss"
    )
    channel = F.element_at(F.array(F.lit("email"), F.lit("chat"), F.lit("phone")), (h % 3 + 1).cast("int"))
    return ids.select(
        F.to_json(
            F.struct(
                F.col("id").alias("ticket_id"),
                (h % 50000).alias("customer_id"),
                (h % 900000).alias("order_id"),
                stamp.alias("created_at"),
                channel.alias("channel"),
                F.concat(F.lit("Order problem #"), (h % 1000).cast("string")).alias("subject"),
                F.concat(
                    F.lit("Hello, my package arrived damaged and the box was open. Order "),
                    F.col("id").cast("string"),
                    F.lit(" needs a replacement or a refund, please help soon."),
                ).alias("body"),
            )
        ).alias("value")
    )


def land(spark, folder: Path, file_format: str, megabytes: int) -> tuple[int, Path]:
    """Write about ``megabytes`` of landed files (DAYS daily folders, one file each) into a
    folder of that size's own, so that full and --quick runs never read each other's files;
    return the row count and the folder."""
    from pyspark.sql import functions as F

    marker = folder / f"_{file_format}_{megabytes}mb.json"
    landed = folder / f"{file_format}-{megabytes}mb"
    if marker.exists() and landed.is_dir():
        return json.loads(marker.read_text())["rows"], landed
    shutil.rmtree(landed, ignore_errors=True)
    per_day = megabytes * 2**20 // ROW_BYTES[file_format] // DAYS
    for day in range(DAYS):
        first, last = day * per_day, (day + 1) * per_day
        target = str(landed / f"2026-01-{day + 1:02d}")
        if file_format == "parquet":
            _orders(spark, first, last, day).coalesce(1).write.mode("overwrite").parquet(target)
            continue
        if file_format == "csv":
            rows = _orders(spark, first, last, day)
            line = F.concat_ws(
                ",",
                *[
                    F.date_format(c, "yyyy-MM-dd HH:mm:ss") if c in ("order_ts", "updated_at") else F.col(c)
                    for c in ORDERS
                ],
            )
            header = spark.createDataFrame([(",".join(ORDERS),)], "value string")
            frame = header.union(rows.select(line.alias("value")))  # the header first, one file a day
        else:
            frame = _tickets(spark, first, last, day)
        frame.coalesce(1).write.mode("overwrite").text(target)
    marker.write_text(json.dumps({"rows": per_day * DAYS}))
    return per_day * DAYS, landed


def _reader(spark, file_format: str, stream: bool = False):
    from lakehouse.ingest.schema import declared_schema

    reader = (spark.readStream if stream else spark.read).schema(declared_schema(COLUMNS[file_format]))
    reader = reader.format(file_format)
    return reader.option("header", "true") if file_format == "csv" else reader


def plain(spark, file_format: str, landing: Path, target: Path) -> float:
    """The floor: one batch read of the folder, written to a new Delta table."""
    start = time.perf_counter()
    frame = _reader(spark, file_format).option("recursiveFileLookup", "true").load(str(landing))
    frame.write.format("delta").save(str(target))
    return time.perf_counter() - start


def streaming(spark, file_format: str, landing: Path, target: Path) -> float:
    """The peer: the streaming file source (the day folders by a glob) with a checkpoint, every
    file available now in one trigger, appended to Delta exactly once."""
    start = time.perf_counter()
    query = (
        _reader(spark, file_format, stream=True)
        .load(str(landing / "*"))
        .writeStream.format("delta")
        .option("checkpointLocation", str(target.with_name(target.name + "-checkpoint")))
        .trigger(availableNow=True)
        .start(str(target))
    )
    query.awaitTermination()
    return time.perf_counter() - start


def contract(spark, config, file_format: str, landing: Path, root: Path) -> tuple[float, str]:
    """The rows of the bronze contract (corrupt-record and metadata columns, bronze's table
    properties) without any of its checks or bookkeeping."""
    import datetime as dt

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from lakehouse.ingest import metadata
    from lakehouse.ingest.schema import declared_schema
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.io.files import read_files
    from lakehouse.storage.layout import StorageLayout

    fields = declared_schema(COLUMNS[file_format]).fields
    if file_format != "parquet":
        fields = [*fields, T.StructField(metadata.CORRUPT, T.StringType())]
    layout = StorageLayout.from_config(
        config.model_copy(update={"storage": config.storage.model_copy(update={"root": str(root)})})
    )
    name = f"bronze.{file_format}"
    start = time.perf_counter()
    options = {"recursiveFileLookup": "true", **({"header": "true"} if file_format == "csv" else {})}
    raw = read_files(spark, file_format, [str(landing)], T.StructType(fields), options)
    frame = metadata.with_ingest_metadata(
        raw,
        file_format,
        F.col("_metadata.file_path"),
        metadata.SOURCE_FILE,
        "benchmark-run",
        dt.datetime.now(),
    )
    spec = metadata.bronze_spec(name, frame.schema, "contract", "fail")
    DeltaStore(spark, layout).create(spec)  # the bronze table's declaration, then a plain append
    location = layout.table(name).location
    frame.write.format("delta").mode("append").save(location)
    return time.perf_counter() - start, location


def ours(spark, config, file_format: str, landing: Path, root: Path) -> tuple[float, int]:
    from lakehouse.config import SourceSettings
    from lakehouse.ingest.sources import ingest_source
    from lakehouse.runs.runner import make_context

    source = SourceSettings(format=file_format, path=str(landing), columns=COLUMNS[file_format])
    run_config = config.model_copy(
        update={
            "sources": {file_format: source},
            "storage": config.storage.model_copy(update={"root": str(root)}),
        }
    )
    start = time.perf_counter()
    context = make_context("bronze_ingest", run_config, spark, params=None)
    result = ingest_source(context.tables, context.config, context.run_id, file_format)
    return time.perf_counter() - start, result.rows


def run_side(spark, config, side: str, file_format: str, landing: Path, scratch: Path, rows: int) -> float:
    """One side's time; fails when it did not write exactly the landed rows."""
    target = scratch / side
    if side == "ours":
        elapsed, written = ours(spark, config, file_format, landing, target)
    else:
        if side == "plain":
            elapsed, location = plain(spark, file_format, landing, target), str(target)
        elif side == "streaming":
            elapsed, location = streaming(spark, file_format, landing, target), str(target)
        else:
            elapsed, location = contract(spark, config, file_format, landing, target)
        written = spark.read.format("delta").load(location).count()
    assert written == rows, f"{side} wrote {written:,} {file_format} rows, expected {rows:,}"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="64 MiB of each format (a few minutes)")
    parser.add_argument("--mb", type=int, help="MiB landed per format (default 1024, quick 64)")
    parser.add_argument("--formats", default="csv,json,parquet", help="comma-separated formats to run")
    parser.add_argument("--runs", type=int, default=2, help="runs per side (best is kept)")
    args = parser.parse_args()
    megabytes = args.mb or (64 if args.quick else 1024)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(COLUMNS))
    if unknown:
        parser.error(f"--formats: unknown {unknown}; known: {sorted(COLUMNS)}")

    from lakehouse.config import load_config
    from lakehouse.spark.session import build_session

    config = load_config("local")
    spark = build_session(config, app_name="benchmark ingest")
    landing = WORK / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    rows, folders, size = {}, {}, {}
    for file_format in formats:
        rows[file_format], folders[file_format] = land(spark, landing, file_format, megabytes)
        size[file_format] = sum(
            f.stat().st_size
            for f in folders[file_format].rglob("*")
            if f.is_file() and not f.name.startswith((".", "_"))
        )
        print(f"landed {file_format}: {rows[file_format]:,} rows, {size[file_format] / 2**20:.0f} MiB")

    times = {file_format: {side: [] for side in SIDES} for file_format in formats}
    for run in range(args.runs):
        for file_format in formats:
            scratch = WORK / "tables" / f"{file_format}-{run}"
            shutil.rmtree(scratch, ignore_errors=True)
            for side in SIDES:
                times[file_format][side].append(
                    run_side(
                        spark, config, side, file_format, folders[file_format], scratch, rows[file_format]
                    )
                )
            shown = ", ".join(f"{side} {times[file_format][side][-1]:.1f} s" for side in SIDES)
            print(f"run {run + 1} {file_format}: {shown}", flush=True)
            shutil.rmtree(scratch, ignore_errors=True)
    spark.stop()

    figures: dict[str, dict] = {}
    for file_format, sides in times.items():
        best = {side: min(values) for side, values in sides.items()}
        figure = {"rows": rows[file_format], "mib": round(size[file_format] / 2**20, 1)}
        figure.update({f"{side}_s": round(best[side], 2) for side in SIDES})
        figure.update({f"{side}_rows_per_s": round(rows[file_format] / best[side]) for side in SIDES})
        figure["ours_vs_streaming"] = round(best["streaming"] / best["ours"], 3)
        figure["ours_vs_plain"] = round(best["plain"] / best["ours"], 3)
        figure["contract_vs_plain"] = round(best["plain"] / best["contract"], 3)
        figure["met"] = (
            figure["ours_vs_streaming"] >= STREAMING_GOAL and figure["ours_vs_plain"] >= PLAIN_GOAL
        )
        figure.update({f"all_{side}_s": [round(t, 2) for t in values] for side, values in sides.items()})
        figures[file_format] = figure
        print(
            f"{file_format}: ours {figure['ours_rows_per_s']:,} rows/s = "
            f"{figure['ours_vs_streaming']:.2f}x streaming (goal >= {STREAMING_GOAL}), "
            f"{figure['ours_vs_plain']:.2f}x plain (goal >= {PLAIN_GOAL}); "
            f"contract {figure['contract_vs_plain']:.2f}x plain"
        )
    worst = min(
        min(f["ours_vs_streaming"] / STREAMING_GOAL, f["ours_vs_plain"] / PLAIN_GOAL)
        for f in figures.values()
    )
    path = write_results(
        "ingest",
        args.quick,
        {"mib_per_format": megabytes, "days": DAYS, "formats": formats, "runs": args.runs},
        figures,
        round(worst, 3),
        f"per format: ours rows/s >= {STREAMING_GOAL}x the streaming peer's and >= {PLAIN_GOAL}x plain's "
        "(ratio: the worst figure over its goal, >= 1 when every goal is met)",
        all(f["met"] for f in figures.values()),
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
