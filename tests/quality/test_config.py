"""Quality YAML: misspelled kinds, keys and columns fail at load time, naming the file and key."""

from __future__ import annotations

import pytest

from lakehouse.errors import ConfigError
from lakehouse.quality.config import load_suite, load_suites


def write(folder, text, name="silver.orders.yml"):
    path = folder / name
    path.write_text(text)
    return path


def test_a_suite_loads_with_labels_and_severities(tmp_path):
    path = write(
        tmp_path,
        "expectations:\n"
        "  - {kind: not_null, column: order_id, severity: drop}\n"
        "  - {kind: unique, columns: [order_id, line], severity: fail}\n"
        "  - {kind: freshness, column: order_ts, max_age: 36h, name: orders_fresh}\n",
    )
    suite = load_suite(path)
    assert suite.table == "silver.orders"
    assert [(e.label, e.severity) for e in suite.expectations] == [
        ("not_null_order_id", "drop"),
        ("unique_order_id_line", "fail"),
        ("orders_fresh", "warn"),
    ]
    assert suite.expectations[2].max_age_delta.total_seconds() == 36 * 3600
    assert set(load_suites(tmp_path)) == {"silver.orders"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "  - {kind: not_nul, column: a}",
            "expectations.0.kind: unknown expectation kind 'not_nul' (did you mean 'not_null'?)",
        ),
        ("  - {kind: not_null, colum: a}", "expectations.0.colum: unknown key"),
        ("  - {kind: schema, columns: {a: bigint}, severity: drop}", "schema judges the whole table"),
        ("  - {kind: between, column: x}", "give min, max or both"),
        ("  - {kind: schema, columns: {a: bigin}}", "unknown column types (a: bigin)"),
        ("  - {kind: regex, column: x, pattern: '(['}", "not a regular expression"),
        ("  - {kind: freshness, column: x, max_age: 2 weeks}", "not a duration"),
        ("  - {kind: not_null, column: a}\n  - {kind: not_null, column: a}", "'not_null_a' is used twice"),
    ],
)
def test_mistakes_fail_at_load_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, "expectations:\n" + text + "\n")
    with pytest.raises(ConfigError) as error:
        load_suite(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_an_unknown_column_is_named_with_a_hint(tmp_path):
    path = write(tmp_path, "expectations:\n  - {kind: in_set, column: stat, values: [new]}\n")
    with pytest.raises(
        ConfigError,
        match=r"orders.yml: expectations.0.column: silver.orders has no column 'stat' "
        r"\(did you mean 'status'\?\)",
    ):
        load_suite(path).check_columns(["order_id", "status"], str(path))
