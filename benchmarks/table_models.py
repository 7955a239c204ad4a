"""Training from a table by configuration alone, next to single-node LightGBM on the same rows and split.

Real public data that ships inside scikit-learn (no download): breast cancer (569 tumours, 30
measurements, a binary label written as the words malignant/benign), diabetes (442 patients, a
disease progression score: regression) and wine (178 wines, 3 cultivars: multiclass). Each is
written as a silver table; then, in one process:

- ours: the ``train_model`` job on a ``data:`` model of models.yml (target inferred, random split
  with seed 7, every column but the key a feature, no early stopping), the metric it registers;
- lightgbm: the ``lightgbm`` package (3.3.5, the LightGBM inside SynapseML 1.1.3) with the same
  parameters and threads, fitted on the same training rows (the split our job used, read back
  from :func:`lakehouse.models.training_data.table_training_data`), judged on the same test rows
  with scikit-learn's metric.

Goals (issue 17): test ROC AUC within 0.005 of lightgbm's (binary), test RMSE within 2% of
lightgbm's (regression); multiclass accuracy and log loss are printed alongside. Results:
``benchmarks/results/table_models.json``.

    python benchmarks/table_models.py [--quick]

--quick runs the same (the data sets are small); it exists for ``make benchmarks``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "table_models"
AUC_GOAL, RMSE_GOAL = 0.005, 0.02
PARAMS = {"numIterations": 100, "learningRate": 0.05, "numLeaves": 15, "minDataInLeaf": 10, "seed": 7}
ROUNDS = PARAMS["numIterations"]
NATIVE = {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 10, "seed": 7}


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def data_sets():
    """name -> (pandas frame with sample_id and target, task of models.yml or None)."""
    from sklearn import datasets

    def frame(loader, labels=None):
        bunch = loader(as_frame=True)
        table = bunch.frame.rename(columns=snake)
        table.insert(0, "sample_id", range(1, len(table) + 1))
        if labels:
            table["target"] = [labels[int(v)] for v in table["target"]]
        return table

    return {
        "breast_cancer": (frame(datasets.load_breast_cancer, ["malignant", "benign"]), None),
        "diabetes": (frame(datasets.load_diabetes), None),
        "wine": (frame(datasets.load_wine), "classification"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the same run (the data sets are small)")
    args = parser.parse_args()

    import lightgbm
    import numpy as np
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

    from lakehouse.config import load_config
    from lakehouse.config.models import ModelsSettings
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.models.registry import ModelRegistry
    from lakehouse.models.training_data import table_training_data
    from lakehouse.runs.runner import run_job
    from lakehouse.spark.session import build_session
    from lakehouse.storage.layout import StorageLayout

    shutil.rmtree(WORK, ignore_errors=True)
    base = load_config("local")
    config = base.model_copy(update={"storage": base.storage.model_copy(update={"root": str(WORK)})})
    spark = build_session(config, app_name="benchmark table models")
    threads = spark.sparkContext.defaultParallelism
    tables = DeltaStore(spark, StorageLayout.from_config(config))
    sets = data_sets()
    models = {}
    for name, (frame, task) in sets.items():
        tables.overwrite(f"silver.{name}", spark.createDataFrame(frame))
        models[name] = {
            "data": {"table": f"silver.{name}", "target": "target", "key": ["sample_id"]},
            "split": {"method": "random", "seed": 7},
            "params": PARAMS,
            "early_stopping_rounds": 0,
            **({"task": task} if task else {}),
        }
    config = config.model_copy(update={"models": ModelsSettings.model_validate({"models": models})})
    registry = ModelRegistry(config)

    figures: dict[str, dict] = {}
    for name, (frame, _) in sets.items():
        settings = config.models.models[name]
        started = time.perf_counter()
        run_job("train_model", config, spark=spark, params={"model": name})
        ours_seconds = time.perf_counter() - started
        [version] = registry.versions(name)
        data = table_training_data(tables, config, name, settings)
        rows = data.rows.toPandas()
        train, test = rows[rows.split == "train"], rows[rows.split == "test"]
        x_train, x_test = train[data.features].to_numpy(np.float64), test[data.features].to_numpy(np.float64)
        y_train, y_test = train["_label"].to_numpy(), test["_label"].to_numpy()
        kind = data.problem.kind
        objective = {"binary": "binary", "regression": "regression", "multiclass": "multiclass"}[kind]
        native = {**NATIVE, "objective": objective, "num_threads": threads, "verbosity": -1}
        if kind == "multiclass":
            native["num_class"] = len(data.problem.classes)
        started = time.perf_counter()
        booster = lightgbm.train(native, lightgbm.Dataset(x_train, y_train), num_boost_round=ROUNDS)
        native_seconds = time.perf_counter() - started
        predicted = booster.predict(x_test)
        entry = {
            "rows": len(frame),
            "features": len(data.features),
            "problem": kind,
            "rows_by_split": {s: int((rows.split == s).sum()) for s in ("train", "validation", "test")},
            "ours_train_model_s": round(ours_seconds, 2),
            "lightgbm_fit_s": round(native_seconds, 3),
        }
        if kind == "binary":
            ours, theirs = version.metrics["test_roc_auc"], roc_auc_score(y_test, predicted)
            entry |= {"metric": "roc_auc", "ours": ours, "lightgbm": theirs, "difference": ours - theirs}
            entry["met"] = abs(ours - theirs) <= AUC_GOAL
        elif kind == "regression":
            ours, theirs = version.metrics["test_rmse"], float(np.sqrt(mean_squared_error(y_test, predicted)))
            entry |= {"metric": "rmse", "ours": ours, "lightgbm": theirs, "ratio": ours / theirs}
            entry["met"] = abs(ours / theirs - 1) <= RMSE_GOAL
        else:
            ours = version.metrics["test_accuracy"]
            theirs = accuracy_score(y_test, predicted.argmax(axis=1))
            entry |= {"metric": "accuracy", "ours": ours, "lightgbm": theirs, "difference": ours - theirs}
            entry |= {"ours_log_loss": version.metrics["test_log_loss"], "lightgbm_log_loss": log_loss(
                y_test, predicted, labels=list(range(len(data.problem.classes)))
            )}  # fmt: skip
        figures[name] = entry
        print(
            f"{name:14} {kind:10} {len(frame):4} rows, {len(data.features):2} features, "
            f"test {len(test):3} rows: "
            f"{entry['metric']} ours {ours:.4f} lightgbm {theirs:.4f}; train_model {ours_seconds:.1f} s, "
            f"lightgbm fit {native_seconds:.2f} s"
        )
    spark.stop()
    auc, rmse = figures["breast_cancer"], figures["diabetes"]
    met = auc["met"] and rmse["met"]
    path = write_results(
        "table_models",
        args.quick,
        {
            name: {"rows": f["rows"], "features": f["features"], "problem": f["problem"]}
            for name, f in figures.items()
        },
        figures,
        round(rmse["ratio"], 4),
        f"test ROC AUC within {AUC_GOAL} of lightgbm's and test RMSE within {RMSE_GOAL:.0%} of lightgbm's, "
        "same parameters, rows and split",
        met,
        ratio_is="our test RMSE / lightgbm's (diabetes)",
    )
    print(
        f"AUC difference {auc['difference']:+.4f} (goal within {AUC_GOAL}); RMSE ratio {rmse['ratio']:.4f} "
        f"(goal within {RMSE_GOAL:.0%}): {'met' if met else 'NOT met'}; {path}"
    )


if __name__ == "__main__":
    main()
