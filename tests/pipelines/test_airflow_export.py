"""The Airflow export, loaded by a real Apache Airflow (its own venv, made by `make airflow-venv`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from lakehouse.config import load_config
from lakehouse.pipelines.schedule import airflow_dag, crontab_line

PROJECT_DIR = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = Path(
    os.environ.get("LAKEHOUSE_AIRFLOW_PYTHON", PROJECT_DIR / ".venv-airflow" / "bin" / "python")
)

# runs inside Airflow's venv: load the DAG file with Airflow's DagBag, render each task's arguments
# with Airflow's own Jinja environment, and print what Airflow sees as JSON
INSPECT = r"""
import json, sys
try:
    from airflow.models.dagbag import DagBag
except ImportError:
    from airflow.dag_processing.dagbag import DagBag
from airflow import macros
import jinja2

bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for task in dag.tasks:
        args = [jinja2.Template(a).render(ds="2026-01-05", macros=macros, run_id="manual__1")
                for a in task.application_args]
        tasks[task.task_id] = {
            "type": type(task).__name__, "upstream": sorted(task.upstream_task_ids), "retries": task.retries,
            "retry_delay": task.retry_delay.total_seconds(), "application": task.application, "args": args,
            "conf": task.conf, "conn_id": task._conn_id,
        }
    out["dags"][dag_id] = {"schedule": str(getattr(dag, "schedule", None) or dag.timetable.summary),
                           "max_active_runs": dag.max_active_runs, "tasks": tasks}
print("RESULT " + json.dumps(out))
"""


def load_in_airflow(dag_file: Path, home: Path) -> dict:
    if not AIRFLOW_PYTHON.exists():
        pytest.fail(f"no Airflow at {AIRFLOW_PYTHON}: run `make airflow-venv` (make test does)")
    environ = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), "-c", INSPECT, str(dag_file)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"Airflow could not load {dag_file}:\n{done.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.parametrize("env", ["local", "cluster"])
def test_exported_dag_loads_in_airflow_with_the_pipelines_tasks_edges_and_retries(tmp_path, env):
    config = load_config(env, PROJECT_DIR / "conf", {**os.environ, "LAKEHOUSE_ROOT": str(tmp_path / "lh")})
    dag_file = tmp_path / "dags" / "lakehouse_daily.py"
    dag_file.parent.mkdir()
    dag_file.write_text(airflow_dag(config, "daily", dt.date(2026, 1, 1)))
    seen = load_in_airflow(dag_file, tmp_path / "airflow")

    assert seen["errors"] == {}
    pipeline = config.pipelines["daily"]
    dag = seen["dags"]["lakehouse_daily"]
    assert dag["schedule"] == pipeline.schedule and dag["max_active_runs"] == 1
    assert set(dag["tasks"]) == set(pipeline.tasks)
    for name, task in pipeline.tasks.items():
        seen_task = dag["tasks"][name]
        assert seen_task["type"] == "SparkSubmitOperator"
        assert seen_task["upstream"] == sorted(task.after), name
        assert seen_task["retries"] == (pipeline.retries if task.retries is None else task.retries)
        assert seen_task["retry_delay"] == pipeline.retry_delay_seconds
        assert seen_task["application"] == str(PROJECT_DIR / "jobs" / f"{task.job_name(name)}.py")
        assert Path(seen_task["application"]).is_file()
        assert seen_task["args"][:2] == ["--env", env]
        assert seen_task["conf"]["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    # the logical date reaches the jobs through Airflow's templates: daily computes the features as of
    # the day after the logical date (they include its data)
    args = dag["tasks"]["gold_features"]["args"]
    assert "start=2026-01-06" in args and "end=2026-01-06" in args
    assert args[-2:] == ["--pipeline-run-id", "manual__1"]


def test_the_demo_pipeline_exports_every_task_and_edge(tmp_path):
    config = load_config(
        "local", PROJECT_DIR / "conf", {**os.environ, "LAKEHOUSE_ROOT": str(tmp_path / "lh")}
    )
    dag_file = tmp_path / "lakehouse_demo.py"
    dag_file.write_text(airflow_dag(config, "demo"))
    dag = load_in_airflow(dag_file, tmp_path / "airflow")["dags"]["lakehouse_demo"]
    pipeline = config.pipelines["demo"]
    assert {name: task["upstream"] for name, task in dag["tasks"].items()} == {
        name: sorted(task.after) for name, task in pipeline.tasks.items()
    }


def test_crontab_line_runs_the_pipeline_catching_up_under_its_lock(tmp_path):
    config = load_config(
        "local", PROJECT_DIR / "conf", {**os.environ, "LAKEHOUSE_ROOT": str(tmp_path / "lh")}
    )
    line = crontab_line(config, "daily").splitlines()[-1]
    assert line.startswith("0 2 * * * cd ")
    assert "pipeline run daily --env local --catch-up" in line and line.endswith("2>&1")
