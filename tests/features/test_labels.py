"""Churn labels: who is active at a cutoff, and who orders again within the horizon."""

from __future__ import annotations

import datetime as dt

from lakehouse.features.labels import churn_cutoffs, churn_labels


def test_cutoffs_keep_the_look_back_and_the_horizon_inside_the_data():
    cutoffs = churn_cutoffs(dt.date(2026, 1, 1), dt.date(2026, 1, 8), 3, 3, 1)
    assert cutoffs == [dt.date(2026, 1, 4), dt.date(2026, 1, 5)]
    assert churn_cutoffs(dt.date(2026, 1, 1), dt.date(2026, 1, 8), 7, 3, 1) == []


def test_active_customers_churn_when_they_do_not_order_within_the_horizon(spark):
    orders = spark.createDataFrame(
        [
            (1, dt.datetime(2026, 1, 3, 9)),  # active at the 4th; orders again on the 6th
            (1, dt.datetime(2026, 1, 6, 9)),
            (2, dt.datetime(2026, 1, 2, 9)),  # active at the 4th; never again: churned
            (3, dt.datetime(2026, 1, 4, 0)),  # first order on the cutoff day: not active at the 4th
            (4, dt.datetime(2025, 12, 20, 9)),  # too long ago: not active
        ],
        "customer_id bigint, ordered_at timestamp",
    )
    labels = churn_labels(
        orders, "customer_id", "ordered_at", [dt.date(2026, 1, 4), dt.date(2026, 1, 5)], 3, 3
    )
    got = {(r["customer_id"], r["cutoff_date"].day): r["churned"] for r in labels.collect()}
    assert got == {(1, 4): 0, (2, 4): 1, (1, 5): 0, (2, 5): 1, (3, 5): 1}
    assert labels.columns == ["customer_id", "cutoff_date", "label_time", "churned"]
