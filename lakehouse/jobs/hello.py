"""The first job: a small numbers table that proves session, Delta, catalog and run records work."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.errors import JobParameterError
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job


@dataclass(frozen=True)
class HelloParams:
    rows: int = 1000
    table: str = "bronze.hello"


def describe_numbers(numbers: DataFrame) -> DataFrame:
    """Add facts about each number.

    Args:
        numbers: one row per number, column ``id`` (bigint), as ``spark.range`` gives.

    Returns:
        One row per number: ``id``, ``square``, ``is_even``, ``digit_sum``.
    """
    digits = F.split(F.col("id").cast("string"), "")
    return numbers.select(
        F.col("id"),
        (F.col("id") * F.col("id")).alias("square"),
        (F.col("id") % 2 == 0).alias("is_even"),
        F.aggregate(digits, F.lit(0).cast("bigint"), lambda total, d: total + d.cast("bigint")).alias(
            "digit_sum"
        ),
    )


class HelloJob(Job):
    name = "hello"
    summary = "Write bronze.hello, one row per number 0..rows-1: a smoke test of the whole stack."
    Params = HelloParams

    def run(self, context: JobContext) -> None:
        params: HelloParams = context.params
        if params.rows < 0:
            raise JobParameterError(f"job hello: parameter rows must be >= 0, got {params.rows}")
        numbers = describe_numbers(context.spark.range(params.rows))
        # overwrite, not append: a rerun leaves the same table, never a duplicate
        context.tables.overwrite(params.table, numbers)
