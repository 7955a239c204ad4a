"""The point-in-time join never uses a feature row from after the event, and honours max age."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.errors import FeatureError
from lakehouse.features.point_in_time import point_in_time_join, training_set


@pytest.fixture
def features(spark):
    # the row of a date summarises what happened before it; value = the day of the month, so a
    # leak would show as a value greater than the event's day
    rows = [(1, dt.date(2026, 3, day), day) for day in (1, 3, 6)] + [(2, dt.date(2026, 3, 2), 2)]
    return spark.createDataFrame(rows, "customer_id bigint, as_of_date date, seen_until int")


def test_each_label_gets_the_latest_feature_row_at_or_before_its_time(spark, features):
    labels = spark.createDataFrame(
        [
            (1, dt.datetime(2026, 3, 3, 0, 0), 1),  # the same instant as the row of the 3rd: used
            (1, dt.datetime(2026, 3, 5, 23, 59), 0),  # the 6th's row is later: the 3rd's
            (1, dt.datetime(2026, 2, 28, 12, 0), 0),  # before any row: nulls
            (1, dt.datetime(2026, 3, 9, 8, 0), 1),
            (2, dt.datetime(2026, 3, 9, 8, 0), 0),
            (3, dt.datetime(2026, 3, 9, 8, 0), 1),  # an entity without features
            (None, dt.datetime(2026, 3, 9, 8, 0), 1),
        ],
        "customer_id bigint, label_time timestamp, churned int",
    )
    joined = point_in_time_join(labels, features, ["customer_id"], "label_time")

    got = {(r["customer_id"], r["label_time"]): (r["seen_until"], r["as_of_date"]) for r in joined.collect()}
    assert len(got) == labels.count()  # every label row, once
    assert got[(1, dt.datetime(2026, 3, 3))] == (3, dt.date(2026, 3, 3))
    assert got[(1, dt.datetime(2026, 3, 5, 23, 59))] == (3, dt.date(2026, 3, 3))
    assert got[(1, dt.datetime(2026, 2, 28, 12))] == (None, None)
    assert got[(1, dt.datetime(2026, 3, 9, 8))] == (6, dt.date(2026, 3, 6))
    assert got[(2, dt.datetime(2026, 3, 9, 8))] == (2, dt.date(2026, 3, 2))
    assert got[(3, dt.datetime(2026, 3, 9, 8))] == (None, None)
    assert got[(None, dt.datetime(2026, 3, 9, 8))] == (None, None)
    assert joined.columns == ["customer_id", "label_time", "churned", "seen_until", "as_of_date"]


def test_no_feature_row_after_the_event_is_ever_used(spark):
    # every hour of a week has a label; features exist for every day: the value used must never
    # be from a date after the label's time
    features = spark.range(1, 8).selectExpr(
        "1L AS customer_id", "date_add(DATE'2026-03-01', CAST(id AS INT)) AS as_of_date", "id AS value"
    )
    labels = spark.range(0, 24 * 9).selectExpr(
        "1L AS customer_id",
        "TIMESTAMP'2026-03-01 00:30:00' + make_interval(0, 0, 0, 0, CAST(id AS INT)) AS t",
    )
    joined = point_in_time_join(labels, features, ["customer_id"], "t")
    late = joined.where("as_of_date IS NOT NULL AND CAST(as_of_date AS TIMESTAMP) > t").count()
    stale = joined.where(
        "as_of_date IS NOT NULL AND datediff(to_date(t), as_of_date) > 0 AND to_date(t) <= DATE'2026-03-08'"
    ).count()
    assert late == 0
    assert stale == 0  # and it is the latest one: that of the event's own day while there is one


def test_max_age_drops_feature_rows_that_are_too_old(spark, features):
    labels = spark.createDataFrame(
        [(1, dt.datetime(2026, 3, 8, 0, 0)), (1, dt.datetime(2026, 3, 9, 0, 1))],
        "customer_id bigint, label_time timestamp",
    )
    joined = point_in_time_join(labels, features, ["customer_id"], "label_time", max_age=dt.timedelta(days=3))
    got = {r["label_time"]: r["seen_until"] for r in joined.collect()}
    assert got == {dt.datetime(2026, 3, 8): 6, dt.datetime(2026, 3, 9, 0, 1): None}


def test_a_missing_or_clashing_column_is_named(spark, features):
    labels = spark.createDataFrame(
        [(1, dt.datetime(2026, 3, 8), 1)], "customer_id bigint, t timestamp, seen_until int"
    )
    with pytest.raises(FeatureError, match=r"feature columns \['seen_until'\] are also label columns"):
        point_in_time_join(labels, features, ["customer_id"], "t")
    with pytest.raises(FeatureError, match=r"labels lack columns \['event_time'\]"):
        point_in_time_join(labels, features, ["customer_id"], "event_time")


def test_a_training_set_joins_each_feature_table_as_of_the_event(spark, features):
    tickets = spark.createDataFrame(
        [(1, dt.date(2026, 3, 4), 7)], "customer_id bigint, as_of_date date, tickets_30d int"
    )
    labels = spark.createDataFrame(
        [(1, dt.datetime(2026, 3, 5, 12), 1)], "customer_id bigint, t timestamp, churned int"
    )
    row = training_set(
        labels, {"gold.activity": features, "gold.support": tickets}, ["customer_id"], "t"
    ).first()
    assert (row["seen_until"], row["activity_as_of"]) == (3, dt.date(2026, 3, 3))
    assert (row["tickets_30d"], row["support_as_of"]) == (7, dt.date(2026, 3, 4))
