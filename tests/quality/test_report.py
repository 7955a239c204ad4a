import datetime as dt
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from lakehouse.errors import TableNotFoundError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.quality.records import quarantine_spec, record_results, to_quarantine
from lakehouse.quality.report import render_quality_report, trend_chart, write_quality_report
from lakehouse.quality.rules import FAILED
from lakehouse.quality.validation import ExpectationResult
from lakehouse.storage.layout import StorageLayout
from tests.conftest import PROJECT_DIR

START = dt.datetime(2026, 3, 1, 6, 0)


def result_row(table, expectation, run, success=True, unexpected=0, sample=(), kind="not_null", **extra):
    return {
        "run_id": f"run-{run}",
        "job": "silver_refine",
        "table": table,
        "expectation": expectation,
        "kind": kind,
        "severity": extra.get("severity", "drop"),
        "success": success,
        "element_count": 200,
        "unexpected_count": unexpected,
        "unexpected_percent": 100.0 * unexpected / 200,
        "sample": list(sample),
        "observed": extra.get("observed"),
        "phase": "refine",
        "validated_at": START + dt.timedelta(days=run),
    }


def run_row(table, run, failed, worst):
    return {
        "table": table,
        "run_id": f"run-{run}",
        "job": "silver_refine",
        "validated_at": START + dt.timedelta(days=run),
        "rows": 200,
        "expectations": 2,
        "failed": failed,
        "unexpected_rows": int(worst * 2),
        "worst_percent": worst,
    }


def chart_of(document, table):
    section = re.search(rf"<section id='table-{table.replace('.', '-')}'>(.*?)</section>", document, re.S)
    return re.search(r"<svg.*?</svg>", section.group(1), re.S).group(0)


def test_the_report_shows_each_table_its_expectations_and_one_chart_point_per_run():
    latest = [
        result_row("silver.orders", "order_id_not_null", 3),
        result_row(
            "silver.orders",
            "status_in_set",
            3,
            success=False,
            unexpected=2,
            sample=["<script>alert(1)</script>"],
        ),
        result_row("silver.customers", "email_unique", 1, kind="unique", observed="a & b"),
    ]
    trend = [run_row("silver.orders", run, failed=run % 2, worst=run * 0.5) for run in (1, 2, 3)]
    trend.append(run_row("silver.customers", 1, failed=0, worst=0.0))

    document = render_quality_report(
        latest,
        trend,
        [{"table": "quarantine.orders", "pending": 2, "reasons": {"status_in_set": 2}}],
        generated_at=dt.datetime(2026, 3, 5, tzinfo=dt.UTC),
        environment="local",
        root="/data/<lake>",
    )

    for text in ("silver.orders", "silver.customers", "order_id_not_null", "status_in_set", "email_unique"):
        assert text in document
    assert "<dt>Runs covered</dt><dd>3</dd>" in document
    assert "<code>/data/&lt;lake&gt;</code>" in document
    assert document.count("<svg") == 2
    assert chart_of(document, "silver.orders").count("<circle") == 3
    assert chart_of(document, "silver.customers").count("<circle") == 1
    # user data is escaped, and nothing is loaded from elsewhere
    assert "<script" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "a &amp; b" in document
    assert not re.search(r"<link|src=|@import|url\(", document)
    assert "quarantine.orders" in document and "status_in_set: 2" in document


def test_the_chart_places_runs_by_time_and_marks_failed_runs():
    runs = [
        run_row("silver.orders", 2, failed=1, worst=10.0),
        run_row("silver.orders", 1, failed=0, worst=0.0),
    ]

    chart = trend_chart(runs)

    ElementTree.fromstring(chart)  # well-formed SVG

    circles = re.findall(r"<circle class='run (\w+)' cx='([\d.]+)' cy='([\d.]+)'", chart)
    assert [state for state, _, _ in circles] == ["passed", "failed"]
    (_, x1, y1), (_, x2, y2) = circles
    assert float(x1) < float(x2) and float(y1) > float(y2)
    assert "2026-03-02 06:00" in chart and "2026-03-03 06:00" in chart


def expectation(table, label, success, unexpected, sample=()):
    return ExpectationResult(
        table, label, "in_set", "drop", success, 4, unexpected, 25.0 * unexpected, list(sample)
    )


def test_write_quality_report_reads_the_results_of_two_runs_and_the_pending_quarantine(
    spark, lakehouse_session, lakehouse_config, tmp_path
):
    layout = StorageLayout.from_config(lakehouse_config)
    record_results(
        spark, layout, [expectation("silver.orders", "status_in_set", True, 0)], "run-one", "refine"
    )
    record_results(
        spark,
        layout,
        [expectation("silver.orders", "status_in_set", False, 1, ["<b>odd</b>"])],
        "run-two",
        "refine",
    )
    dropped = spark.createDataFrame(
        [(7, "odd", ["status_in_set"])], f"order_id int, status string, {FAILED} array<string>"
    )
    rows = to_quarantine(dropped, "run-two", dt.datetime(2026, 3, 1))
    DeltaStore(spark, layout).append("quarantine.orders", rows, quarantine_spec("silver.orders", rows))

    written = write_quality_report(spark, lakehouse_config)

    assert written == Path(layout.root) / "files" / "reports" / "quality.html"
    document = written.read_text(encoding="utf-8")
    assert "run-one" in document and "run-two" in document
    assert chart_of(document, "silver.orders").count("<circle") == 2
    assert "&lt;b&gt;odd&lt;/b&gt;" in document and "<b>odd" not in document
    assert "quarantine.orders" in document and "status_in_set: 1" in document

    only_latest = write_quality_report(spark, lakehouse_config, tmp_path / "out" / "one.html", runs=1)
    document = only_latest.read_text(encoding="utf-8")
    assert "run-two" in document and "run-one" not in document


def test_without_results_the_report_asks_for_silver_refine(spark, lakehouse_session, lakehouse_config):
    with pytest.raises(TableNotFoundError, match="run silver_refine first"):
        write_quality_report(spark, lakehouse_config)


@pytest.mark.slow
def test_the_quality_report_command_without_results_exits_1_without_a_traceback(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "quality", "report", "--env", "local"],
        cwd=PROJECT_DIR,
        env={**os.environ, "LAKEHOUSE_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 1, result.stderr[-4000:]
    assert "run silver_refine first" in result.stderr
    assert "Traceback" not in result.stderr
