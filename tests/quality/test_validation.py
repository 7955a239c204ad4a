"""great-expectations on a Spark frame, and our row flags, judge the same rows."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.quality.config import QualitySuite
from lakehouse.quality.rules import FAILED, flag_failures
from lakehouse.quality.validation import validate

SCHEMA_TYPES = [
    ("order_id", "bigint"),
    ("customer_id", "bigint"),
    ("status", "string"),
    ("amount", "double"),
    ("email", "string"),
    ("order_ts", "timestamp"),
]
SUITE = QualitySuite.model_validate(
    {
        "table": "silver.orders",
        "expectations": [
            {"kind": "not_null", "column": "status", "severity": "drop"},
            {"kind": "unique", "columns": ["order_id"], "severity": "drop"},
            {"kind": "in_set", "column": "status", "values": ["new", "paid"], "severity": "drop"},
            {"kind": "between", "column": "amount", "min": 0, "max": 100, "severity": "warn"},
            {"kind": "regex", "column": "email", "pattern": "^[^@]+@[^@]+$", "severity": "warn"},
            {
                "kind": "references",
                "column": "customer_id",
                "table": "silver.customers",
                "to": "customer_id",
                "severity": "drop",
            },
            {"kind": "row_count_change", "min_ratio": 0.5, "max_ratio": 2.0, "severity": "fail"},
            {
                "kind": "schema",
                "columns": dict(SCHEMA_TYPES),
                "severity": "fail",
            },
            {"kind": "freshness", "column": "order_ts", "max_age": "2d", "severity": "warn"},
        ],
    }
)
ROWS = [
    (1, 10, "new", 5.0, "a@x.io", dt.datetime(2026, 1, 9)),
    (2, 11, "paid", 150.0, "bad-email", dt.datetime(2026, 1, 9)),  # between, regex
    (2, 99, "shipped", 7.0, None, dt.datetime(2026, 1, 10)),  # unique, in_set, references
    (4, None, None, -1.0, "c@x.io", None),  # not_null, between
]
SCHEMA = ", ".join(f"{name} {kind}" for name, kind in SCHEMA_TYPES)


@pytest.fixture
def frames(spark):
    orders = spark.createDataFrame(ROWS, SCHEMA)
    customers = spark.createDataFrame([(10,), (11,), (None,)], "customer_id bigint")
    return orders, {"silver.customers": customers}


def test_row_flags_name_each_failed_expectation(frames):
    orders, references = frames
    flags = {
        row["order_id"] * 10 + i: sorted(row[FAILED])
        for i, row in enumerate(
            flag_failures(orders, SUITE, references).orderBy("order_id", "customer_id").collect()
        )
    }
    assert list(flags.values()) == [
        [],
        ["between_amount", "regex_email", "unique_order_id"],
        ["in_set_status", "references_customer_id", "unique_order_id"],
        ["between_amount", "not_null_status"],
    ]


def test_great_expectations_counts_agree_with_the_row_flags(frames):
    orders, references = frames
    results = {
        r.expectation: r
        for r in validate(orders, SUITE, references, previous_rows=10, now=dt.datetime(2026, 1, 11))
    }
    flagged = flag_failures(orders, SUITE, references).collect()
    for expectation in SUITE.row_expectations():
        flagged_rows = sum(expectation.label in row[FAILED] for row in flagged)
        assert results[expectation.label].unexpected_count == flagged_rows, expectation.label
    assert not results["not_null_status"].success and results["not_null_status"].unexpected_percent == 25.0
    assert sorted(results["between_amount"].sample) == ["-1.0", "150.0"]
    assert results["references_customer_id"].unexpected_count == 1
    # 4 rows against 10 last time: below half
    assert not results["row_count_change"].success and results["row_count_change"].observed == "4"
    assert results["schema"].success
    assert results["freshness_order_ts"].success  # newest 2026-01-10, within 2 days of 2026-01-11


def test_a_column_of_another_type_fails_the_schema_expectation(frames):
    orders, references = frames
    suite = QualitySuite.model_validate(
        {
            "table": "silver.orders",
            "expectations": [
                {"kind": "schema", "columns": {**dict(SCHEMA_TYPES), "amount": "decimal(10,2)"}}
            ],
        }
    )
    (result,) = validate(orders, suite, references)
    assert not result.success and "amount: double (declared decimal(10,2))" in result.observed


def test_row_count_change_is_skipped_without_a_previous_run_and_staleness_fails(frames):
    orders, references = frames
    results = {r.expectation: r for r in validate(orders, SUITE, references, now=dt.datetime(2026, 2, 1))}
    assert "row_count_change" not in results
    assert not results["freshness_order_ts"].success
