"""Feature tables and labels (features.yml)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.config.section import Section
from lakehouse.config.sources import is_column_type

DURATION = re.compile(r"^(\d+)d$")
FeatureAgg = Literal[
    "count", "sum", "avg", "min", "max", "share", "days_since_last", "days_since", "attribute"
]


def duration_days(value: str) -> int:
    """``"7d"`` -> 7."""
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration in days such as 7d or 90d")
    return int(match.group(1))


class FeatureSourceSettings(Section):
    """Events a feature table aggregates (``features.tables.<t>.sources.<name>``): rows of a table
    with the table's entity columns and an event time."""

    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", description="<layer>.<table>.")
    timestamp: str = Field(description="When the event happened (a timestamp or date column).")
    where: str | None = Field(default=None, description="Spark SQL filter of the rows that count.")


class FeatureSpineSettings(Section):
    """The entities a feature table has a row for on each as-of date."""

    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", description="<layer>.<table>.")
    since: str | None = Field(
        default=None, description="When the entity began (e.g. signup_date): no row before it."
    )
    where: str | None = Field(default=None, description="Spark SQL filter (e.g. is_current for SCD2).")
    valid_from: str | None = Field(
        default=None,
        description="With valid_to: the spine keeps each entity's history (SCD2), and an attribute "
        "feature takes the version valid at the as-of date, not the current one.",
    )
    valid_to: str | None = Field(default=None, description="End of a version (null while current).")

    @model_validator(mode="after")
    def _validity_pair(self) -> FeatureSpineSettings:
        if (self.valid_from is None) != (self.valid_to is None):
            raise ValueError("give both valid_from and valid_to, or neither")
        return self


class FeatureSettings(Section):
    """One feature (``features.tables.<t>.features.<name>``)."""

    description: str = Field(min_length=1)
    type: str = Field(description="Spark SQL type of the value (bigint, double, int, decimal(12,2)).")
    agg: FeatureAgg = Field(
        description="count | sum | avg | min | max of `column` over the window; share: the fraction "
        "of the window's rows matching `where`; days_since_last: days since the latest event in the "
        "window; days_since: days since the spine's `since` (tenure); attribute: the spine's `column` "
        "as of the date (a categorical feature when its type is string)."
    )
    source: str | None = Field(default=None, description="A source of the table (not for days_since).")
    column: str | None = Field(default=None, description="The aggregated column (sum, avg, min, max).")
    where: str | None = Field(default=None, description="Spark SQL filter of the rows counted.")
    window: str | None = Field(default=None, description="Look-back before the as-of date, e.g. 7d.")
    default: float | None = Field(
        default=None, description="Value when the window holds no event (count and sum: 0)."
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not is_column_type(value):
            raise ValueError(f"unknown column type {value!r} (e.g. bigint, double, int)")
        return value

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_days(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> FeatureSettings:
        if self.agg == "days_since":
            if self.source or self.window or self.column:
                raise ValueError("days_since counts from spine.since: give no source, window or column")
            return self
        if self.agg == "attribute":
            if self.source or self.window or self.where:
                raise ValueError("attribute reads the spine's `column`: give no source, window or where")
            if not self.column:
                raise ValueError("agg attribute needs `column`: a column of the spine table")
            return self
        if not self.source:
            raise ValueError(f"agg {self.agg} needs `source`: one of the table's sources")
        if not self.window:
            raise ValueError(f"agg {self.agg} needs `window`, e.g. 30d")
        if self.agg in ("sum", "avg", "min", "max") and not self.column:
            raise ValueError(f"agg {self.agg} needs `column`")
        if self.agg in ("count", "share", "days_since_last") and self.column:
            raise ValueError(f"agg {self.agg} takes no `column`")
        if self.agg == "share" and not self.where:
            raise ValueError("agg share needs `where`: the rows whose share of the window is taken")
        return self

    def window_days(self) -> int:
        return duration_days(self.window) if self.window else 0


class FeatureTableSettings(Section):
    """A feature table (``features.tables.<name>``), stored as ``gold.<name>`` with one row per
    entity and as-of date; a row of date D summarises the events before D (00:00 UTC)."""

    description: str | None = None
    entity: list[str] = Field(min_length=1, description="The entity key columns.")
    timestamp: str = Field(default="as_of_date", description="The as-of date column.")
    spine: FeatureSpineSettings
    sources: dict[str, FeatureSourceSettings] = Field(min_length=1)
    features: dict[str, FeatureSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _sources_known(self) -> FeatureTableSettings:
        for name, feature in self.features.items():
            if feature.source is not None and feature.source not in self.sources:
                raise ValueError(
                    f"features.{name}.source: unknown source {feature.source!r}; "
                    f"sources: {', '.join(self.sources)}"
                )
            if feature.agg == "days_since" and not self.spine.since:
                raise ValueError(f"features.{name}: days_since needs spine.since")
        clashing = set(self.features) & {*self.entity, self.timestamp}
        if clashing:
            raise ValueError(f"features {sorted(clashing)} clash with the entity or timestamp columns")
        return self


class ChurnLabelSettings(Section):
    """Churn labels (``features.labels.churn``): an active customer churns at a cutoff when they
    place no order in the ``horizon`` after it."""

    table: str = Field(default="gold.churn_labels", pattern=r"^gold\.[a-z_][a-z0-9_]*$")
    source: str = Field(default="silver.orders", description="The orders table.")
    entity: str = "customer_id"
    timestamp: str = "ordered_at"
    where: str | None = Field(default=None, description="Orders that count (e.g. not cancelled).")
    active: str = Field(default="30d", description="Active at a cutoff: an order in this look-back.")
    horizon: str = Field(default="30d", description="Churned: no order in this period after the cutoff.")
    every: str = Field(default="7d", description="Days between cutoffs.")

    @field_validator("active", "horizon", "every")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_days(value)
        return value


class FeatureStoreSettings(Section):
    """Feature tables and training labels (``features:``, conf/base/features.yml)."""

    tables: dict[str, FeatureTableSettings] = Field(default_factory=dict)
    labels: dict[str, ChurnLabelSettings] = Field(default_factory=dict)
