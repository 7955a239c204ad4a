"""The ``gold_features`` job: gold business tables, feature tables and training labels.

What it builds is declared in configuration: the gold business tables of ``gold.tables``
(gold.yml), the feature tables of ``features.tables`` and the label sets of ``features.labels``
(features.yml), in that order. ``table`` picks among them by name or table name; a project that
declares none of one kind builds none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.features.build import BuildResult, build_churn_labels, build_feature_table, feature_table_name
from lakehouse.gold.build import GoldResult, GoldTable, build_gold_table, gold_table_name
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, date_range, for_each

DECLARED_IN = "gold.tables (gold.yml), features.tables or features.labels (features.yml)"


@dataclass(frozen=True)
class GoldFeaturesParams:
    # all, or a gold table of gold.yml, a feature table or a label set of features.yml, by name or
    # table name (daily_sales, gold.customer_activity, churn, gold.churn_labels), or a comma-separated list
    table: str = "all"
    start: str = ""  # first as-of date of a backfill (YYYY-MM-DD); empty: after the latest one
    end: str = ""  # last as-of date of a backfill; empty: the data's newest day + 1
    labels: bool = True  # table=all also builds the labels of features.labels
    gold: bool = True  # table=all also brings the gold business tables of gold.yml up to date
    full_refresh: bool = False  # rebuild the gold business tables whole instead of from their changes


class GoldFeaturesJob(Job):
    name = "gold_features"
    summary = "Build the gold tables of gold.yml from their changes, and the feature tables and labels."
    Params = GoldFeaturesParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``table`` picks gold tables, feature tables and label sets, named by their table names;
        ``all`` leaves out the gold tables with ``gold=false`` and the labels with ``labels=false``."""
        features = config.features
        gold = {gold_table_name(name): name for name in config.gold.tables}
        tables = {feature_table_name(name): name for name in features.tables}
        labels = {label.table: name for name, label in features.labels.items()}
        names = [*gold, *tables, *labels]
        short = {table.removeprefix("gold."): table for table in names}
        everything = [*(gold if params.gold else ()), *tables, *(labels if params.labels else ())]
        aliases = {**short, **{name: table for table, name in labels.items()}}
        return {"table": Choices.of(names, DECLARED_IN, aliases=aliases, everything=everything)}

    @classmethod
    def check(cls, config: LakehouseConfig, params: Any) -> None:
        """Also refuse start and end dates that are not dates or not in order."""
        super().check(config, params)
        date_range(params.start, params.end)

    def run(self, context: JobContext) -> None:
        config, params = context.config, context.params
        start, end = date_range(params.start, params.end)
        gold = {gold_table_name(name): name for name in config.gold.tables}
        tables = {feature_table_name(name): name for name in config.features.tables}
        labels = {label.table: name for name, label in config.features.labels.items()}

        def build(table: str) -> None:
            if table in gold:
                settings = GoldTable.from_settings(gold[table], config.gold.tables[gold[table]])
                _report_gold(
                    context, build_gold_table(context.tables, context.run_id, settings, params.full_refresh)
                )
            elif table in tables:
                name = tables[table]
                settings = config.features.tables[name]
                _report(context, build_feature_table(context.tables, name, settings, start, end))
            else:
                name = labels[table]
                settings = config.features.labels[name]
                _report(context, build_churn_labels(context.tables, name, settings, start, end))

        chosen = self.selected(config, params, "table")
        for_each(chosen, build, context.log, "table", "gold, feature and label tables")


def _report(context: JobContext, result: BuildResult) -> None:
    if result.reason:
        context.log.info("%s: nothing to write, %s", result.table, result.reason)
    else:
        context.log.info("%s: %d rows for %s .. %s", result.table, result.rows, result.start, result.end)


def _report_gold(context: JobContext, result: GoldResult) -> None:
    if result.mode == "skipped":
        context.log.info("%s: no changes in its sources since the last run", result.table)
        return
    context.log.info(
        "%s: %s build, %d rows written (touched: %s); OPTIMIZE files added %s, removed %s",
        result.table,
        result.mode,
        result.rows,
        result.touched,
        result.files.get("files_added", 0),
        result.files.get("files_removed", 0),
    )
