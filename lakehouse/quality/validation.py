"""Run a quality suite with great-expectations 1.x against a Spark DataFrame.

The frame is validated where it is (GX's Spark execution engine, no pandas copy). Each of our
expectations becomes the matching GX expectation; the results come back as one
:class:`ExpectationResult` per expectation, ready for ``ops.quality_results``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame

from lakehouse.quality.config import QualitySuite
from lakehouse.quality.kinds import Expectation, GxContext, GxFinding, decision_column

log = logging.getLogger(__name__)
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation on one frame."""

    table: str
    expectation: str
    kind: str
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[str] = field(default_factory=list)
    observed: str | None = None


def _gx_expectation(expectation: Expectation, context: GxContext):
    """The GX check of one of ours, labelled with it (None: nothing to check yet, e.g. no
    previous run)."""
    decided = _decided(expectation, context.columns)
    if decided is not None:
        # the frame carries the decision of mark_failures' one pass: GX checks the rows it marks,
        # a single aggregate over the cached frame bundled by GX with the other column checks,
        # where GX's own expectations need a window (a shuffle) or a join per metric
        import great_expectations.expectations as gxe

        mapped = gxe.ExpectColumnValuesToBeNull(column=decided)
    else:
        mapped = expectation.gx(context)
    if mapped is not None:
        mapped.meta = {"lakehouse_label": expectation.label}
    return mapped


def _decided(expectation: Expectation, columns: Sequence[str]) -> str | None:
    """The decision column of an expectation judged against other rows, when the frame has it."""
    if expectation.decides and decision_column(expectation) in columns:
        return decision_column(expectation)
    return None


def validate(
    frame: DataFrame,
    suite: QualitySuite,
    references: Mapping[str, DataFrame] | None = None,
    previous_rows: int | None = None,
    now: dt.datetime | None = None,
    samples: Mapping[str, Sequence[str]] | None = None,
) -> list[ExpectationResult]:
    """Validate ``frame`` with great-expectations; one result per expectation of the suite.

    Args:
        references: the tables that ``references`` expectations point at, by name.
        previous_rows: the row count of the last validated run (for ``row_count_change``).
        now: the time freshness is measured against (default: now, UTC).
        samples: failing values per row expectation label, already taken (e.g. by
            :func:`~lakehouse.quality.rules.sample_failures` in the same job as other work);
            GX then takes none, which saves a Spark job per expectation.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)  # else one INFO line per context

    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    views = _reference_views(frame, suite, references or {})
    try:
        batch = _gx_batch(gx, suite.table, frame)
        gx_suite = gx.ExpectationSuite(name=suite.table)
        ours = {}
        checks = GxContext(previous_rows, views, now, frame.columns)
        for expectation in suite.expectations:
            mapped = _gx_expectation(expectation, checks)
            if mapped is not None:
                gx_suite.add_expectation(mapped)
                ours[expectation.label] = expectation
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        if samples is not None:
            result_format = {"result_format": "BASIC", "partial_unexpected_count": 0}
        outcome = batch.validate(gx_suite, result_format=result_format)
    finally:
        for view in views.values():
            frame.sparkSession.catalog.dropTempView(view)
    results = [_result(suite.table, ours, item, frame, samples) for item in outcome.results]
    return _with_row_counts(results, frame)


def _reference_views(
    frame: DataFrame, suite: QualitySuite, references: Mapping[str, DataFrame]
) -> dict[str, str]:
    """A temporary view of each referenced table that some expectation checks by a GX query
    (the others read the frame's decision columns); drop them after."""
    decided = {e.label for e in suite.expectations if _decided(e, frame.columns) is not None}
    views = {}
    for name, table in references.items():
        if all(e.label in decided for e in suite.expectations if e.referenced() == name):
            continue  # every expectation on it reads the decision column instead
        view = f"lakehouse_ref_{uuid.uuid4().hex[:12]}"
        table.createOrReplaceTempView(view)
        views[name] = view
    return views


def _gx_batch(gx: Any, table: str, frame: DataFrame) -> Any:
    """The frame as a batch of an ephemeral GX context (validated where it is, on Spark)."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    asset = context.data_sources.add_spark(
        f"lakehouse_{uuid.uuid4().hex[:8]}", persist=False
    ).add_dataframe_asset(table)
    return asset.add_batch_definition_whole_dataframe("frame").get_batch(
        batch_parameters={"dataframe": frame}
    )


def _result(
    table: str,
    ours: Mapping[str, Expectation],
    item: Any,
    frame: DataFrame,
    samples: Mapping[str, Sequence[str]] | None,
) -> ExpectationResult:
    """One GX result as ours, as its expectation reviews it."""
    label = item.expectation_config.meta["lakehouse_label"]
    expectation = ours[label]
    result = item.result or {}
    if item.exception_info and item.exception_info.get("raised_exception"):
        reason = item.exception_info.get("exception_message")
        raise RuntimeError(f"{table}: expectation {label} could not run: {reason}")
    finding = GxFinding(bool(item.success), result.get("observed_value"), result.get("unexpected_count"))
    finding = expectation.review(frame, finding, _decided(expectation, frame.columns) is not None)
    elements = result.get("element_count")
    percent = result.get("unexpected_percent")
    if percent is None and finding.unexpected is not None and elements:
        percent = 100.0 * finding.unexpected / elements
    return ExpectationResult(
        table=table,
        expectation=label,
        kind=expectation.kind,
        severity=expectation.severity,
        success=finding.success,
        element_count=elements,
        unexpected_count=finding.unexpected,
        unexpected_percent=percent,
        sample=_sample(label, result, samples),
        observed=None if finding.observed is None else str(finding.observed),
    )


def _sample(label: str, result: Mapping[str, Any], samples: Mapping[str, Sequence[str]] | None) -> list[str]:
    if samples is not None:
        return [str(value) for value in samples.get(label, ())[:SAMPLE_SIZE]]
    return [str(value) for value in (result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]


def _with_row_counts(results: list[ExpectationResult], frame: DataFrame) -> list[ExpectationResult]:
    """Give the batch's row count to ``references`` results checked by a GX query (which reports
    none), from another result when there is one."""
    lacking = [r for r in results if r.kind == "references" and r.element_count is None]
    if not lacking:
        return results
    counted = [r.element_count for r in results if r.element_count is not None]
    rows = counted[0] if counted else frame.count()
    return [
        dataclasses.replace(
            r,
            element_count=rows,
            unexpected_percent=100.0 * (r.unexpected_count or 0) / rows if rows else None,
        )
        if r in lacking
        else r
        for r in results
    ]
