"""The demo's history: one export per source that equals the days it covers, and customers whose
orders thin out before they churn (what the churn model's 30- and 90-day features can learn)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakehouse.demo.generator import (
    DEFECT,
    FADE_DAYS,
    ORDERS_SCHEMA,
    RECORD_KIND,
    DemoScale,
    build_customer_churn,
    build_order_history,
    build_order_line_history,
    build_order_lines,
    build_orders,
    build_ticket_history,
    build_tickets,
)
from lakehouse.demo.landing import land, land_day, land_history
from lakehouse.jobs.demo_data import DemoDataParams

HISTORY = DemoScale(seed=5, scale=0.05, days=7, coupon_day=2, history_days=5)
ORDER_FACTS = ["order_id", "customer_id", "order_ts", "currency", "total_amount", "coupon_code"]


def daily(build, spark, scale: DemoScale, days: range):
    frames = [build(spark, scale, day) for day in days]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame, allowMissingColumns=True)  # coupon_code from its day
    return union


def test_the_history_export_holds_each_order_once_as_the_daily_drops_placed_it(spark):
    history = build_order_history(spark, HISTORY)
    new = daily(build_orders, spark, HISTORY, range(5)).where(f"{RECORD_KIND} = 'new'")
    assertDataFrameEqual(history.select(ORDER_FACTS), new.select(ORDER_FACTS))
    assert history.columns == [*(field.name for field in ORDERS_SCHEMA.fields), RECORD_KIND, DEFECT]
    assert history.where(F.col(DEFECT).isNotNull()).isEmpty()
    # the latest status: an order's updates never go backwards, nor past the history's end
    statuses = {row.status for row in history.select("status").distinct().collect()}
    assert statuses <= {"placed", "paid", "cancelled", "shipped", "delivered", "returned"}
    out_of_order = history.where("updated_at < order_ts OR updated_at >= TIMESTAMP'2026-01-06 00:00:00Z'")
    assert out_of_order.isEmpty()
    assert "delivered" in statuses


def test_the_history_lines_and_tickets_equal_those_of_its_days(spark):
    assertDataFrameEqual(
        build_order_line_history(spark, HISTORY), daily(build_order_lines, spark, HISTORY, range(5))
    )
    tickets = daily(build_tickets, spark, HISTORY, range(5)).drop(DEFECT)
    assertDataFrameEqual(build_ticket_history(spark, HISTORY).drop(DEFECT), tickets)
    assert build_ticket_history(spark, HISTORY).where(F.col(DEFECT).isNotNull()).isEmpty()


def test_a_scale_without_history_has_no_export_and_the_days_after_it_land_one_by_one(spark, tmp_path):
    with pytest.raises(ValueError, match="no history"):
        build_order_history(spark, DemoScale(seed=5, scale=0.05, days=2))
    with pytest.raises(ValueError, match=r"history_days must be in 0 \.\. days \(2\)"):
        DemoScale(days=2, history_days=3)
    with pytest.raises(ValueError, match="is in the history"):
        land_day(spark, str(tmp_path / "landing"), str(tmp_path / "truth"), None, HISTORY, 4)
    with pytest.raises(ValueError, match=r"days \[4\] are in the history"):  # before day 5 lands
        land(spark, str(tmp_path / "landing"), str(tmp_path / "truth"), None, HISTORY, [5, 4])
    assert not (tmp_path / "landing").exists()
    # a history before the shop's coupons exports no coupon_code column
    no_coupons = DemoScale(seed=5, scale=0.05, days=7, coupon_day=6, history_days=5)
    assert "coupon_code" not in build_order_history(spark, no_coupons).columns


def test_land_history_writes_one_file_per_source_and_the_truth_of_its_last_day(spark, tmp_path):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    written = land_history(spark, str(landing), str(truth), None, HISTORY)
    name = "2026-01-01-to-2026-01-05"
    for source, extension in (("orders", "csv"), ("order_lines", "parquet"), ("tickets", "jsonl")):
        assert [path.name for path in (landing / source / "history").glob(f"*.{extension}")] == [
            f"{source}-{name}.{extension}"
        ]
    orders = spark.read.option("header", True).csv(str(landing / "orders" / "history"))
    assert orders.count() == written["orders"] == HISTORY.first_order_id(5) - 1
    assert written["order_lines"] == spark.read.parquet(str(landing / "order_lines" / "history")).count()
    assert written["tickets"] == HISTORY.first_ticket_id(5) - 1
    churn = spark.read.parquet(str(truth / "customer_churn"))
    assert churn.count() == written["customer_churn"] == HISTORY.customers_on(4)
    assert {row.day for row in churn.select("day").distinct().collect()} == {dt.date(2026, 1, 5)}
    topics = spark.read.parquet(str(truth / "ticket_topics" / "day=2026-01-05"))
    assert topics.count() == written["tickets"]
    # the next day lands as a daily drop beside it
    land_day(spark, str(landing), str(truth), None, HISTORY, 5)
    assert (landing / "orders" / "2026-01-06" / "orders-2026-01-06.csv").exists()
    assert Path(truth / "customer_churn" / "day=2026-01-06").is_dir()


def test_the_jobs_daily_drops_start_at_start_date_after_the_history():
    scale = DemoDataParams(start_date=dt.date(2026, 1, 1), history_days=84, days=7).demo_scale()
    assert scale.date_of(0) == dt.date(2025, 10, 9)
    assert scale.date_of(84) == dt.date(2026, 1, 1)
    assert (scale.history_days, scale.days) == (84, 91)
    # coupon_code appears in the third daily drop, as in a demo without history
    assert scale.date_of(scale.coupon_day) == dt.date(2026, 1, 3)


def test_customers_order_less_over_their_last_weeks_before_churning(spark):
    """Over the weeks before their churn day, customers place fewer orders than a month earlier."""
    scale = DemoScale(seed=11, scale=0.3, days=90, history_days=90)
    orders = build_order_history(spark, scale).where("customer_id IS NOT NULL")
    churn = build_customer_churn(spark, scale, 0, 89).select(
        "customer_id", F.datediff("churn_date", F.lit(scale.start_date)).alias("churn_day")
    )
    # customers who churn late enough in the history to have ten weeks of it before
    churners = churn.where("churn_day BETWEEN 72 AND 89")
    day = F.datediff(F.to_date("order_ts"), F.lit(scale.start_date))
    placed = orders.join(churners, "customer_id").select(
        "customer_id", (F.col("churn_day") - day).alias("before")
    )
    shortest = FADE_DAYS[0]
    late = placed.where(f"before BETWEEN 1 AND {shortest}").count()
    early = placed.where(f"before BETWEEN {shortest + 43} AND {2 * shortest + 42}").count()
    assert churners.count() >= 20
    assert early > 0 and late < 0.6 * early, (late, early)
