"""The project's pipeline ``example``, end to end on local Spark, into a temporary lakehouse.

``pytest`` from the project folder runs it: it lands the data set, ingests and refines it,
profiles it, trains the model of ``conf/base/models.yml`` and scores the table with it (a few
minutes: Spark starts, LightGBM trains).
"""

from __future__ import annotations

import os
from pathlib import Path

from lakehouse.config import load_config
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.runner import RunOptions, run_pipeline
from lakehouse.samples import sample_frame
from lakehouse.spark.session import build_session
from lakehouse.storage.layout import StorageLayout

PROJECT = Path(__file__).resolve().parents[1]


def test_the_example_pipeline_lands_refines_trains_and_scores(tmp_path):
    environ = {**os.environ, "LAKEHOUSE_ROOT": str(tmp_path / "lakehouse")}
    config = load_config("local", project=PROJECT, environ=environ)
    spark = build_session(config, app_name="breast_cancer tests")
    try:
        run = run_pipeline(config, "example", RunOptions(), spark=spark, summarize=False)
        failed = {task.task: task.error for task in run.tasks if task.status != "succeeded"}
        assert run.status == "succeeded", failed

        tables = DeltaStore(spark, StorageLayout.from_config(config))
        refined = tables.read("silver.breast_cancer").count()
        assert refined == len(sample_frame("breast_cancer"))  # every landed row reached silver
        assert tables.read("gold.breast_cancer_profile").count() > 0
        for model in config.models.models:
            assert tables.read(f"gold.{model}_predictions").count() == refined
    finally:
        spark.stop()
