"""The driver's Java stack traces go to the lakehouse's log file; the terminal gets one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lakehouse.errors import SessionError
from lakehouse.spark.session import LOG4J_CONFIG, session_properties
from tests.conftest import CONF_DIR, PROJECT_DIR, with_root


def test_driver_options_name_our_log_config_and_keep_the_users_own(session_config, tmp_path, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_SPARK_CONSOLE", raising=False)
    config = with_root(session_config, tmp_path)
    spark = config.spark.model_copy(update={"config": {"spark.driver.extraJavaOptions": "-Dmine=1"}})
    options = session_properties(config.model_copy(update={"spark": spark}))["spark.driver.extraJavaOptions"]

    log_file = tmp_path / "files" / "logs" / "spark" / "driver.log"
    ours = f"-Dlog4j2.configurationFile={LOG4J_CONFIG} -Dlakehouse.log.file={log_file}"
    assert options == f"{ours} -Dlakehouse.console.level=warn -Dmine=1"  # warn: outside the CLI
    monkeypatch.setenv("LAKEHOUSE_SPARK_CONSOLE", "loud")
    with pytest.raises(SessionError, match="LAKEHOUSE_SPARK_CONSOLE='loud': expected one of off, fatal"):
        session_properties(config)


def test_a_java_stack_trace_goes_to_the_log_file_and_one_line_to_the_terminal(tmp_path):
    script = textwrap.dedent(
        """
        import os
        from lakehouse.config import load_config
        from lakehouse.spark.session import build_session

        spark = build_session(load_config("local", conf_dir=os.environ["CONF"]), app_name="logging test")
        jvm = spark.sparkContext._jvm
        error = jvm.java.lang.IllegalStateException("broken on purpose\\nsecond line of the message")
        jvm.org.apache.logging.log4j.LogManager.getLogger("lakehouse.test").error("it failed", error)
        spark.stop()
        """
    )
    env = {**os.environ, "LAKEHOUSE_ROOT": str(tmp_path), "CONF": str(CONF_DIR)}
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300
    )

    assert ran.returncode == 0, ran.stderr[-3000:]
    line = [text for text in ran.stderr.splitlines() if "it failed" in text]
    assert line and line[0].endswith("ERROR test: it failed"), ran.stderr[-3000:]
    assert "IllegalStateException" not in ran.stderr and "\tat " not in ran.stderr
    logged = (tmp_path / "files" / "logs" / "spark" / "driver.log").read_text()
    assert "it failed" in logged and "java.lang.IllegalStateException: broken on purpose" in logged
    assert "\tat " in logged
