"""The demo data job: land the demo shop's history and daily files and load its database.

Lands into ``<root>/files/landing`` (orders CSV, order lines Parquet, tickets JSON lines), the
ground truth into ``<root>/files/demo/ground_truth``, and upserts customers and products into
the database of ``connections.<connection>``. Writes no lakehouse table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lakehouse.demo.generator import DemoScale
from lakehouse.demo.landing import land_day, land_history
from lakehouse.errors import JobParameterError
from lakehouse.io.jdbc import JdbcConnection
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job


@dataclass(frozen=True)
class DemoDataParams:
    """Parameters of the ``demo_data`` job.

    Attributes:
        scale: size factor (1.0: about 2,000 customers and 1,000 orders a day).
        days: daily drops to land, from ``start_date``.
        seed: the seed; the same parameters land the same data.
        start_date: the date of the first daily drop.
        history_days: days of the shop's history before ``start_date``, landed first as one
            export per source (orders, order lines, tickets) and the database as it stood then;
            0 for none.
        connection: the configured database (``connections.<name>``); ``none`` lands files only.
        day: land only this daily drop (``0 .. days - 1``, counted from ``start_date``); the
            history and every daily drop when unset.
    """

    scale: float = 1.0
    days: int = 7
    seed: int = 42
    start_date: dt.date = dt.date(2026, 1, 1)
    history_days: int = 84
    connection: str | None = "shop_db"
    day: int | None = None

    def demo_scale(self) -> DemoScale:
        """The generator's view: day 0 is the history's first day, the daily drops follow it."""
        return DemoScale(
            seed=self.seed,
            scale=self.scale,
            start_date=self.start_date - dt.timedelta(days=self.history_days),
            days=self.history_days + self.days,
            history_days=self.history_days,
            coupon_day=self.history_days + DemoScale.coupon_day,  # the third daily drop, as without history
        )


class DemoDataJob(Job):
    name = "demo_data"
    summary = (
        "Land the demo shop's history and daily orders, order lines and tickets files, and load its database."
    )
    Params = DemoDataParams

    def run(self, context: JobContext) -> None:
        params: DemoDataParams = context.params
        try:
            scale = params.demo_scale()
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
            "landing demo data (scale %s, seed %s, %s days of history) into %s, ground truth into %s, "
            "database: %s",
            params.scale,
            params.seed,
            params.history_days,
            landing,
            truth,
            connection.describe() if connection else "none",
        )
        if params.day is None and params.history_days:
            written = land_history(context.spark, landing, truth, connection, scale)
            self._record(context, f"history to {scale.date_of(scale.history_days - 1)}", written)
        daily = range(params.days) if params.day is None else [params.day]
        for day in daily:
            written = land_day(context.spark, landing, truth, connection, scale, params.history_days + day)
            self._record(context, scale.date_of(params.history_days + day).isoformat(), written)

    @staticmethod
    def _record(context: JobContext, what: str, written: dict[str, int]) -> None:
        """Keep what landed with the run (files, not tables) and log it."""
        for name, rows in written.items():
            key = f"landed_rows.{name}"
            context.metrics[key] = context.metrics.get(key, 0.0) + rows
        context.log.info("%s: %s", what, ", ".join(f"{name} {rows}" for name, rows in written.items()))
