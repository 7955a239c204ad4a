"""A model trained with spark-submit on the standalone cluster scores like one trained locally."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lakehouse.models.problem import Problem
from lakehouse.models.registry import ModelRegistry
from lakehouse.models.scoring import predict
from lakehouse.runs.runner import run_job
from lakehouse.storage.layout import StorageLayout
from tests.cluster.conftest import submit
from tests.conftest import CONF_DIR, PROJECT_DIR
from tests.models.test_train_and_score import FEATURES, configured, given_tables, model_settings, store

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def project_with_test_model(folder: Path) -> Path:
    """A project whose conf declares the test's feature table and model (jars linked, not copied)."""
    shutil.copytree(CONF_DIR, folder / "conf")
    (folder / "jars").symlink_to(PROJECT_DIR / "jars")
    (folder / "conf" / "base" / "features.yml").write_text(yaml.safe_dump({"features": FEATURES}))
    (folder / "conf" / "base" / "models.yml").write_text(
        yaml.safe_dump({"models": model_settings(search=False)})
    )
    return folder / "conf"


def test_a_model_trained_on_the_cluster_scores_like_one_trained_locally(
    cluster, spark, lakehouse_config, tmp_path
):
    config = configured(lakehouse_config, search=False)
    given_tables(spark, config)
    run_job("train_model", config, spark=spark)  # version 1, on local[*]

    conf = project_with_test_model(tmp_path / "project")
    root = StorageLayout.from_config(config).root
    result = submit(cluster, "train_model", root, LAKEHOUSE_CONF_DIR=str(conf))
    assert "model risk v2" in result.stdout

    registry = ModelRegistry(config)
    local, remote = registry.get("risk", 1), registry.get("risk", 2)
    assert registry.client.get_run(remote.run_id).data.params["threads"] == "2"  # spark.executor.cores
    runs = (
        store(spark, config).read("ops.job_runs").where("job = 'train_model' AND env = 'cluster'").collect()
    )
    assert [r.spark_master for r in runs] == [cluster.master_url]

    rows = store(spark, config).read("gold.activity")
    keys = ["customer_id", "as_of_date"]

    def scores(version):
        model = registry.load(version)
        problem = Problem("binary", "churned", ("0", "1"))
        scored = predict(model, rows, keys, problem, 0.5, "risk", version.version, None)
        return {(r.customer_id, r.as_of_date): r.score for r in scored.collect()}

    here, there = scores(local), scores(remote)
    assert here.keys() == there.keys() and len(here) == rows.count()
    differences = [abs(here[key] - there[key]) for key in here]
    assert max(differences) < 0.02, f"largest score difference {max(differences):.4f}"
    assert abs(local.metrics["test_roc_auc"] - remote.metrics["test_roc_auc"]) < 0.01
