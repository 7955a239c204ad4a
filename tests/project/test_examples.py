"""The example projects on real Spark: the real data set landed, ingested and refined, twice, once each."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import run_job
from lakehouse.samples.datasets import sample_frame
from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY
from lakehouse.storage.layout import StorageLayout
from tests.conftest import PROJECT_DIR, TEST_SPARK_CONFIG

EXAMPLES_DIR = PROJECT_DIR / "examples"


@pytest.fixture
def example_session(spark, tmp_path, monkeypatch):
    """Load an example project into a fresh lakehouse and point the shared session at it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous = spark.conf.get(TABLES_ROOT_PROPERTY)

    def load(example: str):
        config = load_config(
            "local", project=EXAMPLES_DIR / example, environ={"LAKEHOUSE_ROOT": str(tmp_path / "lakehouse")}
        )
        settings = config.spark.model_copy(update={"config": {**config.spark.config, **TEST_SPARK_CONFIG}})
        config = config.model_copy(update={"spark": settings})
        spark.conf.set(TABLES_ROOT_PROPERTY, StorageLayout.from_config(config).tables_root)
        return config

    yield load
    spark.conf.set(TABLES_ROOT_PROPERTY, previous)
    for name in [name for name in sys.modules if name == "jobs" or name.startswith("jobs.")]:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("example", "types", "measure"),
    [
        (
            "breast_cancer",
            {"sample_id": "bigint", "mean_radius": "double", "diagnosis": "string"},
            "mean_radius",
        ),
        ("diabetes", {"sample_id": "bigint", "age": "int", "bmi": "double", "progression": "double"}, "bmi"),
    ],
)
def test_an_example_lands_ingests_refines_and_profiles_its_data_once(
    spark, example_session, example, types, measure
):
    config = example_session(example)
    tables = DeltaStore(spark, StorageLayout.from_config(config))
    expected = sample_frame(example)

    first = [run_job(job, config, spark=spark) for job in ("sample_data", "bronze_ingest", "silver_refine")]
    again = [run_job(job, config, spark=spark) for job in ("sample_data", "bronze_ingest", "silver_refine")]

    assert first[1].rows_written == {f"bronze.{example}": len(expected)}
    assert first[2].rows_written[f"silver.{example}"] == len(expected)
    assert all(not any(run.rows_written.values()) for run in again), [run.rows_written for run in again]
    silver = tables.read(f"silver.{example}")
    assert silver.count() == tables.read(f"bronze.{example}").count() == len(expected)
    assert {name: kind for name, kind in silver.dtypes if name in types} == types
    assert not tables.exists(f"quarantine.{example}") or tables.read(f"quarantine.{example}").count() == 0
    target = config.models.models[example].data.target
    assert silver.agg(F.sum(F.col(target).isNull().cast("int"))).first()[0] == 0

    # the project's own job (jobs/profile.py), named package.module:JobClass
    profiled = run_job("jobs.profile:TableProfileJob", config, {"table": f"silver.{example}"}, spark=spark)

    assert profiled.rows_written == {f"gold.{example}_profile": len(expected.columns)}
    profile = {row.column: row for row in tables.read(f"gold.{example}_profile").collect()}
    measured = profile[measure]
    assert (measured.type, measured.rows, measured.nulls) == ("double", len(expected), 0)
    assert (measured.minimum, measured.maximum) == (expected[measure].min(), expected[measure].max())
    assert measured.mean == pytest.approx(expected[measure].mean())
    if example == "breast_cancer":  # the string label arrives as it was landed
        counts = {row[0]: row[1] for row in silver.groupBy("diagnosis").count().collect()}
        assert counts == {"benign": 357, "malignant": 212}
        assert (profile["diagnosis"].distinct, profile["diagnosis"].mean) == (2, None)


@pytest.mark.slow
def test_the_diabetes_projects_own_test_runs_its_pipeline_to_predictions(tmp_path):
    """`pytest` in examples/diabetes, as its user would: land, ingest, refine, profile, train a
    regression from the table, score. (The acceptance test in test_wheel.py does breast_cancer.)"""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("LAKEHOUSE_")}
    environ |= {"PYTHONDONTWRITEBYTECODE": "1", "LAKEHOUSE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path)]

    result = subprocess.run(
        command, cwd=EXAMPLES_DIR / "diabetes", env=environ, capture_output=True, text=True, timeout=900
    )

    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "1 passed" in result.stdout
