"""Window features on crafted events match values computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lakehouse.config.features import FeatureTableSettings
from lakehouse.features.windows import compute_features

TABLE = FeatureTableSettings.model_validate(
    {
        "entity": ["customer_id"],
        "spine": {"table": "silver.customers", "since": "signup_date", "where": "is_current"},
        "sources": {
            "orders": {"table": "silver.orders", "timestamp": "ordered_at", "where": "status <> 'cancelled'"},
            "tickets": {"table": "silver.tickets", "timestamp": "created_at"},
        },
        "features": {
            "orders_3d": {
                "source": "orders",
                "agg": "count",
                "window": "3d",
                "type": "bigint",
                "description": "o",
            },
            "spend_3d": {
                "source": "orders",
                "agg": "sum",
                "column": "amount",
                "window": "3d",
                "type": "decimal(14,2)",
                "description": "s",
            },
            "avg_10d": {
                "source": "orders",
                "agg": "avg",
                "column": "amount",
                "window": "10d",
                "type": "double",
                "description": "a",
            },
            "max_10d": {
                "source": "orders",
                "agg": "max",
                "column": "amount",
                "window": "10d",
                "type": "decimal(12,2)",
                "description": "m",
            },
            "returns_10d": {
                "source": "orders",
                "agg": "count",
                "where": "status = 'returned'",
                "window": "10d",
                "type": "bigint",
                "description": "r",
            },
            "coupon_share_10d": {
                "source": "orders",
                "agg": "share",
                "where": "coupon IS NOT NULL",
                "window": "10d",
                "type": "double",
                "description": "c",
            },
            "recency": {
                "source": "orders",
                "agg": "days_since_last",
                "window": "30d",
                "type": "int",
                "description": "d",
            },
            "tenure": {"agg": "days_since", "type": "int", "description": "t"},
            "tickets_3d": {
                "source": "tickets",
                "agg": "count",
                "window": "3d",
                "type": "bigint",
                "description": "k",
            },
        },
    }
)


def ts(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour)


@pytest.fixture
def frames(spark):
    customers = spark.createDataFrame(
        [
            (1, dt.date(2026, 2, 20), True),
            (1, dt.date(2026, 2, 20), False),  # an old SCD2 version: not a second row
            (2, dt.date(2026, 3, 5), True),  # signs up on the 5th: rows from the 6th
        ],
        "customer_id bigint, signup_date date, is_current boolean",
    )
    orders = spark.createDataFrame(
        [
            (1, ts(1), "paid", Decimal("10.00"), None),
            (1, ts(3), "returned", Decimal("20.00"), "SAVE10"),
            (1, ts(4, 23), "paid", Decimal("30.00"), None),
            (1, ts(5, 0), "paid", Decimal("40.00"), "SAVE10"),  # on the as-of day: not seen by it
            (1, ts(4), "cancelled", Decimal("99.00"), None),  # filtered by the source's where
            (2, ts(6), "paid", Decimal("5.00"), None),
        ],
        "customer_id bigint, ordered_at timestamp, status string, amount decimal(12,2), coupon string",
    )
    tickets = spark.createDataFrame([(1, ts(2)), (1, ts(4))], "customer_id bigint, created_at timestamp")
    return customers, {"orders": orders, "tickets": tickets}


def test_window_features_match_hand_computed_values(frames):
    customers, sources = frames
    rows = compute_features(TABLE, customers, sources, dt.date(2026, 3, 5), dt.date(2026, 3, 7)).collect()
    got = {(r["customer_id"], r["as_of_date"].day): r.asDict() for r in rows}

    assert sorted(got) == [(1, 5), (1, 6), (1, 7), (2, 6), (2, 7)]
    on_5th = got[(1, 5)]  # sees the 2nd .. 4th for 3d windows, everything before the 5th for 10d
    assert on_5th["orders_3d"] == 2  # the 3rd and the 4th (the cancelled one does not count)
    assert on_5th["spend_3d"] == Decimal("50.00")
    assert on_5th["avg_10d"] == pytest.approx(20.0)  # (10 + 20 + 30) / 3
    assert on_5th["max_10d"] == Decimal("30.00")
    assert on_5th["returns_10d"] == 1
    assert on_5th["coupon_share_10d"] == pytest.approx(1 / 3)
    assert on_5th["recency"] == 1  # last order on the 4th
    assert on_5th["tenure"] == 13  # 20 Feb .. 5 Mar
    assert on_5th["tickets_3d"] == 2
    on_7th = got[(1, 7)]  # 3d window: the 4th .. 6th
    assert on_7th["orders_3d"] == 2 and on_7th["spend_3d"] == Decimal("70.00")
    assert on_7th["tickets_3d"] == 1
    assert on_7th["recency"] == 2  # the order at 00:00 on the 5th
    new = got[(2, 6)]  # signed up on the 5th; its order on the 6th is not seen on the 6th
    assert (new["orders_3d"], new["spend_3d"], new["avg_10d"], new["recency"]) == (
        0,
        Decimal("0.00"),
        None,
        None,
    )
    assert new["coupon_share_10d"] is None and new["tenure"] == 1
    assert got[(2, 7)]["orders_3d"] == 1


def test_a_date_range_computes_the_same_rows_as_single_dates(frames):
    customers, sources = frames
    whole = compute_features(TABLE, customers, sources, dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    days = [
        compute_features(TABLE, customers, sources, day, day)
        for day in (dt.date(2026, 3, 2) + dt.timedelta(days=n) for n in range(7))
    ]
    single = days[0]
    for day in days[1:]:
        single = single.unionByName(day)
    assert sorted(whole.collect()) == sorted(single.collect())


def test_an_attribute_is_the_spine_version_valid_at_each_date(spark):
    spine = {
        "table": "silver.customers",
        "where": "is_current",
        "valid_from": "valid_from",
        "valid_to": "valid_to",
    }
    table = FeatureTableSettings.model_validate(
        {
            "entity": ["customer_id"],
            "spine": spine,
            "sources": {"orders": {"table": "silver.orders", "timestamp": "ordered_at"}},
            "features": {
                "segment": {"agg": "attribute", "column": "segment", "type": "string", "description": "s"},
                "orders_3d": {
                    "source": "orders",
                    "agg": "count",
                    "window": "3d",
                    "type": "bigint",
                    "description": "n",
                },
            },
        }
    )
    customers = spark.createDataFrame(
        [  # budget until the 6th at 10:00, premium from then on
            (1, "budget", ts(1, 8), ts(6, 10), False),
            (1, "premium", ts(6, 10), None, True),
        ],
        "customer_id bigint, segment string, valid_from timestamp, valid_to timestamp, is_current boolean",
    )
    orders = spark.createDataFrame([(1, ts(2))], "customer_id bigint, ordered_at timestamp")
    rows = compute_features(table, customers, {"orders": orders}, dt.date(2026, 3, 5), dt.date(2026, 3, 7))
    got = {r["as_of_date"].day: r["segment"] for r in rows.collect()}
    # the change on the 6th at 10:00 is not known at the 6th's 00:00
    assert got == {5: "budget", 6: "budget", 7: "premium"}

    current = table.model_copy(
        update={"spine": table.spine.model_copy(update={"valid_from": None, "valid_to": None})}
    )
    rows = compute_features(current, customers, {"orders": orders}, dt.date(2026, 3, 5), dt.date(2026, 3, 5))
    assert [r["segment"] for r in rows.collect()] == ["premium"]  # no history: the current version
