"""An example job of this project: a profile of one table into ``gold.<table>_profile``.

One row per column of the table: its type, rows, nulls, distinct values, and for numbers the
mean, minimum and maximum. Run it alone with
``lakehouse run jobs.profile:TableProfileJob --param table=silver.{{dataset}}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import JobParameterError
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job

PROFILE_SCHEMA = T.StructType(
    [
        T.StructField("column", T.StringType(), False, {"comment": "The profiled column"}),
        T.StructField("type", T.StringType(), False, {"comment": "Its Spark SQL type"}),
        T.StructField("rows", T.LongType(), False, {"comment": "Rows of the table"}),
        T.StructField("nulls", T.LongType(), False, {"comment": "Rows where the column is null"}),
        T.StructField("distinct", T.LongType(), False, {"comment": "Distinct non-null values (approximate)"}),
        T.StructField("mean", T.DoubleType(), True, {"comment": "Mean, for numbers"}),
        T.StructField("minimum", T.DoubleType(), True, {"comment": "Smallest value, for numbers"}),
        T.StructField("maximum", T.DoubleType(), True, {"comment": "Greatest value, for numbers"}),
    ]
)


def profile_columns(frame: DataFrame) -> DataFrame:
    """Profile every column of ``frame`` (pure: one aggregation pass, nothing read or written).

    Args:
        frame: any rows; columns starting with ``_`` (the lakehouse's own) are left out.

    Returns:
        One row per column, in the frame's column order, with the columns of ``PROFILE_SCHEMA``.
    """
    profiles = []
    for field in frame.schema.fields:
        if field.name.startswith("_"):
            continue
        column = F.col(f"`{field.name}`")
        numeric = isinstance(field.dataType, T.NumericType)

        def number(aggregate, column=column, numeric=numeric):
            return aggregate(column.cast("double")) if numeric else F.lit(None).cast("double")

        profiles.append(
            F.struct(
                F.lit(field.name).alias("column"),
                F.lit(field.dataType.simpleString()).alias("type"),
                F.count(F.lit(1)).alias("rows"),
                F.sum(column.isNull().cast("long")).alias("nulls"),
                F.approx_count_distinct(column).alias("distinct"),
                number(F.avg).alias("mean"),
                number(F.min).alias("minimum"),
                number(F.max).alias("maximum"),
            )
        )
    if not profiles:
        raise ValueError("the frame has no column to profile")
    return frame.agg(F.array(*profiles).alias("profiles")).select(F.inline("profiles"))


@dataclass(frozen=True)
class ProfileParams:
    """Parameters of the profile job.

    Attributes:
        table: the table to profile, ``<layer>.<name>``.
    """

    table: str = ""


class TableProfileJob(Job):
    name = "table_profile"
    summary = "Profile one table (type, rows, nulls, distinct values, mean, min, max per column)."
    Params = ProfileParams

    def run(self, context: JobContext) -> None:
        table = context.params.table
        layer, _, name = table.partition(".")
        if not (layer and name):
            raise JobParameterError(f"job {self.name}: --param table=<layer>.<name>, got {table!r}")
        target = f"gold.{name}_profile"
        spec = TableSpec(
            target, PROFILE_SCHEMA, key=("column",), comment=f"Profile of {table}, one row per column"
        )
        profiles = profile_columns(context.tables.read(table))
        rows = context.tables.overwrite(target, profiles.select(*PROFILE_SCHEMA.fieldNames()), spec=spec)
        context.log.info("%s: %d columns profiled into %s", table, rows, target)
