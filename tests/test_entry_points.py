"""The two ways to launch a job: `spark-submit jobs/<name>.py` and `lakehouse run <name>`."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.runs.job import available_jobs
from tests.conftest import PROJECT_DIR

BIN = Path(sys.executable).parent


def launch(arguments, root, extra_env=None):
    environment = {**os.environ, "LAKEHOUSE_ROOT": str(root), **(extra_env or {})}
    return subprocess.run(
        arguments, cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=600
    )


def test_every_registered_job_has_a_spark_submit_entry_point_and_back():
    scripts = {path.stem for path in (PROJECT_DIR / "jobs").glob("*.py")}
    assert scripts == set(available_jobs())


@pytest.mark.slow
def test_spark_submit_runs_a_job_on_the_local_env(tmp_path, spark):
    result = launch(
        [str(BIN / "spark-submit"), "jobs/hello.py", "--env", "local", "--param", "rows=12"], tmp_path
    )

    assert result.returncode == 0, result.stderr[-4000:]
    assert f"bronze.hello: 12 rows -> {tmp_path}/tables/bronze/hello" in result.stdout
    assert spark.read.format("delta").load(f"{tmp_path}/tables/bronze/hello").count() == 12


@pytest.mark.slow
def test_lakehouse_run_exits_non_zero_on_failure_and_records_it(tmp_path, spark):
    result = launch(
        [str(BIN / "lakehouse"), "run", "hello", "--env", "local", "--param", "rows=-1"], tmp_path
    )

    assert result.returncode == 1
    assert "FAILED job hello failed" in result.stderr
    assert "rows must be >= 0" in result.stderr
    run = spark.read.format("delta").load(f"{tmp_path}/tables/ops/job_runs").first()
    assert (run.status, run.error_class) == ("failed", "JobParameterError")
    # Spark's own log lines went to the driver's log file, not to the terminal
    assert spark_lines(result.stderr) == []
    assert "Setting default log level" not in result.stderr
    assert re.search(r" (WARN|INFO) \[", (tmp_path / "files/logs/spark/driver.log").read_text())


@pytest.mark.slow
def test_lakehouse_verbose_shows_sparks_own_warnings(tmp_path):
    result = launch([str(BIN / "lakehouse"), "--verbose", "run", "hello", "--param", "rows=-1"], tmp_path)

    assert result.returncode == 1
    assert "rows must be >= 0" in result.stderr
    assert spark_lines(result.stderr), result.stderr[-2000:]


def spark_lines(text: str) -> list[str]:
    """The lines of the Spark driver's own log (JVM loggers: a short class name, no package),
    as our log4j2 configuration writes them."""
    return [
        line for line in text.splitlines() if re.search(r"\b(WARN|ERROR|INFO) [A-Z][A-Za-z0-9$]*: ", line)
    ]


def test_a_bad_parameter_is_refused_before_spark_starts(tmp_path):
    result = launch([str(BIN / "lakehouse"), "run", "hello", "--param", "rowz=3"], tmp_path)

    assert result.returncode == 2
    assert "unknown parameter 'rowz'" in result.stderr
    assert not (tmp_path / "tables").exists()


def test_an_unknown_source_is_refused_with_a_did_you_mean_before_spark_starts(tmp_path):
    result = launch([str(BIN / "lakehouse"), "run", "bronze_ingest", "--param", "source=ordres"], tmp_path)

    assert result.returncode == 2
    assert "job bronze_ingest: --param source=ordres: 'ordres' (did you mean 'orders'?)" in result.stderr
    assert not (tmp_path / "tables").exists()


def adls_environment(client_secret: str) -> dict[str, str]:
    return {
        "ADLS_ACCOUNT": "acct",
        "ADLS_CONTAINER": "lake",
        "AZURE_TENANT_ID": "t",
        "AZURE_CLIENT_ID": "c",
        "AZURE_CLIENT_SECRET": client_secret,
    }


def test_a_config_error_names_file_and_key(tmp_path):
    result = launch([str(BIN / "lakehouse"), "config", "--env", "adls"], tmp_path, adls_environment(""))

    assert result.returncode == 2
    assert "conf/adls/storage.yml: storage.auth.client_secret:" in result.stderr


def test_config_command_masks_secrets(tmp_path):
    secret = "s3cr3t-value-never-printed"
    result = launch([str(BIN / "lakehouse"), "config", "--env", "adls"], tmp_path, adls_environment(secret))

    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert "client_secret: '**********'" in result.stdout


def test_jobs_command_lists_every_registered_job_with_its_summary(tmp_path):
    result = launch([str(BIN / "lakehouse"), "jobs"], tmp_path)
    assert result.returncode == 0, result.stderr
    jobs = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    listed = {line.split()[0]: line.split(None, 1)[1] for line in jobs}
    assert set(listed) == set(available_jobs())
    assert listed["bronze_ingest"].startswith("Ingest new landed files")
    # each job's parameters with their defaults, under it
    after = result.stdout.split("bronze_ingest", 1)[1].splitlines()[1].strip()
    assert after == "params: source=all"


def test_an_unknown_service_is_refused_naming_the_registered_ones(tmp_path):
    result = launch([str(BIN / "lakehouse"), "service", "up", "local_databse"], tmp_path)

    assert result.returncode == 2
    assert "no service named 'local_databse'" in result.stderr
    assert "registered: local_database" in result.stderr
