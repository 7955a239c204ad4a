"""Gold business tables of the demo shop (pure DataFrame -> DataFrame).

Cancelled orders count nowhere. A returned order counts in the gross figures and again in the
returned ones; net = gross - returned. A line's amount is ``quantity x unit_price x (1 -
discount_pct)`` rounded to the cent, as the shop bills it.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

MONEY = "decimal(14,2)"


def _billed(orders: DataFrame) -> DataFrame:
    return orders.where(F.col("status").isNull() | (F.col("status") != "cancelled"))


def line_amount() -> F.Column:
    gross = F.col("quantity") * F.col("unit_price") * (F.lit(1) - F.col("discount_pct"))
    return F.round(gross.cast("decimal(20,6)"), 2).cast(MONEY)


def daily_sales(orders: DataFrame, lines: DataFrame, products: DataFrame) -> DataFrame:
    """One row per order date and product: ``category``, ``orders``, ``units``, ``gross_revenue``,
    ``returned_revenue``, ``net_revenue``."""
    billed = _billed(orders).select(
        "order_id",
        F.to_date("ordered_at").alias("order_date"),
        (F.col("status") == "returned").alias("_returned"),
    )
    sold = (
        lines.join(billed, "order_id")
        .join(products.select("product_id", "category"), "product_id", "left")
        .withColumn("_amount", line_amount())
    )
    returned = F.when(F.col("_returned"), F.col("_amount")).otherwise(F.lit(0).cast(MONEY))
    daily = sold.groupBy("order_date", "product_id", "category").agg(
        F.count_distinct("order_id").alias("orders"),
        F.sum("quantity").cast("bigint").alias("units"),
        F.sum("_amount").cast(MONEY).alias("gross_revenue"),
        F.sum(returned).cast(MONEY).alias("returned_revenue"),
    )
    return daily.withColumn("net_revenue", (F.col("gross_revenue") - F.col("returned_revenue")).cast(MONEY))


def customer_value(orders: DataFrame, customers: DataFrame) -> DataFrame:
    """One row per current customer: ``segment``, ``country``, ``signup_date``, ``orders``,
    ``returns``, ``first_order_at``, ``last_order_at``, ``gross_spend``, ``returned_spend``,
    ``net_spend``, ``avg_order_value`` (of billed orders; zero orders: counts 0, amounts 0)."""
    current = customers.where("is_current") if "is_current" in customers.columns else customers
    people = current.select("customer_id", "segment", "country", "signup_date")
    people = people.dropDuplicates(["customer_id"])
    amount = F.col("total_amount").cast(MONEY)
    returned = F.col("status") == "returned"
    spent = (
        _billed(orders)
        .where(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.count(F.lit(1)).alias("orders"),
            F.count_if(returned).alias("returns"),
            F.min("ordered_at").alias("first_order_at"),
            F.max("ordered_at").alias("last_order_at"),
            F.sum(amount).cast(MONEY).alias("gross_spend"),
            F.sum(F.when(returned, amount)).cast(MONEY).alias("returned_spend"),
        )
    )
    zero = F.lit(0).cast(MONEY)
    joined = people.join(spent, "customer_id", "left")
    return joined.select(
        "customer_id",
        "segment",
        "country",
        "signup_date",
        F.coalesce("orders", F.lit(0)).cast("bigint").alias("orders"),
        F.coalesce("returns", F.lit(0)).cast("bigint").alias("returns"),
        "first_order_at",
        "last_order_at",
        F.coalesce("gross_spend", zero).alias("gross_spend"),
        F.coalesce("returned_spend", zero).alias("returned_spend"),
        (F.coalesce("gross_spend", zero) - F.coalesce("returned_spend", zero)).cast(MONEY).alias("net_spend"),
        (F.col("gross_spend") / F.col("orders")).cast("decimal(14,2)").alias("avg_order_value"),
    )
