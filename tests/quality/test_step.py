"""The quality step on crafted frames: what each severity does to the rows and the run."""

from __future__ import annotations

import pytest

from lakehouse.errors import QualityError
from lakehouse.quality.config import QualitySuite
from lakehouse.quality.rules import FAILED
from lakehouse.quality.step import check_batch

ROWS = [
    (1, "paid", 10.0),
    (2, "lost", 20.0),  # in_set (drop)
    (3, "paid", -5.0),  # between (warn)
    (4, None, -1.0),  # not_null (drop) and between (warn)
]
SCHEMA = "order_id bigint, status string, amount double"


def suite(*expectations: dict) -> QualitySuite:
    return QualitySuite.model_validate({"table": "silver.orders", "expectations": list(expectations)})


NOT_NULL = {"kind": "not_null", "column": "status", "severity": "drop"}
IN_SET = {"kind": "in_set", "column": "status", "values": ["paid", "placed"], "severity": "drop"}
BETWEEN = {"kind": "between", "column": "amount", "min": 0, "severity": "warn"}


def test_warn_keeps_the_rows_and_counts_them(spark):
    outcome = check_batch(spark.createDataFrame(ROWS, SCHEMA), suite(BETWEEN))
    try:
        assert sorted(row["order_id"] for row in outcome.passed.collect()) == [1, 2, 3, 4]
        assert outcome.dropped.count() == 0
        (result,) = outcome.results
        assert (result.success, result.unexpected_count, result.severity) == (False, 2, "warn")
        outcome.raise_for_failures()  # a warning never stops the job
    finally:
        outcome.release()


def test_drop_moves_rows_out_with_every_label_they_fail(spark):
    outcome = check_batch(spark.createDataFrame(ROWS, SCHEMA), suite(NOT_NULL, IN_SET, BETWEEN))
    try:
        assert sorted(row["order_id"] for row in outcome.passed.collect()) == [1, 3]
        assert FAILED not in outcome.passed.columns
        dropped = {row["order_id"]: sorted(row[FAILED]) for row in outcome.dropped.collect()}
        # a null fails not_null only (in_set does not judge it), and the warn label is kept as a reason
        assert dropped == {2: ["in_set_status"], 4: ["between_amount", "not_null_status"]}
        assert outcome.dropped_by_reason() == {"between_amount": 1, "in_set_status": 1, "not_null_status": 1}
        by_label = {result.expectation: result for result in outcome.results}
        assert by_label["in_set_status"].sample == ["lost"]
        outcome.raise_for_failures()
    finally:
        outcome.release()


def test_fail_raises_naming_the_table_and_expectation(spark):
    failing = {**BETWEEN, "severity": "fail"}
    outcome = check_batch(spark.createDataFrame(ROWS, SCHEMA), suite(IN_SET, failing))
    try:
        with pytest.raises(
            QualityError, match=r"table silver.orders: .*between_amount \(between\): 2 unexpected"
        ):
            outcome.raise_for_failures()
    finally:
        outcome.release()


def test_a_passing_fail_expectation_does_not_raise(spark):
    outcome = check_batch(spark.createDataFrame(ROWS[:1], SCHEMA), suite({**BETWEEN, "severity": "fail"}))
    try:
        outcome.raise_for_failures()
        assert outcome.results[0].success
    finally:
        outcome.release()


def test_unique_and_references_are_counted_from_one_join_and_sampled_by_key(spark):
    orders = spark.createDataFrame(
        [(1, 10), (2, 10), (2, 11), (3, 99), (4, None), (None, 98)], "order_id bigint, customer_id bigint"
    )
    customers = spark.createDataFrame([(10,), (11,)], "customer_id bigint")
    checked = suite(
        {"kind": "unique", "columns": ["order_id"], "severity": "warn"},
        {
            "kind": "references",
            "name": "known_customer",
            "column": "customer_id",
            "table": "silver.customers",
            "to": "customer_id",
            "severity": "drop",
        },
        {"kind": "schema", "columns": {"order_id": "bigint", "customer_id": "bigint"}, "severity": "fail"},
    )
    outcome = check_batch(orders, checked, {"silver.customers": customers})
    try:
        by_label = {result.expectation: result for result in outcome.results}
        unique, known = by_label["unique_order_id"], by_label["known_customer"]
        # every row of a duplicated key is unexpected; a null key is not judged
        assert (unique.success, unique.unexpected_count, unique.element_count) == (False, 2, 6)
        assert sorted(unique.sample) == ["2", "2"]
        assert (known.success, known.unexpected_count, known.element_count) == (False, 2, 6)
        assert sorted(known.sample) == ["98", "99"]
        assert by_label["schema"].success  # the decision columns are the step's, not the table's
        assert sorted(row["order_id"] or 0 for row in outcome.dropped.collect()) == [0, 3]
        assert outcome.passed.columns == ["order_id", "customer_id"]
        outcome.raise_for_failures()
    finally:
        outcome.release()
