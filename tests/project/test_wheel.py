"""Acceptance: the built wheel, installed in a fresh environment, runs a new project outside this repository.

The wheel is built from a copy of the source tree without ``jars/lib`` (as from a fresh clone) and
installed into a new venv that sees the third-party packages of this repository's ``.venv`` but
not its source tree. From a folder outside the repository, ``lakehouse init`` creates a project,
and its pipeline lands the real breast cancer data, ingests, refines, trains from the table with a
random split and scores into ``gold.breast_cancer_predictions``, in one Spark session. The JVM
jars come from the wheel and from a user cache in the test's folder, resolved at the first session
start; nothing under this repository (its ``jars/``, its pyspark's ``spark-defaults.conf``) is on
the classpath.

Maven answers from the repository's filled local repository through a mirror (offline, fast), but
resolves with the same code as against Maven Central.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tests.spark.test_jars import mirror_settings, needs_maven

pytestmark = [pytest.mark.slow, needs_maven]

# Run by the new environment's Python from the project folder, as a user's script would: the project's
# pipeline in one session (its first start resolves the jars), then what that session loaded and wrote.
RUN_PIPELINE = """
import json, lakehouse, lakehouse.jvm
from lakehouse.config import load_config
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.runner import RunOptions, run_pipeline
from lakehouse.spark.session import build_session
from lakehouse.storage.layout import StorageLayout

config = load_config()  # the project of the current folder
spark = build_session(config, app_name="acceptance")
run = run_pipeline(config, "example", RunOptions(), spark=spark)
tables = DeltaStore(spark, StorageLayout.from_config(config))
predictions = tables.read("gold.breast_cancer_predictions")
print(json.dumps({
    "package": lakehouse.__file__,
    "checkout": str(lakehouse.jvm.source_checkout()),
    "status": run.status,
    "tasks": {task.task: task.status for task in run.tasks},
    "jars": spark.sparkContext.getConf().get("spark.jars"),
    "rows": predictions.count(),
    "silver_rows": tables.read("silver.breast_cancer").count(),
    "columns": predictions.columns,
}))
spark.stop()
"""


def copy_source_tree(target: Path) -> Path:
    """The files of the working tree that git would commit (tracked or new), without jars/lib."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for relative in filter(None, listed):
        source = PROJECT_DIR / relative
        if source.is_file() and not relative.startswith(("examples/", "benchmarks/")):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    return target


def run(command: list[str], cwd: Path, environ: dict[str, str], timeout: int = 600) -> str:
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output[-6000:]}"
    print(f"{time.monotonic() - started:6.1f} s  {Path(command[0]).name} {' '.join(command[1:3])[:40]}")
    return result.stdout


def test_a_wheel_installed_elsewhere_runs_a_new_project_from_init_to_predictions(tmp_path):
    settings = mirror_settings(tmp_path)
    # a clean environment: nothing points back at this repository
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LAKEHOUSE_", "PYSPARK_", "SPARK_", "PYTHON", "VIRTUAL_ENV"))
    }
    environ["PATH"] = os.pathsep.join(
        folder for folder in environ["PATH"].split(os.pathsep) if not folder.startswith(str(PROJECT_DIR))
    )
    environ |= {"LAKEHOUSE_MAVEN_SETTINGS": str(settings), "LAKEHOUSE_LOG_LEVEL": "WARNING"}

    # 1. the wheel, from a source tree without jars/lib: its build hook resolves and compiles
    source = copy_source_tree(tmp_path / "source")
    build_environ = {**environ, "LAKEHOUSE_CACHE": str(tmp_path / "build-cache")}
    pip = [sys.executable, "-m", "pip"]
    dist = tmp_path / "dist"
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(source)],
        tmp_path, build_environ)  # fmt: skip
    (wheel,) = dist.glob("lakehouse-*.whl")

    # 2. a fresh venv: the wheel installed first (pip must not see, let alone uninstall, the
    # repository's editable install), then the third-party packages of .venv through a .pth file
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, environ)
    run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--quiet", str(wheel)],
        tmp_path, environ)  # fmt: skip
    new_site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, env=environ,
        ).stdout.strip()
    )  # fmt: skip
    (new_site / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    # 3. a project of one's own, outside the repository, run from its folder
    work = tmp_path / "work"
    work.mkdir()
    run_environ = {
        **environ,
        "LAKEHOUSE_CACHE": str(tmp_path / "cache"),  # empty: the first session start resolves the jars
        "SPARK_CONF_DIR": str(tmp_path / "spark-conf"),  # not the shared pyspark's spark-defaults.conf
    }
    (tmp_path / "spark-conf").mkdir()
    lakehouse = str(venv / "bin" / "lakehouse")
    run([lakehouse, "init", "clinic", "--example", "breast_cancer"], work, run_environ)
    project = work / "clinic"
    output = run([str(venv / "bin" / "python"), "-c", RUN_PIPELINE], project, run_environ, timeout=900)
    checked = json.loads(output.splitlines()[-1])

    assert Path(checked["package"]).is_relative_to(venv) and checked["checkout"] == "None"
    jars = checked["jars"].split(",")
    assert run([lakehouse, "jars", "list"], work, run_environ).split() == jars  # resolved: from any folder
    assert jars and not [jar for jar in jars if str(PROJECT_DIR) in jar], jars
    assert jars[0] == str(new_site / "lakehouse" / "jvm" / "lakehouse-catalog.jar")
    assert all(Path(jar).is_relative_to(tmp_path / "cache" / "jars") for jar in jars[1:])
    assert checked["status"] == "succeeded", checked["tasks"]
    assert list(checked["tasks"]) == [
        "sample_data", "bronze_ingest", "silver_refine", "profile", "train_model", "batch_score",
    ]  # fmt: skip
    assert (checked["rows"], checked["silver_rows"]) == (569, 569)
    assert "sample_id" in checked["columns"]
    assert (project / "data" / "lakehouse" / "tables" / "gold" / "breast_cancer_predictions").is_dir()
