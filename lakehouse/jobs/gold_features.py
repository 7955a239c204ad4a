"""The ``gold_features`` job: gold business tables, feature tables and training labels."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.errors import LakehouseError
from lakehouse.features.build import BuildResult, build_churn_labels, build_feature_table
from lakehouse.gold.build import GOLD_TABLES, GoldResult, build_gold_table
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, date_range, raise_collected, selected_names


@dataclass(frozen=True)
class GoldFeaturesParams:
    table: str = "all"  # a feature table of features.yml, a comma-separated list, or all
    start: str = ""  # first as-of date of a backfill (YYYY-MM-DD); empty: after the latest one
    end: str = ""  # last as-of date of a backfill; empty: the data's newest day + 1
    labels: bool = True  # also build the labels of features.labels
    gold: bool = True  # also bring the gold business tables (daily_sales, customer_value) up to date
    full_refresh: bool = False  # rebuild the gold business tables whole instead of from silver's changes


class GoldFeaturesJob(Job):
    name = "gold_features"
    summary = "Build gold sales and customer tables from silver changes, feature tables and churn labels."
    Params = GoldFeaturesParams

    def run(self, context: JobContext) -> None:
        settings = context.config.features
        start, end = date_range(context.params.start, context.params.end)
        declared = "features.tables (conf/base/features.yml)"
        names = selected_names(list(settings.tables), context.params.table, "gold", declared)
        failed: dict[str, Exception] = {}
        golds = GOLD_TABLES if context.params.gold else ()
        for gold in golds:
            try:
                _report_gold(context, build_gold_table(context, gold, context.params.full_refresh))
            except LakehouseError as error:
                context.log.error("%s failed: %s", gold.name, error)
                failed[gold.name] = error
        for name in names:
            try:
                _report(context, build_feature_table(context, name, settings.tables[name], start, end))
            except LakehouseError as error:
                context.log.error("feature table %s failed: %s", name, error)
                failed[name] = error
        if context.params.labels:
            for name, label in settings.labels.items():
                try:
                    _report(context, build_churn_labels(context, name, label, start, end))
                except LakehouseError as error:
                    context.log.error("labels %s failed: %s", name, error)
                    failed[label.table] = error
        attempted = len(golds) + len(names) + len(settings.labels)
        raise_collected(failed, attempted, "gold, feature and label tables", LakehouseError)


def _report(context: JobContext, result: BuildResult) -> None:
    if result.reason:
        context.log.info("%s: nothing to write, %s", result.table, result.reason)
    else:
        context.log.info("%s: %d rows for %s .. %s", result.table, result.rows, result.start, result.end)


def _report_gold(context: JobContext, result: GoldResult) -> None:
    if result.mode == "skipped":
        context.log.info("%s: no silver changes since the last run", result.table)
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
