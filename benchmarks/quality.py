"""Quality step cost: our check_batch next to the same expectations as one plain Spark aggregation.

One synthetic silver.orders table (Delta, generated once, about 1-2 % bad values per rule and a
few duplicated order ids) and a silver.customers table of ``--customers`` ids are checked, in one
Spark session and one run, by:

- ours: ``lakehouse.quality.step.check_batch`` (flag each row with Spark expressions, persist
  the flagged frame, validate it once with great-expectations), followed by what a job needs
  afterwards: the results, ``counts`` (rows dropped), ``dropped_by_reason()`` and ``release()``, as
  ``silver_refine`` does;
- plain: the same eleven expectations written by hand, in one scan of the table: a left join
  to the distinct customer ids, an aggregation by order_id (great-expectations counts *every*
  row of a duplicated key as unexpected, which ``count - count(distinct)`` does not give),
  then one ``agg`` over those groups with a count or sum per expectation, the newest
  ``updated_at`` for freshness and the row count; the schema is read from ``frame.schema``.
  It computes the dropped rows and their reasons too, so both sides answer the same questions.

Both sides must find the same unexpected counts, successes, dropped rows and reasons, or the
benchmark stops. Each side reads the Delta tables afresh and the cache is cleared between
sides; the sides alternate which goes first, and each figure is the best of the timed runs,
which follow one untimed warm-up run of both (the JVM compiles the hot code of each path). The
seconds of each, the ratio ours/plain and the Spark jobs each launched are printed and written
to ``benchmarks/results/quality.json``. Goal: ours <= 1.5x plain.

    python benchmarks/quality.py [--quick] [--rows N] [--customers N] [--runs N]

Full size: 5,000,000 orders; --quick: 500,000. Tables are written once into
data/benchmarks/quality/<rows>/ and reused, and scanned once, untimed, before the first run (the
first scan of a session is several times slower). great-expectations is imported before the
first run too (about 6 s, once per process), so its import is reported beside the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import seconds_figures, write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "quality"
GOAL = 1.5
DATA_VERSION = 1  # bump when generate() changes, so that stale tables are written again

START = dt.datetime(2026, 1, 1)  # orders span the week from here
NOW = dt.datetime(2026, 1, 9)  # freshness is measured against this instant: same findings every run
DUPLICATE_EVERY = 97_001  # one order id in this many repeats the previous one
STATUSES = ("placed", "paid", "shipped", "delivered", "returned", "cancelled")
CURRENCIES = ("EUR", "GBP", "CHF", "PLN", "SEK")
COUPON = r"^[A-Z]{4}[0-9]{2}$"
SCHEMA = {
    "order_id": "bigint",
    "customer_id": "bigint",
    "ordered_at": "timestamp",
    "status": "string",
    "currency": "string",
    "total_amount": "decimal(12,2)",
    "coupon_code": "string",
    "updated_at": "timestamp",
}
EXPECTATIONS = [
    {"kind": "not_null", "column": "customer_id", "severity": "drop"},
    {"kind": "not_null", "column": "total_amount", "severity": "drop"},
    {"kind": "unique", "columns": ["order_id"], "severity": "warn"},
    {"kind": "in_set", "column": "status", "values": list(STATUSES), "severity": "drop"},
    {"kind": "in_set", "column": "currency", "values": list(CURRENCIES), "severity": "warn"},
    {"kind": "between", "column": "total_amount", "min": 0, "severity": "drop"},
    {"kind": "regex", "column": "coupon_code", "pattern": COUPON, "severity": "warn"},
    {
        "kind": "references",
        "name": "known_customer",
        "column": "customer_id",
        "table": "silver.customers",
        "to": "customer_id",
        "severity": "drop",
    },
    {"kind": "row_count_change", "min_ratio": 0.5, "max_ratio": 2.0, "severity": "warn"},
    {"kind": "freshness", "column": "updated_at", "max_age": "2d", "severity": "warn"},
    {"kind": "schema", "columns": SCHEMA, "severity": "warn"},
]


@dataclass
class Findings:
    """What one side found: the figures both sides must agree on."""

    rows: int
    unexpected: dict[str, int]  # per row expectation label
    success: dict[str, bool]  # per expectation label
    dropped: int
    dropped_by_reason: dict[str, int]
    notes: dict[str, str] = field(default_factory=dict)  # shown, not compared


def generate(spark, rows: int, customers: int) -> Path:
    """Write silver.orders (``rows`` rows) and silver.customers (``customers`` ids) as Delta tables
    into a folder of that size's own, once; return the folder."""
    from pyspark.sql import functions as F

    folder = WORK / str(rows)
    marker = folder / "_generated.json"
    wanted = {"rows": rows, "customers": customers, "version": DATA_VERSION}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)

    def draw(rule: str, modulo: int):
        """A deterministic value in [0, modulo) per row, independent from one rule to the next."""
        return F.pmod(F.xxhash64(F.lit(rule), F.col("id")), F.lit(modulo))

    def pick(rule: str, values: tuple[str, ...]):
        return F.element_at(F.array(*[F.lit(v) for v in values]), (draw(rule, len(values)) + 1).cast("int"))

    ordered = F.lit(int(START.replace(tzinfo=dt.UTC).timestamp())) + draw("ordered", 7 * 86400)
    amount = (draw("amount", 100_000) / 100).cast("decimal(12,2)")
    orders = spark.range(0, rows, numPartitions=8).select(
        F.when(F.col("id") % DUPLICATE_EVERY == DUPLICATE_EVERY - 1, F.col("id") - 1)
        .otherwise(F.col("id"))
        .alias("order_id"),
        F.when(draw("customer_null", 10_000) < 100, F.lit(None).cast("bigint"))
        .when(draw("customer_unknown", 10_000) < 150, F.lit(customers) + draw("customer", 10_000))
        .otherwise(draw("customer", customers))
        .alias("customer_id"),
        F.timestamp_seconds(ordered).alias("ordered_at"),
        F.when(draw("status_bad", 10_000) < 150, pick("status", ("unknown", "PAID", "refunded")))
        .otherwise(pick("status", STATUSES))
        .alias("status"),
        F.when(draw("currency_bad", 10_000) < 120, F.lit("USD"))
        .otherwise(pick("currency", CURRENCIES))
        .alias("currency"),
        F.when(draw("amount_bad", 10_000) < 100, F.lit(None).cast("decimal(12,2)"))
        .when(draw("amount_bad", 10_000) < 220, -amount)
        .otherwise(amount)
        .alias("total_amount"),
        F.when(
            draw("coupon", 10_000) < 150,
            F.concat(F.lit("save-"), draw("coupon_digits", 100).cast("string")),
        )
        .when(
            draw("coupon", 10_000) < 3_000,
            F.concat(
                pick("coupon_word", ("SAVE", "GIFT", "WELC", "SALE")),
                F.lpad(draw("coupon_digits", 100).cast("string"), 2, "0"),
            ),
        )
        .alias("coupon_code"),
        F.timestamp_seconds(ordered + draw("updated", 3600)).alias("updated_at"),
    )
    orders.write.format("delta").save(str(folder / "orders"))
    spark.range(0, customers, numPartitions=2).select(
        F.col("id").alias("customer_id"), F.concat(F.lit("customer "), F.col("id")).alias("name")
    ).write.format("delta").save(str(folder / "customers"))
    marker.write_text(json.dumps(wanted))
    return folder


def read_tables(spark, folder: Path):
    """Fresh DataFrames of the two tables: (orders, {"silver.customers": customers})."""
    orders = spark.read.format("delta").load(str(folder / "orders"))
    customers = spark.read.format("delta").load(str(folder / "customers"))
    return orders, {"silver.customers": customers}


def ours(spark, folder: Path, suite, previous_rows: int) -> tuple[float, Findings]:
    """check_batch, then what a job reads from its outcome; the seconds and the findings."""
    from lakehouse.quality.step import check_batch

    start = time.perf_counter()
    orders, references = read_tables(spark, folder)
    outcome = check_batch(orders, suite, references, previous_rows, NOW)
    try:
        results = outcome.results
        dropped = outcome.counts["dropped"]
        reasons = outcome.dropped_by_reason()
    finally:
        outcome.release()
    elapsed = time.perf_counter() - start

    by_label = {result.expectation: result for result in results}
    return elapsed, Findings(
        rows=int(float(by_label["row_count_change"].observed)),
        unexpected={
            result.expectation: result.unexpected_count
            for result in results
            if result.kind not in ("row_count_change", "freshness", "schema")
        },
        success={result.expectation: result.success for result in results},
        dropped=dropped,
        dropped_by_reason=reasons,
        notes={"newest updated_at": str(by_label["freshness_updated_at"].observed)},
    )


def plain(spark, folder: Path, previous_rows: int) -> tuple[float, Findings]:
    """The same expectations by hand, in one scan; the seconds and the findings."""
    from pyspark.sql import functions as F

    start = time.perf_counter()
    orders, references = read_tables(spark, folder)
    known = (
        references["silver.customers"]
        .select(F.col("customer_id").alias("_known_id"))
        .where("_known_id IS NOT NULL")
        .distinct()
    )
    frame = orders.join(known, orders["customer_id"] == known["_known_id"], "left")
    customer, amount = F.col("customer_id"), F.col("total_amount")
    status, currency, coupon = F.col("status"), F.col("currency"), F.col("coupon_code")
    failing = {  # per row: true where the row fails the expectation (nulls fail only not_null)
        "not_null_customer_id": customer.isNull(),
        "not_null_total_amount": amount.isNull(),
        "in_set_status": status.isNotNull() & ~status.isin(*STATUSES),
        "in_set_currency": currency.isNotNull() & ~currency.isin(*CURRENCIES),
        "between_total_amount": amount.isNotNull() & (amount < 0),
        "regex_coupon_code": coupon.isNotNull() & ~coupon.rlike(COUPON),
        "known_customer": customer.isNotNull() & F.col("_known_id").isNull(),
    }
    drop = (
        "not_null_customer_id",
        "not_null_total_amount",
        "in_set_status",
        "between_total_amount",
        "known_customer",
    )
    dropped = F.lit(False)
    for label in drop:
        dropped = dropped | failing[label]

    def rows_where(condition):
        return F.sum(condition.cast("int"))

    # one group per order id: its row count tells whether the key is duplicated, and each
    # other figure is summed per group, then over the groups
    per_key = frame.groupBy("order_id").agg(
        F.count(F.lit(1)).alias("_rows"),
        *[rows_where(condition).alias(label) for label, condition in failing.items()],
        rows_where(dropped).alias("_dropped"),
        *[
            rows_where(dropped & condition).alias(f"_dropped_{label}")
            for label, condition in failing.items()
            if label not in drop
        ],
        F.max("updated_at").alias("_newest"),
    )
    duplicated = F.col("order_id").isNotNull() & (F.col("_rows") > 1)
    totals = per_key.agg(
        F.sum("_rows").alias("_rows"),
        F.sum(F.when(duplicated, F.col("_rows")).otherwise(0)).alias("unique_order_id"),
        *[F.sum(label).alias(label) for label in failing],
        F.sum("_dropped").alias("_dropped"),
        F.sum(F.when(duplicated, F.col("_dropped")).otherwise(0)).alias("_dropped_unique_order_id"),
        *[F.sum(f"_dropped_{label}").alias(f"_dropped_{label}") for label in failing if label not in drop],
        F.max("_newest").alias("_newest"),
    ).first()
    elapsed = time.perf_counter() - start

    rows = int(totals["_rows"])
    unexpected = {label: int(totals[label] or 0) for label in [*failing, "unique_order_id"]}
    reasons = {label: unexpected[label] for label in drop}
    reasons.update(
        {
            label: int(totals[f"_dropped_{label}"] or 0)
            for label in [*failing, "unique_order_id"]
            if label not in drop
        }
    )
    newest = totals["_newest"]
    actual = {column.name: column.dataType.simpleString() for column in orders.schema.fields}
    success = {label: count == 0 for label, count in unexpected.items()}
    success["row_count_change"] = 0.5 * previous_rows <= rows <= 2.0 * previous_rows
    success["freshness_updated_at"] = newest is not None and newest >= NOW - dt.timedelta(days=2)
    success["schema"] = actual == SCHEMA
    return elapsed, Findings(
        rows=rows,
        unexpected=unexpected,
        success=success,
        dropped=int(totals["_dropped"] or 0),
        dropped_by_reason={label: count for label, count in sorted(reasons.items()) if count},
        notes={"newest updated_at": str(newest)},
    )


def compare(ours_found: Findings, plain_found: Findings) -> None:
    """Stop the benchmark when the two sides do not find the same."""
    differences = [
        f"{name}: ours {getattr(ours_found, name)!r}, plain {getattr(plain_found, name)!r}"
        for name in ("rows", "unexpected", "success", "dropped", "dropped_by_reason")
        if getattr(ours_found, name) != getattr(plain_found, name)
    ]
    if differences:
        raise AssertionError("the two sides disagree:\n  " + "\n  ".join(differences))


def timed(spark, group: str, side, *args) -> tuple[float, Findings, int]:
    """Run one side under a Spark job group; its seconds, findings and number of Spark jobs."""
    context = spark.sparkContext
    context.setJobGroup(group, group)
    try:
        elapsed, found = side(spark, *args)
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return elapsed, found, len(context.statusTracker().getJobIdsForGroup(group))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="500,000 orders (a few minutes)")
    parser.add_argument("--rows", type=int, help="orders (default 5,000,000, quick 500,000)")
    parser.add_argument("--customers", type=int, default=200_000, help="ids in silver.customers")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (best is kept)")
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.quick else 5_000_000)

    from lakehouse.config import load_config
    from lakehouse.quality.config import QualitySuite
    from lakehouse.spark.session import build_session

    config = load_config("local")
    spark = build_session(config, app_name="benchmark quality")
    folder = generate(spark, rows, args.customers)
    size = sum(f.stat().st_size for f in (folder / "orders").glob("*.parquet"))
    previous_rows = int(rows * 0.98)
    suite = QualitySuite.model_validate({"table": "silver.orders", "expectations": EXPECTATIONS})
    print(f"silver.orders: {rows:,} rows ({size / 2**20:.0f} MiB of parquet); {args.customers:,} customers")

    for table in ("orders", "customers"):  # the first scans warm the JVM and the page cache: untimed
        spark.read.format("delta").load(str(folder / table)).write.format("noop").mode("overwrite").save()
    start = time.perf_counter()
    import great_expectations  # noqa: F401  (once per process: not a cost of each check)

    gx_import = time.perf_counter() - start

    times: dict[str, list[float]] = {"plain": [], "ours": []}
    jobs: dict[str, list[int]] = {"plain": [], "ours": []}
    warmup: dict[str, float] = {}
    for run in range(-1, args.runs):  # run -1 warms the JIT on both sides' code paths: untimed
        found, seconds, launched = {}, {}, {}
        order = ("ours", "plain") if run % 2 == 0 else ("plain", "ours")
        for side in order:
            spark.catalog.clearCache()
            arguments = (
                (ours, folder, suite, previous_rows) if side == "ours" else (plain, folder, previous_rows)
            )
            seconds[side], found[side], launched[side] = timed(spark, f"quality-{side}-{run}", *arguments)
            if run < 0:
                warmup[side] = seconds[side]
            else:
                times[side].append(seconds[side])
                jobs[side].append(launched[side])
        compare(found["ours"], found["plain"])
        print(
            f"{'warm-up' if run < 0 else f'run {run + 1}'}: ours {seconds['ours']:.1f} s "
            f"({launched['ours']} Spark jobs), plain {seconds['plain']:.1f} s "
            f"({launched['plain']} Spark jobs); findings agree"
        )
    spark.stop()

    best_ours, best_plain = min(times["ours"]), min(times["plain"])
    ratio = round(best_ours / best_plain, 3)
    print(
        f"{rows:,} rows: ours {best_ours:.1f} s, plain {best_plain:.1f} s, "
        f"ratio ours/plain {ratio:.2f} (goal <= {GOAL}); great-expectations import {gx_import:.1f} s"
    )
    findings = found["plain"]
    figures = seconds_figures(times, warmup)
    figures.update(
        ours_rows_per_s=round(rows / best_ours),
        plain_rows_per_s=round(rows / best_plain),
        ours_spark_jobs=jobs["ours"],
        plain_spark_jobs=jobs["plain"],
        gx_import_s=round(gx_import, 2),
    )
    data = {
        "rows": rows,
        "parquet_mib": round(size / 2**20, 1),
        "customers": args.customers,
        "expectations": len(EXPECTATIONS),
        "unexpected": findings.unexpected,
        "dropped": findings.dropped,
    }
    goal = f"ours seconds <= {GOAL} x plain"
    write_results("quality", args.quick, data, figures, ratio, goal, ratio <= GOAL, rows=rows, runs=args.runs)


if __name__ == "__main__":
    main()
