"""Cron schedules: parse the five-field expressions of ``pipelines.yml`` and walk their fire times.

Kept free of Spark and of the configuration, so that the loader can validate a schedule and a
scheduler can compute logical dates without starting anything. Times are UTC.

A run fired at ``T`` processes the interval that ended at ``T``: its *logical date* is the date
of the fire before ``T`` (Airflow's convention), so the daily ``0 2 * * *`` run of 26 November
processes 25 November.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names of the values from lowest on)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_DAYS = 366 * 8  # a schedule that fires less often than this (e.g. 30 February) never fires


class CronError(ValueError):
    """A schedule is not a valid cron expression."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression: the allowed values of each field."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    def day_matches(self, day: dt.date) -> bool:
        """True when the schedule fires on ``day`` (at some time). As in Vixie cron, when both day
        of month and day of week are restricted, either may match."""
        if day.month not in self.months:
            return False
        weekday = (day.weekday() + 1) % 7
        by_day, by_weekday = day.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def previous(self, before: dt.datetime) -> dt.datetime:
        """The latest fire time strictly before ``before`` (naive UTC, minute precision).

        Raises:
            CronError: the schedule never fires (e.g. ``0 0 30 2 *``).
        """
        day = before.date()
        for _ in range(_SEARCH_DAYS):
            if self.day_matches(day):
                for hour in reversed(self.hours):
                    for minute in reversed(self.minutes):
                        fire = dt.datetime.combine(day, dt.time(hour, minute))
                        if fire < before:
                            return fire
            day -= dt.timedelta(days=1)
        raise CronError(f"schedule {self.expression!r} never fires")

    def latest(self, now: dt.datetime) -> dt.datetime:
        """The latest fire time at or before ``now``."""
        return self.previous(now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1))

    def logical_date(self, fire: dt.datetime) -> dt.date:
        """The logical date of the run fired at ``fire``: the date of the fire before it."""
        return self.previous(fire).date()

    def logical_dates_between(self, after: dt.date, fire: dt.datetime) -> list[dt.date]:
        """Logical dates after ``after`` of the runs due up to the fire time ``fire``, oldest first."""
        dates: list[dt.date] = []
        while True:
            date = self.logical_date(fire)
            if date <= after:
                break
            if not dates or dates[-1] != date:
                dates.append(date)
            fire = self.previous(fire)
        return sorted(set(dates))


def parse_cron(expression: str) -> CronSchedule:
    """Parse a five-field cron expression (``minute hour day-of-month month day-of-week``) or a
    preset (``@daily``, ``@hourly``, ``@weekly``, ``@monthly``, ``@yearly``).

    Fields take ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists ``a,b`` and,
    for months and days of the week, names (``jan``, ``mon``); day of week 7 is Sunday too.

    Raises:
        CronError: naming the field at fault.
    """
    text = PRESETS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"{expression!r}: expected 5 fields (minute hour day-of-month month day-of-week) or one of "
            f"{', '.join(PRESETS)}, got {len(parts)} field(s)"
        )
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(value % 7 for value in values[4])
    return CronSchedule(
        expression=expression,
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    def number(token: str) -> int:
        token = token.strip().lower()
        if token in names:
            return names.index(token) + low
        if not token.isdigit():
            raise CronError(
                f"{name} {text!r}: {token!r} is not a number"
                + (f" or a name ({names[0]}...)" if names else "")
            )
        value = int(token)
        if not low <= value <= high:
            raise CronError(f"{name} {text!r}: {value} is outside {low}-{high}")
        return value

    chosen: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name} {text!r}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = number(start), number(end)
            if last < first:
                raise CronError(f"{name} {text!r}: range {span} runs backwards")
        else:
            first = number(span)
            last = high if step_text else first
        chosen.update(range(first, last + 1, step))
    return chosen
