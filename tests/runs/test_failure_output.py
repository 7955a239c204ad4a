"""A failed job shows one line on the terminal; its whole trace goes to a file under the lakehouse."""

from __future__ import annotations

from pathlib import Path

from lakehouse.errors import first_line
from lakehouse.runs.runner import _write_trace
from tests.conftest import with_root

PY4J_MESSAGE = (
    "An error occurred while calling o123.save.\n"
    ": org.apache.spark.SparkException: [TASK_WRITE_FAILED] Task failed while writing rows to file:/x.\n"
    "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.taskFailedWhileWritingRowsError(X.scala:1)\n"
)


def test_first_line_skips_py4j_preamble_and_java_frames():
    assert first_line(PY4J_MESSAGE) == (
        "org.apache.spark.SparkException: [TASK_WRITE_FAILED] Task failed while writing rows to file:/x."
    )
    assert first_line("[DELTA_TABLE_NOT_FOUND] table x not found\n\nJVM stacktrace:\n\tat a.b") == (
        "[DELTA_TABLE_NOT_FOUND] table x not found"
    )


def test_the_trace_is_written_under_the_files_folder_with_secrets_scrubbed(session_config, tmp_path):
    config = with_root(session_config, tmp_path)
    secrets = config.secret_values()
    try:
        raise RuntimeError("engine failure " + (secrets[0] if secrets else "no secret"))
    except RuntimeError as error:
        written = Path(_write_trace(None, config, "hello", "run-1", error))

    assert written == tmp_path / "files" / "logs" / "jobs" / "hello" / "run-1.log"
    text = written.read_text()
    assert "RuntimeError: engine failure" in text and "Traceback" in text
    assert all(secret not in text for secret in secrets)
