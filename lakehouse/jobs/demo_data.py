"""The demo data job: land the demo shop's daily files and load its database.

Lands into ``<root>/files/landing`` (orders CSV, order lines Parquet, tickets JSON lines), the
ground truth into ``<root>/files/demo/ground_truth``, and upserts customers and products into
the database of ``connections.<connection>``. Writes no lakehouse table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lakehouse.demo.generator import DemoScale
from lakehouse.demo.landing import land_day
from lakehouse.errors import JobParameterError
from lakehouse.io.jdbc import JdbcConnection
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job


@dataclass(frozen=True)
class DemoDataParams:
    """Parameters of the ``demo_data`` job.

    Attributes:
        scale: size factor (1.0: about 2,000 customers and 1,000 orders a day).
        days: days to land, from ``start_date``.
        seed: the seed; the same parameters land the same data.
        start_date: the date of day 0.
        connection: the configured database (``connections.<name>``); ``none`` lands files only.
        day: land only this day index (``0 .. days - 1``); all days when unset.
    """

    scale: float = 1.0
    days: int = 7
    seed: int = 42
    start_date: dt.date = dt.date(2026, 1, 1)
    connection: str | None = "shop_db"
    day: int | None = None


class DemoDataJob(Job):
    name = "demo_data"
    summary = "Land the demo shop's daily orders, order lines and tickets files, and load its database."
    Params = DemoDataParams

    def run(self, context: JobContext) -> None:
        params: DemoDataParams = context.params
        try:
            scale = DemoScale(
                seed=params.seed, scale=params.scale, start_date=params.start_date, days=params.days
            )
        except (TypeError, ValueError) as error:
            raise JobParameterError(f"job {self.name}: {error}") from None
        if params.day is not None and not 0 <= params.day < params.days:
            raise JobParameterError(
                f"job {self.name}: parameter day must be in 0 .. {params.days - 1} (days={params.days}), "
                f"got {params.day}"
            )
        connection = (
            JdbcConnection.from_config(context.config, params.connection) if params.connection else None
        )
        landing = context.layout.files_location("landing")
        truth = context.layout.files_location("demo", "ground_truth")
        context.log.info(
            "landing demo data (scale %s, seed %s) into %s, ground truth into %s, database: %s",
            params.scale,
            params.seed,
            landing,
            truth,
            connection.describe() if connection else "none",
        )
        for day in [params.day] if params.day is not None else range(params.days):
            written = land_day(context.spark, landing, truth, connection, scale, day)
            for name, rows in written.items():  # what landed, kept with the run (files, not tables)
                key = f"landed_rows.{name}"
                context.metrics[key] = context.metrics.get(key, 0.0) + rows
            context.log.info(
                "%s: %s",
                scale.date_of(day).isoformat(),
                ", ".join(f"{name} {rows}" for name, rows in written.items()),
            )
