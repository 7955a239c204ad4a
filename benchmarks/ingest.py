"""Bronze ingestion throughput: our bronze_ingest path next to a plain Spark read -> Delta write.

The same landed files (orders as CSV, support tickets as JSON lines, split into daily drops)
are ingested, in one Spark session and one run, by:

- plain: ``spark.read.schema(declared).csv/json(folder).write.format("delta").save(...)``,
  the shortest correct batch load, with the same declared columns;
- floor: the plain read plus the columns every bronze row must carry (``_corrupt_record``
  and the four ingestion metadata columns) written with bronze's table properties, but
  without file tracking, header or key checks, or the idempotent commit: the cost of the
  rows themselves, which no implementation of the bronze contract can avoid;
- ours: the ``bronze_ingest`` source path (``lakehouse.ingest``): the folder listed and
  compared with the ``ops.ingested_files`` ledger (claim, idempotent append, settle), CSV
  headers read and matched by name, JSON keys and record sizes checked, malformed lines and
  undecodable bytes kept in ``_corrupt_record`` and counted, ingestion metadata on every row.

Each side writes a fresh table; the two sides alternate, and each figure is the best of the
runs. Rows/s of each and the ratios ours/plain and floor/plain are printed and written to
``benchmarks/results/ingest.json``. Goal: ours >= 0.8x plain.

    python benchmarks/ingest.py [--quick] [--csv-mb N] [--json-mb N] [--runs N]

Full size: 1,024 MiB of CSV and 512 MiB of JSON lines (about 11M and 2.5M rows); --quick:
96 + 48 MiB. Landed files are generated once into data/benchmarks/ingest/ and reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.machine import machine  # noqa: E402

RESULTS = PROJECT_DIR / "benchmarks" / "results" / "ingest.json"
WORK = PROJECT_DIR / "data" / "benchmarks" / "ingest"
GOAL = 0.8
DAYS = 8

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


def land(spark, folder: Path, kind: str, megabytes: int) -> tuple[int, Path]:
    """Write ``megabytes`` of landed files (DAYS daily folders) into a folder of that size's
    own, so that full and --quick runs never read each other's files; return the row count
    and the folder."""
    from pyspark.sql import functions as F

    marker = folder / f"_{kind}_{megabytes}mb.json"
    landed = folder / f"{kind}-{megabytes}mb"
    if marker.exists() and landed.is_dir():
        return json.loads(marker.read_text())["rows"], landed
    shutil.rmtree(landed, ignore_errors=True)
    row_bytes = 112 if kind == "orders" else 215
    rows = megabytes * 2**20 // row_bytes
    per_day = rows // DAYS
    for day in range(DAYS):
        ids = spark.range(day * per_day, (day + 1) * per_day, numPartitions=2)
        h = F.abs(F.xxhash64(F.lit(kind), F.col("id")))
        ts = F.timestamp_seconds(F.lit(1767225600 + day * 86400) + h % 86400)
        stamp = F.date_format(ts, "yyyy-MM-dd HH:mm:ss")
        if kind == "orders":
            line = F.concat_ws(
                ",",
                F.col("id"),
                h % 50000,
                stamp,
                F.element_at(
                    F.array(*[F.lit(s) for s in ("new", "paid", "shipped", "delivered")]),
                    (h % 4 + 1).cast("int"),
                ),
                F.lit("EUR"),
                F.format_number((h % 100000) / 100, 2).alias("a"),
                stamp,
                F.concat(F.lit("gift wrap "), (h % 97).cast("string"), F.lit(" leave at door")),
            )
            header = ",".join(ORDERS)
        else:
            line = F.to_json(
                F.struct(
                    F.col("id").alias("ticket_id"),
                    (h % 50000).alias("customer_id"),
                    (h % 900000).alias("order_id"),
                    stamp.alias("created_at"),
                    F.element_at(
                        F.array(F.lit("email"), F.lit("chat"), F.lit("phone")), (h % 3 + 1).cast("int")
                    ).alias("channel"),
                    F.concat(F.lit("Order problem #"), (h % 1000).cast("string")).alias("subject"),
                    F.concat(
                        F.lit("Hello, my package arrived damaged and the box was open. Order "),
                        F.col("id").cast("string"),
                        F.lit(" needs a replacement or a refund, please help soon."),
                    ).alias("body"),
                )
            )
            header = None
        target = landed / f"2026-01-{day + 1:02d}"
        frame = ids.select(line.alias("value"))
        if header is not None:  # the header as the first line of the single file of each day
            frame = spark.createDataFrame([(header,)], "value string").union(frame).coalesce(1)
        else:
            frame = frame.coalesce(1)
        frame.write.mode("overwrite").text(str(target))
    marker.write_text(json.dumps({"rows": per_day * DAYS}))
    return per_day * DAYS, landed


def plain(spark, kind: str, landing: Path, target: Path) -> tuple[float, int]:
    from lakehouse.ingest.schema import declared_schema

    columns = ORDERS if kind == "orders" else TICKETS
    start = time.perf_counter()
    reader = spark.read.schema(declared_schema(columns)).option("recursiveFileLookup", "true")
    frame = (
        reader.option("header", "true").csv(str(landing)) if kind == "orders" else reader.json(str(landing))
    )
    frame.write.format("delta").save(str(target))
    elapsed = time.perf_counter() - start
    return elapsed, spark.read.format("delta").load(str(target)).count()


def floor(spark, config, kind: str, landing: Path, root: Path) -> tuple[float, int]:
    import datetime as dt

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from lakehouse.ingest import metadata
    from lakehouse.ingest.schema import declared_schema
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.io.files import read_files
    from lakehouse.storage.layout import StorageLayout

    columns = ORDERS if kind == "orders" else TICKETS
    schema = T.StructType([*declared_schema(columns).fields, T.StructField(metadata.CORRUPT, T.StringType())])
    layout = StorageLayout.from_config(
        config.model_copy(update={"storage": config.storage.model_copy(update={"root": str(root)})})
    )
    start = time.perf_counter()
    options = {"recursiveFileLookup": "true", **({"header": "true"} if kind == "orders" else {})}
    raw = read_files(spark, "csv" if kind == "orders" else "json", [str(landing)], schema, options)
    frame = metadata.with_ingest_metadata(
        raw, kind, F.col("_metadata.file_path"), metadata.SOURCE_FILE, "benchmark-run", dt.datetime.now()
    )
    spec = metadata.bronze_spec(f"bronze.{kind}", frame.schema, "floor", "fail")
    DeltaStore(spark, layout).create(spec)  # the bronze table's declaration, then a plain append
    target = layout.table(spec.name).location
    frame.write.format("delta").mode("append").save(target)
    elapsed = time.perf_counter() - start
    return elapsed, spark.read.format("delta").load(target).count()


def ours(spark, config, kind: str, landing: Path, root: Path) -> tuple[float, int]:
    from lakehouse.config import SourceSettings
    from lakehouse.ingest.sources import ingest_source
    from lakehouse.runs.runner import make_context

    source = SourceSettings(
        format="csv" if kind == "orders" else "json",
        path=str(landing),
        columns=ORDERS if kind == "orders" else TICKETS,
    )
    run_config = config.model_copy(
        update={
            "sources": {kind: source},
            "storage": config.storage.model_copy(update={"root": str(root)}),
        }
    )
    start = time.perf_counter()
    result = ingest_source(make_context("bronze_ingest", run_config, spark, params=None), kind)
    return time.perf_counter() - start, result.rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="96 MiB CSV + 48 MiB JSON (a few minutes)")
    parser.add_argument("--csv-mb", type=int, help="MiB of CSV orders (default 1024, quick 96)")
    parser.add_argument("--json-mb", type=int, help="MiB of JSON-lines tickets (default 512, quick 48)")
    parser.add_argument("--runs", type=int, default=2, help="runs per side (best is kept)")
    args = parser.parse_args()
    csv_mb = args.csv_mb or (96 if args.quick else 1024)
    json_mb = args.json_mb or (48 if args.quick else 512)

    from lakehouse.config import load_config
    from lakehouse.spark.session import build_session

    config = load_config("local")
    spark = build_session(config, app_name="benchmark ingest")
    landing = WORK / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    landed = {
        "orders": land(spark, landing, "orders", csv_mb),
        "tickets": land(spark, landing, "tickets", json_mb),
    }
    rows = {kind: count for kind, (count, _) in landed.items()}
    folders = {kind: folder for kind, (_, folder) in landed.items()}
    size = {
        kind: sum(
            f.stat().st_size
            for f in folders[kind].rglob("*")
            if f.is_file() and not f.name.startswith((".", "_"))
        )
        for kind in rows
    }
    print(
        f"landed: {rows['orders']:,} CSV rows ({size['orders'] / 2**20:.0f} MiB), "
        f"{rows['tickets']:,} JSON rows ({size['tickets'] / 2**20:.0f} MiB)"
    )

    times: dict[str, dict[str, list[float]]] = {kind: {"plain": [], "floor": [], "ours": []} for kind in rows}
    for run in range(args.runs):
        for kind in rows:
            scratch = WORK / "tables" / f"{kind}-{run}"
            shutil.rmtree(scratch, ignore_errors=True)
            elapsed, written = plain(spark, kind, folders[kind], scratch / "plain")
            assert written == rows[kind], f"plain wrote {written} rows of {kind}, expected {rows[kind]}"
            times[kind]["plain"].append(elapsed)
            elapsed, written = floor(spark, config, kind, folders[kind], scratch / "floor")
            assert written == rows[kind], f"floor wrote {written} rows of {kind}, expected {rows[kind]}"
            times[kind]["floor"].append(elapsed)
            elapsed, written = ours(spark, config, kind, folders[kind], scratch / "ours")
            assert written == rows[kind], f"ours wrote {written} rows of {kind}, expected {rows[kind]}"
            times[kind]["ours"].append(elapsed)
            print(
                f"run {run + 1} {kind}: plain {times[kind]['plain'][-1]:.1f} s, "
                f"floor {times[kind]['floor'][-1]:.1f} s, ours {elapsed:.1f} s"
            )
            shutil.rmtree(scratch, ignore_errors=True)
    spark.stop()

    figures: dict[str, dict] = {}
    total_plain = total_floor = total_ours = 0.0
    for kind, sides in times.items():
        best_plain, best_floor, best_ours = min(sides["plain"]), min(sides["floor"]), min(sides["ours"])
        total_plain += best_plain
        total_floor += best_floor
        total_ours += best_ours
        figures[kind] = {
            "rows": rows[kind],
            "mib": round(size[kind] / 2**20, 1),
            "plain_s": round(best_plain, 2),
            "floor_s": round(best_floor, 2),
            "ours_s": round(best_ours, 2),
            "plain_rows_per_s": round(rows[kind] / best_plain),
            "ours_rows_per_s": round(rows[kind] / best_ours),
            "ratio": round(best_plain / best_ours, 3),
            "floor_ratio": round(best_plain / best_floor, 3),
            "all_plain_s": [round(t, 2) for t in sides["plain"]],
            "all_floor_s": [round(t, 2) for t in sides["floor"]],
            "all_ours_s": [round(t, 2) for t in sides["ours"]],
        }
        shown = figures[kind]
        print(
            f"{kind}: plain {shown['plain_rows_per_s']:,} rows/s, ours {shown['ours_rows_per_s']:,} rows/s, "
            f"ratio ours/plain {shown['ratio']:.2f} (floor/plain {shown['floor_ratio']:.2f})"
        )
    ratio = round(total_plain / total_ours, 3)
    floor_ratio = round(total_plain / total_floor, 3)
    print(f"all: ratio ours/plain {ratio:.2f} (goal >= {GOAL}); floor/plain {floor_ratio:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "ingest",
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "quick": args.quick,
                "data": {
                    "csv_mib": figures["orders"]["mib"],
                    "json_mib": figures["tickets"]["mib"],
                    "days": DAYS,
                },
                "figures": figures,
                "ratio": ratio,
                "floor_ratio": floor_ratio,
                "goal": f"ours rows/s >= {GOAL} x plain",
                "met": ratio >= GOAL,
                "machine": machine(),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
