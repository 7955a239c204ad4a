"""The demo data generator: deterministic, scaled, consistent across entities, and messy on purpose."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.demo.generator import (
    CUSTOMERS_SCHEMA,
    DEFECT,
    ORDER_LINES_SCHEMA,
    ORDERS_SCHEMA,
    PRODUCTS_SCHEMA,
    RECORD_KIND,
    TICKET_TOPICS,
    TICKETS_SCHEMA,
    TOPIC,
    DemoScale,
    build_customer_churn,
    build_customer_snapshot,
    build_customers,
    build_order_lines,
    build_orders,
    build_product_snapshot,
    build_products,
    build_tickets,
    format_orders_csv,
    format_tickets_json,
    orders_csv_header,
)

SMALL = DemoScale(seed=7, scale=0.1, days=3, coupon_day=2)
ONE = DemoScale(seed=7, scale=1.0, days=3, coupon_day=2)
CORRUPT = "_corrupt_record"


def columns_of(schema: T.StructType) -> list[tuple[str, T.DataType]]:
    return [(field.name, field.dataType) for field in schema.fields]


def orders_schema(day: int, scale: DemoScale) -> T.StructType:
    """The declared CSV schema of a day's orders file, with the corrupt-record column."""
    fields = [
        field for field in ORDERS_SCHEMA.fields if day >= scale.coupon_day or field.name != "coupon_code"
    ]
    return T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])


@pytest.fixture(scope="module")
def orders_one(spark):
    """Scale 1, days 0 and 1: the orders as generated (collected once)."""
    return {day: build_orders(spark, ONE, day).collect() for day in (0, 1)}


# --- parameters and counts (no Spark) -------------------------------------------------------


def test_demo_scale_checks_its_arguments():
    with pytest.raises(ValueError, match="scale must be a positive number"):
        DemoScale(scale=0)
    with pytest.raises(TypeError, match="scale must be a number"):
        DemoScale(scale="1")
    with pytest.raises(TypeError, match=r"start_date must be a datetime\.date"):
        DemoScale(start_date="2026-01-01")
    with pytest.raises(ValueError, match="days must be >= 1"):
        DemoScale(days=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        DemoScale(seed=1.5)
    with pytest.raises(ValueError, match="day must be >= 0"):
        SMALL.counts(-1)


def test_counts_follow_the_scale_factor():
    small, one, big = SMALL, ONE, DemoScale(scale=1000)
    assert (one.initial_customers, one.products, one.signups_per_day) == (2000, 300, 20)
    assert (small.initial_customers, small.products, small.signups_per_day) == (200, 30, 2)
    assert (big.initial_customers, big.products) == (2_000_000, 300_000)
    for day in range(3):
        assert 900 <= one.orders_on(day) <= 1300
        assert 90 <= small.orders_on(day) <= 130
        assert 900_000 <= big.orders_on(day) <= 1_300_000
    counts = one.counts(1)
    assert counts.customers == 2000 + 2 * 20
    assert counts.tickets == math.ceil(0.06 * counts.orders)
    # nominal rates at scale 1; at least one of each kind of mess a day at any scale
    assert counts.duplicate_orders == math.ceil(0.01 * counts.orders)
    assert counts.null_customer_orders == math.ceil(0.005 * counts.orders)
    assert counts.malformed_orders == math.ceil(0.003 * counts.orders)
    assert counts.late_updates == math.ceil(0.05 * counts.orders)
    assert one.counts(0).late_updates == 0
    tiny = DemoScale(scale=0.05).counts(1)
    assert (
        min(tiny.duplicate_orders, tiny.null_customer_orders, tiny.malformed_orders, tiny.orphan_orders) == 1
    )
    # a day's ids continue the previous day's
    assert one.first_order_id(2) == one.first_order_id(1) + one.orders_on(1)
    assert one.first_ticket_id(1) == 1 + one.tickets_on(0)


# --- determinism and schemas ----------------------------------------------------------------


def test_same_parameters_give_the_same_rows_and_another_seed_other_rows(spark):
    for build in (build_customers, build_orders):
        assertDataFrameEqual(build(spark, SMALL, 2), build(spark, SMALL, 2))
    # a day does not depend on how many days are landed
    longer = DemoScale(seed=7, scale=0.1, days=30, coupon_day=2)
    assertDataFrameEqual(build_tickets(spark, SMALL, 1), build_tickets(spark, longer, 1))
    other = DemoScale(seed=8, scale=0.1, days=3, coupon_day=2)
    assert build_orders(spark, SMALL, 1).collect() != build_orders(spark, other, 1).collect()


def test_frames_have_the_declared_columns_and_counts(spark):
    day = 2
    counts = SMALL.counts(day)
    customers = build_customer_snapshot(spark, SMALL, day)
    assert columns_of(customers.schema) == columns_of(CUSTOMERS_SCHEMA)
    assert customers.count() == counts.customers == SMALL.customers_on(day)
    products = build_product_snapshot(spark, SMALL, day)
    assert columns_of(products.schema) == columns_of(PRODUCTS_SCHEMA)
    assert products.count() == counts.products
    orders = build_orders(spark, SMALL, day)
    assert columns_of(orders.schema) == [
        *columns_of(ORDERS_SCHEMA),
        (RECORD_KIND, T.StringType()),
        (DEFECT, T.StringType()),
    ]
    assert orders.count() == counts.order_records
    lines = build_order_lines(spark, SMALL, day)
    assert columns_of(lines.schema) == columns_of(ORDER_LINES_SCHEMA)
    assert 2.0 <= lines.count() / counts.orders <= 3.0
    tickets = build_tickets(spark, SMALL, day)
    assert columns_of(tickets.schema) == [
        *columns_of(TICKETS_SCHEMA),
        (TOPIC, T.StringType()),
        (DEFECT, T.StringType()),
    ]
    assert tickets.count() == counts.tickets


# --- customers and products -----------------------------------------------------------------


def test_customer_changes_are_later_versions_of_existing_keys(spark):
    day = 2
    date = SMALL.date_of(day)
    changes = build_customers(spark, SMALL, day)
    rows = changes.collect()
    assert {row.updated_at.date() for row in rows} == {date}
    new = [row for row in rows if row.signup_date == date]
    assert len(new) == SMALL.signups_per_day
    changed = [row for row in rows if row.signup_date < date]
    assert changed, "some existing customers change their email, phone, city or segment each day"
    assert all(row.customer_id <= SMALL.customers_on(day - 1) for row in changed)
    # the database after day 2 = the state after day 1 with the day's rows upserted
    before = build_customer_snapshot(spark, SMALL, day - 1)
    upserted = before.join(changes.select("customer_id"), "customer_id", "left_anti").unionByName(changes)
    assertDataFrameEqual(upserted, build_customer_snapshot(spark, SMALL, day))
    previous = {row.customer_id: row for row in before.collect()}
    for row in changed:
        old = previous[row.customer_id]
        assert row.updated_at > old.updated_at
        assert (row.first_name, row.last_name, row.signup_date) == (
            old.first_name,
            old.last_name,
            old.signup_date,
        )
        assert (row.email, row.phone, row.city, row.segment) != (old.email, old.phone, old.city, old.segment)


def test_customers_have_pii_and_some_missing_emails(spark):
    customers = build_customer_snapshot(spark, ONE, 0).collect()
    emails = [row.email for row in customers]
    missing = emails.count(None) / len(emails)
    assert 0.01 <= missing <= 0.03
    assert all("@" in email for email in emails if email)
    assert sum(row.phone is None for row in customers) > 0
    assert {row.segment for row in customers} == {"budget", "standard", "premium", "business"}
    assert min(row.signup_date for row in customers) >= dt.date(2024, 1, 1)


def test_products_have_category_words_and_a_few_price_changes(spark):
    catalogue = build_product_snapshot(spark, ONE, 0).collect()
    assert len({row.sku for row in catalogue}) == len(catalogue)
    for row in catalogue[:20]:
        assert row.description.count(". ") >= 2 and row.description.endswith("warranty.")
        assert row.name.startswith(row.brand)
        assert str(row.price).endswith(".99")
    assert build_products(spark, ONE, 0).count() == ONE.products
    changed = build_products(spark, ONE, 1).collect()
    assert 0 < len(changed) < ONE.products * 0.1
    previous = {row.product_id: row.price for row in catalogue}
    assert any(row.price != previous[row.product_id] for row in changed)
    assert {row.updated_at.date() for row in changed} == {ONE.date_of(1)}


# --- orders -----------------------------------------------------------------------------------


def test_orders_carry_the_mess_in_exact_proportions(orders_one):
    counts = ONE.counts(1)
    rows = orders_one[1]
    new = [row for row in rows if row[RECORD_KIND] == "new"]
    duplicates = [row for row in rows if row[RECORD_KIND] == "duplicate"]
    late = [row for row in rows if row[RECORD_KIND] == "late_update"]
    assert len(new) == counts.orders
    assert len(duplicates) == counts.duplicate_orders
    assert len(late) == counts.late_updates
    # exact duplicates: the same line twice
    by_id = {row.order_id: row for row in new}
    landed = ORDERS_SCHEMA.fieldNames()[:-1]  # no coupon_code on day 1
    assert all(
        [by_id[row.order_id][name] for name in landed] == [row[name] for name in landed] for row in duplicates
    )
    assert sum(row.customer_id is None for row in new) == counts.null_customer_orders
    assert sum(row[DEFECT] is not None for row in rows) == counts.malformed_orders
    rates = [len(duplicates) / len(new), counts.null_customer_orders / len(new), len(late) / len(new)]
    assert rates == pytest.approx([0.01, 0.005, 0.05], abs=0.001)
    # late updates: earlier orders again, a new status, a later updated_at, same amounts
    earlier = {row.order_id: row for row in orders_one[0] if row[RECORD_KIND] == "new"}
    assert len({row.order_id for row in late}) == len(late)
    for row in late:
        original = earlier[row.order_id]
        assert row.updated_at > original.updated_at
        assert row.updated_at.date() == ONE.date_of(1)
        assert (row.order_ts, row.total_amount, row.customer_id) == (
            original.order_ts,
            original.total_amount,
            original.customer_id,
        )
        assert row.status in {"shipped", "delivered", "returned", "cancelled"}


def test_malformed_lines_are_flagged_by_permissive_csv_with_a_declared_schema(spark):
    day = 2
    counts = ONE.counts(day)
    orders = build_orders(spark, ONE, day)
    lines = [row.line for row in format_orders_csv(orders).collect()]
    parsed = (
        spark.read.schema(orders_schema(day, ONE))
        .option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .csv(spark.sparkContext.parallelize([orders_csv_header(ONE, day), *lines], 1))
    ).cache()
    assert parsed.count() == counts.order_records
    corrupt = parsed.where(F.col(CORRUPT).isNotNull()).select("order_id").collect()
    assert len(corrupt) == counts.malformed_orders
    broken = {row.order_id for row in orders.where(F.col(DEFECT).isNotNull()).collect()}
    assert {row.order_id for row in corrupt} <= broken | {None}
    clean = parsed.where(F.col(CORRUPT).isNull())
    assert clean.where("customer_id IS NULL").count() == counts.null_customer_orders
    assert clean.where("total_amount IS NULL OR order_ts IS NULL OR updated_at IS NULL").count() == 0
    assertDataFrameEqual(
        clean.drop(CORRUPT),
        orders.where(F.col(DEFECT).isNull()).drop(RECORD_KIND, DEFECT),
        checkRowOrder=False,
    )
    parsed.unpersist()


def test_coupon_code_is_a_trailing_column_from_its_day(spark):
    assert (
        orders_csv_header(SMALL, 1) == "order_id,customer_id,order_ts,status,currency,total_amount,updated_at"
    )
    assert orders_csv_header(SMALL, 2) == orders_csv_header(SMALL, 1) + ",coupon_code"
    assert "coupon_code" not in build_orders(spark, SMALL, 1).columns
    coupons = build_orders(spark, ONE, 2).where("coupon_code IS NOT NULL").count()
    assert 0.1 <= coupons / ONE.counts(2).order_records <= 0.2


def test_order_totals_are_the_sum_of_their_discounted_lines(spark):
    day = 2
    lines = build_order_lines(spark, SMALL, day)
    totals = lines.groupBy("order_id").agg(
        F.sum(
            F.floor(
                (
                    F.col("quantity")
                    * F.col("unit_price")
                    * 100
                    * (100 - F.round(F.col("discount_pct") * 100))
                    + 50
                )
                / 100
            )
        ).alias("cents")
    )
    orders = build_orders(spark, SMALL, day).where(f"{RECORD_KIND} = 'new'")
    compared = orders.join(totals, "order_id").select(
        (F.col("total_amount") * 100).cast("long").alias("total"), "cents"
    )
    assert compared.count() == SMALL.counts(day).orders
    assert compared.where("total != cents").count() == 0
    catalogue = build_product_snapshot(spark, SMALL, day).select(
        "product_id", F.col("price").alias("unit_price")
    )
    assert lines.join(catalogue, ["product_id", "unit_price"], "left_anti").count() == 0


def test_customers_who_order_mostly_exist_and_churned_ones_no_longer_order(spark, orders_one):
    day = 1
    existing = {row.customer_id for row in build_customer_snapshot(spark, ONE, day).collect()}
    ordering = [row.customer_id for row in orders_one[day] if row[RECORD_KIND] == "new" and row.customer_id]
    unknown = [customer for customer in ordering if customer not in existing]
    assert len(unknown) == ONE.counts(day).orphan_orders
    # orphans sign up the next day: a customer record that reaches the database late
    assert all(ONE.customers_on(day) < customer <= ONE.customers_on(day + 1) for customer in unknown)
    churn = {row.customer_id: row.churn_date for row in build_customer_churn(spark, ONE, 0).collect()}
    assert all(churn[customer] > ONE.date_of(day) for customer in ordering if customer in churn)
    assert sum(date <= ONE.date_of(0) for date in churn.values()) > 0.05 * len(churn)  # dormant customers


# --- tickets --------------------------------------------------------------------------------


def test_tickets_have_topics_text_and_a_link_to_the_order(spark):
    tickets = build_tickets(spark, ONE, 1).collect()
    assert {row[TOPIC] for row in tickets} <= set(TICKET_TOPICS)
    assert len({row[TOPIC] for row in tickets}) >= 8
    assert len({row.body for row in tickets}) == len(tickets)
    assert all("{" not in row.body and "{" not in row.subject for row in tickets)
    for row in tickets:
        if row[TOPIC] == "login_problem":
            assert row.order_id is None and row.product_id is None
        else:
            assert row.order_id is not None and row.product_id is not None
            assert row.order_id < ONE.first_order_id(2)
        assert row.created_at.date() == ONE.date_of(1)
    for row in tickets:  # each body states its topic's problem in one of the topic's phrasings
        body = row.body.lower()
        assert any(
            all(part.lower() in body for part in re.split(r"\{[a-z]+\}", phrasing) if part.strip())
            for phrasing in TICKET_TOPICS[row[TOPIC]].problems
        ), (row[TOPIC], row.body)


def test_unhappy_customers_write_most_tickets(spark):
    churn = {row.customer_id: row.unhappiness for row in build_customer_churn(spark, ONE, 0).collect()}
    writers = [row.customer_id for day in (0, 1) for row in build_tickets(spark, ONE, day).collect()]
    mean = sum(churn.get(customer, 0.5) for customer in writers) / len(writers)
    assert mean > 0.6  # everyone: 0.5


def test_malformed_ticket_lines_are_flagged_and_the_topic_is_not_landed(spark):
    for day in (0, 1):
        counts = ONE.counts(day)
        lines = [row.line for row in format_tickets_json(build_tickets(spark, ONE, day)).collect()]
        schema = T.StructType([*TICKETS_SCHEMA.fields, T.StructField(CORRUPT, T.StringType())])
        parsed = (
            spark.read.schema(schema)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .json(spark.sparkContext.parallelize(lines, 1))
        )
        assert parsed.count() == counts.tickets
        assert parsed.where(F.col(CORRUPT).isNotNull()).count() == counts.malformed_tickets >= 1
        well_formed = []
        for line in lines:
            try:
                well_formed.append(json.loads(line))
            except ValueError:
                continue
        assert len(well_formed) == counts.tickets - counts.malformed_tickets
        assert all(list(record) == TICKETS_SCHEMA.fieldNames() for record in well_formed)
