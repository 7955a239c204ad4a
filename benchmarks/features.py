"""Point-in-time join cost: ours next to a plain equi-join of the same sizes, in one run.

A feature table of ``--entities`` entities x ``--dates`` daily as-of dates (full: 1,000,000 x 10 =
10 million rows, five features) and ``--labels`` label rows (full: 1,000,000; a random entity and
an event time within the dates) are written once as Delta tables. Then, in one Spark session:

- ours: :func:`lakehouse.features.point_in_time.point_in_time_join` (the latest feature row at or
  before each event time);
- plain: an equi-join on (entity, as_of_date = the event's date): what a daily feature table
  allows when every entity has a row every day, and no more (it cannot pick an older row, and has
  no notion of age).

Features are dense here, so both must give the same rows: the benchmark checks the row counts and a
checksum of the features joined, or stops. Each side writes its whole result to Spark's ``noop``
sink (every row computed, nothing stored). An untimed warm-up run of both comes first; the sides
alternate which goes first, and each figure is the best of ``--runs``. The seconds, rows/s and the
ratio ours/plain are printed and written to ``benchmarks/results/features.json``. Goal: <= 3x.

    python benchmarks/features.py [--quick] [--labels N] [--entities N] [--dates N] [--runs N]

--quick: 100,000 labels against 100,000 entities x 10 dates (1 million feature rows).
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
from benchmarks.support.results import seconds_figures, write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "features"
GOAL = 3.0
FIRST_DATE = dt.date(2026, 1, 1)
FEATURES = ["orders_7d", "orders_30d", "spend_30d", "recency", "tenure"]


def generate(spark, entities: int, dates: int, labels: int) -> Path:
    """Write the feature table and the labels once per size; return their folder."""
    from pyspark.sql import functions as F

    folder = WORK / f"{entities}x{dates}-{labels}"
    marker = folder / "_generated.json"
    wanted = {"entities": entities, "dates": dates, "labels": labels, "version": 1}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)

    def draw(salt: str, column: str, modulo: int):
        return F.pmod(F.xxhash64(F.lit(salt), F.col(column)), F.lit(modulo))

    rows = spark.range(0, entities * dates, numPartitions=16).select(
        (F.col("id") % entities).alias("customer_id"),
        F.date_add(F.lit(FIRST_DATE), (F.col("id") / entities).cast("int")).alias("as_of_date"),
        draw("o7", "id", 10).alias("orders_7d"),
        draw("o30", "id", 40).alias("orders_30d"),
        (draw("s30", "id", 100_000) / 100).alias("spend_30d"),
        draw("r", "id", 365).cast("int").alias("recency"),
        draw("t", "id", 2000).cast("int").alias("tenure"),
    )
    rows.write.format("delta").save(str(folder / "features"))
    seconds = F.lit(int(dt.datetime.combine(FIRST_DATE, dt.time()).replace(tzinfo=dt.UTC).timestamp()))
    spark.range(0, labels, numPartitions=8).select(
        draw("entity", "id", entities).alias("customer_id"),
        F.timestamp_seconds(seconds + draw("time", "id", dates * 86400)).alias("label_time"),
        draw("label", "id", 2).cast("int").alias("churned"),
    ).write.format("delta").save(str(folder / "labels"))
    marker.write_text(json.dumps(wanted))
    return folder


def read(spark, folder: Path):
    return (
        spark.read.format("delta").load(str(folder / "labels")),
        spark.read.format("delta").load(str(folder / "features")),
    )


def checksum(frame):
    """Rows, and a sum over every joined feature value (null as 0), in one pass."""
    from pyspark.sql import functions as F

    row = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(sum(F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in FEATURES)).alias("sum"),
    ).first()
    return int(row["rows"]), round(float(row["sum"] or 0), 2)


def ours(spark, folder: Path):
    from lakehouse.features.point_in_time import point_in_time_join

    labels, features = read(spark, folder)
    return point_in_time_join(labels, features, ["customer_id"], "label_time")


def plain(spark, folder: Path):
    from pyspark.sql import functions as F

    labels, features = read(spark, folder)
    keyed = labels.withColumn("as_of_date", F.to_date("label_time"))
    return keyed.join(features, ["customer_id", "as_of_date"], "left").select(
        *labels.columns, *FEATURES, "as_of_date"
    )


def timed(spark, side, folder: Path) -> float:
    start = time.perf_counter()
    side(spark, folder).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100,000 labels, 1 million feature rows")
    parser.add_argument("--labels", type=int, help="label rows (default 1,000,000; quick 100,000)")
    parser.add_argument("--entities", type=int, help="entities (default 1,000,000; quick 100,000)")
    parser.add_argument("--dates", type=int, default=10, help="as-of dates per entity (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (best is kept)")
    args = parser.parse_args()
    labels = args.labels or (100_000 if args.quick else 1_000_000)
    entities = args.entities or (100_000 if args.quick else 1_000_000)

    from lakehouse.config import load_config
    from lakehouse.spark.session import build_session

    spark = build_session(load_config("local"), app_name="benchmark features")
    folder = generate(spark, entities, args.dates, labels)
    feature_rows = entities * args.dates
    print(f"{labels:,} labels, {feature_rows:,} feature rows ({entities:,} entities x {args.dates} dates)")

    found = {"ours": checksum(ours(spark, folder)), "plain": checksum(plain(spark, folder))}
    if found["ours"] != found["plain"]:
        raise AssertionError(f"the two sides disagree: ours {found['ours']}, plain {found['plain']}")
    print(f"both sides: {found['ours'][0]:,} rows, feature checksum {found['ours'][1]:,}")

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    warmup = {}
    for run in range(-1, args.runs):  # run -1 warms the JIT: untimed
        order = ("ours", "plain") if run % 2 == 0 else ("plain", "ours")
        seconds = {side: timed(spark, ours if side == "ours" else plain, folder) for side in order}
        if run < 0:
            warmup = seconds
        else:
            for side, value in seconds.items():
                times[side].append(value)
        label = "warm-up" if run < 0 else f"run {run + 1}"
        print(f"{label}: ours {seconds['ours']:.1f} s, plain {seconds['plain']:.1f} s")
    spark.stop()

    best_ours, best_plain = min(times["ours"]), min(times["plain"])
    ratio = round(best_ours / best_plain, 3)
    print(
        f"point-in-time join {best_ours:.1f} s ({labels / best_ours:,.0f} labels/s), equi-join "
        f"{best_plain:.1f} s ({labels / best_plain:,.0f} labels/s): ratio {ratio:.2f} (goal <= {GOAL})"
    )
    figures = seconds_figures(times, warmup)
    figures.update(ours_labels_per_s=round(labels / best_ours), plain_labels_per_s=round(labels / best_plain))
    data = {
        "labels": labels,
        "feature_rows": feature_rows,
        "entities": entities,
        "dates": args.dates,
        "features": len(FEATURES),
        "checksum": found["ours"][1],
    }
    goal = f"point-in-time seconds <= {GOAL} x equi-join"
    path = write_results("features", args.quick, data, figures, ratio, goal, ratio <= GOAL, runs=args.runs)
    print(f"results: {path.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    main()
