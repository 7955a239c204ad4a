"""Quality step cost: our check_batch next to a great-expectations peer and a one-pass floor.

One synthetic silver.orders table (Delta, generated once, about 1-2 % bad values per rule and a
few duplicated order ids) and a silver.customers table of ``--customers`` ids are checked against
eleven expectations (five of them drop failing rows), in one Spark session and one run, by:

- ours: ``lakehouse.quality.step.check_batch`` (flag each row with Spark expressions, persist
  the flagged frame, validate it once with great-expectations), followed by what a job needs
  afterwards: the results, ``counts`` (rows dropped), ``dropped_by_reason()``, then, as
  ``silver_refine`` does, the dropped rows written aside (Parquet, with their reasons), the others
  passed on (a no-op write), and ``release()``;
- peer: what a user would build without us: great-expectations validating the same eleven
  expectations on the same DataFrame (the reference check as GX's ``UnexpectedRowsExpectation``
  with an anti join), then, on the orders joined to the customer ids once and cached, one ``where``
  per drop expectation writing its failing rows aside (Parquet) and the rows that fail none passed
  on (a no-op write), and the dropped rows counted;
- plain (the floor): the same eleven checks written by hand, in one scan of the table: a left join
  to the distinct customer ids, an aggregation by order_id (great-expectations counts *every*
  row of a duplicated key as unexpected, which ``count - count(distinct)`` does not give),
  then one ``agg`` over those groups with a count or sum per expectation, the newest
  ``updated_at`` for freshness and the row count; the schema is read from ``frame.schema``.
  It computes the dropped rows and their reasons too, but writes nothing.

All sides must find the same unexpected counts, successes, dropped rows and reasons, or the
benchmark stops. Ours and the peer are timed twice: up to their findings (``check``) and in all
(``total``). Goals and ratios: ours' total <= 1.0x the peer's at each size; ours' check against the
floor is reported (it falls as the fixed cost spreads). Each side reads the Delta tables afresh and
the cache is cleared between sides; the sides take turns going first, and each figure is the best of
the timed runs, which follow one untimed warm-up run of all three (the JVM compiles the hot code of
each path). Results, with the Spark jobs each side launched: ``benchmarks/results/quality.json``.

    python benchmarks/quality.py [--quick] [--rows N [N ...]] [--customers N] [--runs N]

Full: 5,000,000 and 20,000,000 orders; --quick: 500,000. Tables are written once into
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
GOAL = 1.0  # ours / the great-expectations peer
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

# the expectations whose failing rows are dropped (severity drop), by label
DROP = (
    "not_null_customer_id",
    "not_null_total_amount",
    "in_set_status",
    "between_total_amount",
    "known_customer",
)


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


def ours(spark, folder: Path, suite, previous_rows: int) -> tuple[dict[str, float], Findings]:
    """check_batch, what a job reads from its outcome, then the dropped rows written aside and the
    others passed on; the seconds (``check``: up to the findings, ``total``) and the findings."""
    from lakehouse.quality.step import check_batch

    start = time.perf_counter()
    orders, references = read_tables(spark, folder)
    outcome = check_batch(orders, suite, references, previous_rows, NOW)
    try:
        results = outcome.results
        dropped = outcome.counts["dropped"]
        reasons = outcome.dropped_by_reason()
        checked = time.perf_counter() - start
        # what silver_refine does next: the dropped rows aside (with their reasons), the rest on
        outcome.dropped.write.mode("overwrite").parquet(str(WORK / "aside" / "ours"))
        outcome.passed.write.format("noop").mode("overwrite").save()
    finally:
        outcome.release()
    elapsed = time.perf_counter() - start

    by_label = {result.expectation: result for result in results}
    return {"check": checked, "total": elapsed}, Findings(
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


def with_known_customers(orders, customers):
    """``orders`` left-joined to the distinct customer ids, as ``_known_id`` (null: unknown)."""
    from pyspark.sql import functions as F

    known = (
        customers.select(F.col("customer_id").alias("_known_id")).where("_known_id IS NOT NULL").distinct()
    )
    return orders.join(known, orders["customer_id"] == known["_known_id"], "left")


def failing_rows() -> dict:
    """Per row expectation label: true where a row of :func:`with_known_customers` fails it (nulls
    fail only not_null)."""
    from pyspark.sql import functions as F

    customer, amount = F.col("customer_id"), F.col("total_amount")
    status, currency, coupon = F.col("status"), F.col("currency"), F.col("coupon_code")
    return {
        "not_null_customer_id": customer.isNull(),
        "not_null_total_amount": amount.isNull(),
        "in_set_status": status.isNotNull() & ~status.isin(*STATUSES),
        "in_set_currency": currency.isNotNull() & ~currency.isin(*CURRENCIES),
        "between_total_amount": amount.isNotNull() & (amount < 0),
        "regex_coupon_code": coupon.isNotNull() & ~coupon.rlike(COUPON),
        "known_customer": customer.isNotNull() & F.col("_known_id").isNull(),
    }


def any_of(conditions):
    """True where any of ``conditions`` is."""
    from functools import reduce
    from operator import or_

    from pyspark.sql import functions as F

    return reduce(or_, conditions, F.lit(False))


def plain(spark, folder: Path, previous_rows: int) -> tuple[dict[str, float], Findings]:
    """The same expectations by hand, in one scan; the seconds (``check``) and the findings."""
    from pyspark.sql import functions as F

    start = time.perf_counter()
    orders, references = read_tables(spark, folder)
    frame = with_known_customers(orders, references["silver.customers"])
    failing = failing_rows()
    drop = DROP
    dropped = any_of(failing[label] for label in drop)

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
    return {"check": elapsed}, Findings(
        rows=rows,
        unexpected=unexpected,
        success=success,
        dropped=int(totals["_dropped"] or 0),
        dropped_by_reason={label: count for label, count in sorted(reasons.items()) if count},
        notes={"newest updated_at": str(newest)},
    )


def gx_peer(spark, folder: Path, previous_rows: int) -> tuple[dict[str, float], Findings]:
    """What a user would build without us: great-expectations validating the same eleven
    expectations on the same DataFrame, then, on the orders joined to the customer ids once and
    cached, one ``where`` per ``drop`` expectation writing its failing rows aside (Parquet, under
    data/benchmarks/quality/aside) and the rows that pass on;
    the seconds (``check``: up to the validation's results, ``total``) and the findings."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    start = time.perf_counter()
    orders, references = read_tables(spark, folder)
    customers = references["silver.customers"]
    customers.createOrReplaceTempView("bench_customers")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch = (
        context.data_sources.add_spark("bench", persist=False)
        .add_dataframe_asset("silver.orders")
        .add_batch_definition_whole_dataframe("frame")
        .get_batch(batch_parameters={"dataframe": orders})
    )
    expectations = {
        "not_null_customer_id": gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
        "not_null_total_amount": gxe.ExpectColumnValuesToNotBeNull(column="total_amount"),
        "unique_order_id": gxe.ExpectColumnValuesToBeUnique(column="order_id"),
        "in_set_status": gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(STATUSES)),
        "in_set_currency": gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=list(CURRENCIES)),
        "between_total_amount": gxe.ExpectColumnValuesToBeBetween(column="total_amount", min_value=0),
        "regex_coupon_code": gxe.ExpectColumnValuesToMatchRegex(column="coupon_code", regex=COUPON),
        "known_customer": gxe.UnexpectedRowsExpectation(
            unexpected_rows_query="SELECT b.* FROM {batch} b LEFT ANTI JOIN bench_customers c "
            "ON b.customer_id = c.customer_id WHERE b.customer_id IS NOT NULL"
        ),
        "row_count_change": gxe.ExpectTableRowCountToBeBetween(
            min_value=int(previous_rows * 0.5), max_value=int(previous_rows * 2.0)
        ),
        "freshness_updated_at": gxe.ExpectColumnMaxToBeBetween(
            column="updated_at", min_value=NOW - dt.timedelta(days=2)
        ),
        "schema": gxe.ExpectTableColumnsToMatchSet(column_set=list(SCHEMA), exact_match=True),
    }
    suite = gx.ExpectationSuite(name="silver.orders")
    for label, expectation in expectations.items():
        expectation.meta = {"label": label}
        suite.add_expectation(expectation)
    outcome = batch.validate(suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
    by_label = {item.expectation_config.meta["label"]: item for item in outcome.results}
    checked = time.perf_counter() - start

    # the failing rows of each drop expectation, aside; the rows that pass every one, on
    # cached, as a careful user would before several passes: the join runs once
    frame = with_known_customers(orders, customers).persist()
    failing = failing_rows()
    aside = WORK / "aside"
    reasons = {}
    for label in DROP:
        frame.where(failing[label]).drop("_known_id").write.mode("overwrite").parquet(str(aside / label))
        reasons[label] = spark.read.parquet(str(aside / label)).count()
    any_failing = any_of(failing[label] for label in DROP)
    frame.where(~any_failing).drop("_known_id").write.format("noop").mode("overwrite").save()
    dropped = frame.where(any_failing).count()
    frame.unpersist()
    elapsed = time.perf_counter() - start

    unexpected = {
        label: int(
            by_label[label].result.get("observed_value")
            if label == "known_customer"
            else by_label[label].result["unexpected_count"]
        )
        for label in expectations
        if label not in ("row_count_change", "freshness_updated_at", "schema")
    }
    actual = {column.name: column.dataType.simpleString() for column in orders.schema.fields}
    success = {label: bool(item.success) for label, item in by_label.items()}
    success["schema"] = success["schema"] and actual == SCHEMA
    return {"check": checked, "total": elapsed}, Findings(
        rows=int(by_label["row_count_change"].result["observed_value"]),
        unexpected=unexpected,
        success=success,
        dropped=dropped,
        dropped_by_reason={label: count for label, count in sorted(reasons.items()) if count},
        notes={"newest updated_at": str(by_label["freshness_updated_at"].result.get("observed_value"))},
    )


def compare(ours_found: Findings, other: Findings, name: str) -> None:
    """Stop the benchmark when two sides do not find the same. The peer names only the drop
    expectations among a dropped row's reasons (plain and ours also name the warnings it fails)."""
    differences = []
    for field_name in ("rows", "unexpected", "success", "dropped", "dropped_by_reason"):
        mine, theirs = getattr(ours_found, field_name), getattr(other, field_name)
        if field_name == "dropped_by_reason" and name == "gx":
            mine = {label: count for label, count in mine.items() if label in DROP}
        if mine != theirs:
            differences.append(f"{field_name}: ours {mine!r}, {name} {theirs!r}")
    if differences:
        raise AssertionError(f"ours and {name} disagree:\n  " + "\n  ".join(differences))


def timed(spark, group: str, side, *args) -> tuple[dict[str, float], Findings, int]:
    """Run one side under a Spark job group; its seconds, findings and number of Spark jobs."""
    context = spark.sparkContext
    context.setJobGroup(group, group)
    try:
        seconds, found = side(spark, *args)
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return seconds, found, len(context.statusTracker().getJobIdsForGroup(group))


SIDES = ("ours", "plain", "gx")


def measure(spark, rows: int, customers: int, runs: int) -> dict:
    """Generate (once) and check a table of ``rows`` orders on the three sides; its figures."""
    from lakehouse.quality.config import QualitySuite

    folder = generate(spark, rows, customers)
    size = sum(f.stat().st_size for f in (folder / "orders").glob("*.parquet"))
    previous_rows = int(rows * 0.98)
    suite = QualitySuite.model_validate({"table": "silver.orders", "expectations": EXPECTATIONS})
    print(f"silver.orders: {rows:,} rows ({size / 2**20:.0f} MiB of parquet); {customers:,} customers")
    for table in ("orders", "customers"):  # the first scans warm the JVM and the page cache: untimed
        spark.read.format("delta").load(str(folder / table)).write.format("noop").mode("overwrite").save()

    arguments = {
        "ours": (ours, folder, suite, previous_rows),
        "plain": (plain, folder, previous_rows),
        "gx": (gx_peer, folder, previous_rows),
    }
    times: dict[str, list[float]] = {}
    jobs: dict[str, list[int]] = {side: [] for side in SIDES}
    warmup: dict[str, float] = {}
    for run in range(-1, runs):  # run -1 warms the JIT on every side's code paths: untimed
        found, seconds, launched = {}, {}, {}
        turn = run % len(SIDES)  # each side goes first in turn
        for side in SIDES[turn:] + SIDES[:turn]:
            spark.catalog.clearCache()
            group = f"quality-{rows}-{side}-{run}"
            parts, found[side], launched[side] = timed(spark, group, *arguments[side])
            seconds.update({f"{side}_{part}": value for part, value in parts.items()})
            if run >= 0:
                jobs[side].append(launched[side])
        if run < 0:
            warmup.update(seconds)
        else:
            for name, value in seconds.items():
                times.setdefault(name, []).append(value)
        compare(found["ours"], found["plain"], "plain")
        compare(found["ours"], found["gx"], "gx")
        print(
            f"{'warm-up' if run < 0 else f'run {run + 1}'}: "
            + ", ".join(f"{name} {value:.1f} s" for name, value in sorted(seconds.items()))
            + f"; Spark jobs {launched}; findings agree"
        )
    best = {name: min(values) for name, values in times.items()}
    figures = seconds_figures(times, warmup)
    figures.update({f"{side}_spark_jobs": jobs[side] for side in SIDES})
    figures.update(
        # the whole of what a job does with the rows, ours against the great-expectations peer
        ratio_ours_gx=round(best["ours_total"] / best["gx_total"], 3),
        # the checks alone, ours against the one-pass aggregation (the floor)
        ratio_ours_plain=round(best["ours_check"] / best["plain_check"], 3),
        ours_rows_per_s=round(rows / best["ours_total"]),
        gx_rows_per_s=round(rows / best["gx_total"]),
    )
    print(
        f"{rows:,} rows: checked and written aside, ours {best['ours_total']:.1f} s, great-expectations "
        f"peer {best['gx_total']:.1f} s (its validation alone {best['gx_check']:.1f} s): ours/peer "
        f"{figures['ratio_ours_gx']:.2f} (goal <= {GOAL}); checks alone, ours {best['ours_check']:.1f} s, "
        f"plain {best['plain_check']:.1f} s: ours/plain {figures['ratio_ours_plain']:.2f}"
    )
    findings = found["plain"]
    data = {
        "rows": rows,
        "parquet_mib": round(size / 2**20, 1),
        "customers": customers,
        "expectations": len(EXPECTATIONS),
        "unexpected": findings.unexpected,
        "dropped": findings.dropped,
    }
    return {"data": data, "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="500,000 orders (a few minutes)")
    parser.add_argument(
        "--rows", type=int, nargs="+", help="orders, one size or several (default 5,000,000 and 20,000,000)"
    )
    parser.add_argument("--customers", type=int, default=200_000, help="ids in silver.customers")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (best is kept)")
    args = parser.parse_args()
    sizes = args.rows or ([500_000] if args.quick else [5_000_000, 20_000_000])

    from lakehouse.config import load_config
    from lakehouse.spark.session import build_session

    config = load_config("local")
    spark = build_session(config, app_name="benchmark quality")
    start = time.perf_counter()
    import great_expectations  # noqa: F401  (once per process: not a cost of each check)

    gx_import = time.perf_counter() - start
    measured = {rows: measure(spark, rows, args.customers, args.runs) for rows in sizes}
    spark.stop()

    largest = measured[max(sizes)]
    met = all(m["figures"]["ratio_ours_gx"] <= GOAL for m in measured.values())
    for rows, m in measured.items():
        f = m["figures"]
        print(f"{rows:>12,} rows: ours/peer {f['ratio_ours_gx']:.2f}, ours/plain {f['ratio_ours_plain']:.2f}")
    print(f"goal ours <= {GOAL}x the great-expectations peer at every size: {'met' if met else 'NOT met'}")
    write_results(
        "quality",
        args.quick,
        {"sizes": sizes, **{str(rows): m["data"] for rows, m in measured.items()}},
        {**{str(rows): m["figures"] for rows, m in measured.items()}, "gx_import_s": round(gx_import, 2)},
        largest["figures"]["ratio_ours_gx"],
        f"ours seconds <= {GOAL} x the great-expectations peer's, at every size; ours/plain reported",
        met,
        runs=args.runs,
    )


if __name__ == "__main__":
    main()
