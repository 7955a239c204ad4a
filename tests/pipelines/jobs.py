"""Small jobs for the pipeline tests, loaded as ``tests.pipelines.jobs:<Class>`` (real Spark and Delta)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import types as T

from lakehouse.errors import LakehouseError
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job

DAILY_TABLE = "gold.daily_numbers"
DAILY_SCHEMA = T.StructType(
    [
        T.StructField("day", T.DateType(), False),
        T.StructField("n", T.LongType(), False),
        T.StructField("value", T.LongType(), False),
        T.StructField("source_rows", T.LongType(), False),
    ]
)


@dataclass(frozen=True)
class DailyParams:
    date: str = ""
    rows: int = 3


class DailyNumbersJob(Job):
    """Replaces one day's rows of gold.daily_numbers; the day's values depend on the rows already
    there for earlier days, so running days out of order or twice would show."""

    name = "daily_numbers"
    summary = "test job: one day's numbers"
    Params = DailyParams

    def run(self, context: JobContext) -> None:
        day = dt.date.fromisoformat(context.params.date)
        earlier = (
            context.tables.read(DAILY_TABLE).where(f"day < DATE'{day}'").count()
            if context.tables.exists(DAILY_TABLE)
            else 0
        )
        rows = [(day, n, day.toordinal() * 10 + n, earlier) for n in range(context.params.rows)]
        frame = context.spark.createDataFrame(rows, DAILY_SCHEMA)
        spec = TableSpec(DAILY_TABLE, DAILY_SCHEMA, key=("day", "n"), partition_by=("day",))
        context.tables.overwrite_partition(DAILY_TABLE, frame, f"day = DATE'{day}'", spec=spec)
        context.metrics["rows"] = float(len(rows))


@dataclass(frozen=True)
class FlagParams:
    flag: str = ""  # a file path
    table: str = "bronze.touched"


class FailsUntilFlagJob(Job):
    """Fails while the flag file is missing (a broken upstream that someone fixes)."""

    name = "fails_until_flag"
    summary = "test job: fails until its flag file exists"
    Params = FlagParams

    def run(self, context: JobContext) -> None:
        if not Path(context.params.flag).exists():
            raise LakehouseError(f"flag {context.params.flag} is missing")
        context.tables.overwrite(context.params.table, context.spark.range(2))


class FlakyJob(Job):
    """Fails on its first attempt only: it creates the flag file, then raises."""

    name = "flaky"
    summary = "test job: fails once"
    Params = FlagParams

    def run(self, context: JobContext) -> None:
        flag = Path(context.params.flag)
        if not flag.exists():
            flag.write_text("failed once")
            raise LakehouseError("transient failure (first attempt)")
        context.tables.overwrite(context.params.table, context.spark.range(3))
