"""Training and batch scoring: our SynapseML LightGBM pipeline next to single-node LightGBM and
Spark MLlib's GBTClassifier, on the same training set, in one run.

A synthetic binary problem (``--rows`` rows, full: 1,000,000; 30 features: 28 numeric and 2
categorical, the label drawn from a non-linear logit with interactions and category effects) is
written once as parquet. Rows carry a day (0..99); the last 20 days are the test set (a time
split, as ``train_model`` does). Then, in one process:

- ours: :func:`lakehouse.models.learners.build_pipeline` (VectorAssembler + SynapseML
  ``LightGBMClassifier``, categorical slots, ``numThreads`` = the cores) fitted on the training
  rows cached in Spark;
- lightgbm: the ``lightgbm`` package (3.3.5, the LightGBM inside SynapseML 1.1.3's native jar)
  with the same parameters and threads, on the same rows in numpy (Dataset construction included,
  as SynapseML builds its Dataset inside ``fit``);
- gbt: Spark MLlib ``GBTClassifier``, the same number of trees, depth 5 (LightGBM's 31 leaves at
  most), on the same cached rows.

Ours and lightgbm fit ``--runs`` times, alternating which goes first (best kept); GBT once.
Each prints its fit seconds and test ROC AUC (scikit-learn's, on the collected test scores of each
side). Scoring: ours scores the cached test rows as ``batch_score`` does (the ``batch`` scorer: the
trained model's trees, one LightGBM matrix predict per 50,000 rows in each task, in the JVM)
into Spark's ``noop`` sink; lightgbm with ``Booster.predict`` on the numpy test rows, the same
threads; rows/s of each, best of 3 after a warm-up. The ``synapseml`` scorer (the pipeline's
transform) is printed alongside.

Goals (performance round 2): fit seconds <= 1.3x lightgbm and |AUC difference| <= 0.005; faster
than GBT with AUC >= GBT's; scoring rows/s >= 0.8x ``Booster.predict``.
Results: ``benchmarks/results/train.json``.

    python benchmarks/train.py [--quick] [--rows N] [--iterations N]

--quick: 200,000 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "train"
NUMERIC = [f"x{i:02d}" for i in range(28)]
CATEGORICAL = ["region", "plan"]
FEATURES = [*NUMERIC, *CATEGORICAL]
TEST_FROM_DAY = 80
FIT_GOAL, AUC_GOAL, SCORING_GOAL = 1.3, 0.005, 0.8


def generate(rows: int) -> Path:
    """Write the data set once per size (numpy, seeded); return its folder."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = WORK / f"rows-{rows}"
    marker = folder / "_generated.json"
    wanted = {"rows": rows, "version": 1}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, len(NUMERIC))).astype(np.float32)
    region = rng.integers(0, 10, rows)
    plan = rng.integers(0, 40, rows)
    region_effect, plan_effect = rng.normal(0, 0.8, 10), rng.normal(0, 0.5, 40)
    logit = (
        x[:, 0]
        + 0.8 * x[:, 1] * x[:, 2]
        + np.sin(2 * x[:, 3])
        + 0.5 * np.abs(x[:, 4])
        + 0.3 * x[:, 5:10].sum(axis=1)
        + region_effect[region]
        + plan_effect[plan]
        - 0.6
    )
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int32)
    day = (np.arange(rows) * 100 // rows).astype(np.int32)
    columns = {name: x[:, i] for i, name in enumerate(NUMERIC)}
    columns.update(region=region.astype(np.int32), plan=plan.astype(np.int32), label=label, day=day)
    table = pa.table(columns)
    pq.write_table(table, folder / "data.parquet", row_group_size=100_000)
    marker.write_text(json.dumps(wanted))
    return folder


def best_seconds(action, runs: int = 3) -> float:
    """Best wall seconds of ``runs`` calls after one untimed call."""
    action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def synapseml_profile(estimator) -> dict:
    """Where a SynapseML LightGBM fit went, in seconds, from the measures it keeps (its
    ``getPerformanceMeasures``): on the driver, and in the slowest training task."""
    measures = estimator._java_obj.getPerformanceMeasures()
    if measures.isEmpty():
        return {}
    found = measures.get()

    def slowest(name: str) -> float:
        values = getattr(found, name)()
        return max(int(values.apply(i)) for i in range(values.size())) / 1000 if values.size() else 0.0

    statistics = (
        sum(
            getattr(found, name)()
            for name in ("columnStatisticsTime", "rowStatisticsTime", "rowCountTime", "samplingTime")
        )
        + found.validationDataCollectionTime()
    )
    return {
        "total_s": found.totalTime() / 1000,
        "driver_statistics_s": statistics / 1000,
        "driver_training_s": found.trainingTime() / 1000,
        "task_initialization_s": slowest("taskInitializationTimes"),
        "task_network_s": slowest("taskNetworkInitializationTimes"),
        "task_data_preparation_s": slowest("taskDataPreparationTimes"),
        "task_wait_s": slowest("taskWaitTimes"),
        "task_dataset_s": slowest("taskDatasetCreationTimes"),
        "task_iterations_s": slowest("taskTrainingIterationTimes"),
        "task_cleanup_s": slowest("taskCleanupTimes"),
        "task_total_s": slowest("taskTotalTimes"),
    }


def params(iterations: int, threads: int) -> tuple[dict, dict]:
    """The same training parameters in SynapseML's and in LightGBM's names."""
    synapse = {
        "objective": "binary",
        "numIterations": iterations,
        "learningRate": 0.1,
        "numLeaves": 31,
        "minDataInLeaf": 20,
        "maxBin": 255,
        "featureFraction": 1.0,
        "baggingFraction": 1.0,
        "baggingFreq": 0,
        "lambdaL2": 0.0,
        "seed": 7,
    }
    native = {
        "objective": "binary",
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "max_bin": 255,
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "lambda_l2": 0.0,
        "seed": 7,
        "num_threads": threads,
        "verbosity": -1,
    }
    return synapse, native


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200,000 rows")
    parser.add_argument("--rows", type=int, help="rows (default 1,000,000; quick 200,000)")
    parser.add_argument("--iterations", type=int, default=100, help="boosting rounds / trees (default 100)")
    parser.add_argument("--runs", type=int, default=2, help="fits of ours and lightgbm (best is kept)")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)

    import lightgbm
    import numpy as np
    import pandas as pd
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F
    from sklearn.metrics import roc_auc_score

    from lakehouse.config import load_config
    from lakehouse.models.learners import build_pipeline, positive_probability
    from lakehouse.models.scoring import score
    from lakehouse.spark.session import build_session

    folder = generate(rows)
    spark = build_session(load_config("local"), app_name="benchmark train")
    threads = spark.sparkContext.defaultParallelism
    synapse_params, native_params = params(args.iterations, threads)
    data = spark.read.parquet(str(folder / "data.parquet"))
    train = data.where(F.col("day") < TEST_FROM_DAY).repartition(threads).persist()
    test = data.where(F.col("day") >= TEST_FROM_DAY).repartition(threads).persist()
    train_rows, test_rows = train.count(), test.count()
    frame = pd.read_parquet(folder / "data.parquet")
    train_pd, test_pd = frame[frame.day < TEST_FROM_DAY], frame[frame.day >= TEST_FROM_DAY]
    x_train, x_test = train_pd[FEATURES].to_numpy(np.float32), test_pd[FEATURES].to_numpy(np.float32)
    y_train, y_test = train_pd.label.to_numpy(), test_pd.label.to_numpy()
    print(
        f"{rows:,} rows x {len(FEATURES)} features ({len(CATEGORICAL)} categorical): train {train_rows:,}, "
        f"test {test_rows:,}; {args.iterations} rounds, {threads} threads"
    )

    def ours_pipeline():
        return build_pipeline(
            "classification",
            FEATURES,
            "label",
            categorical=CATEGORICAL,
            params=synapse_params,
            threads=threads,
        )

    # untimed warm-up: JVM classes, LightGBM's native library, Python imports
    ours_pipeline().fit(train.limit(5_000))
    lightgbm.train(native_params, lightgbm.Dataset(x_train[:5_000], y_train[:5_000]), num_boost_round=5)

    fits: dict[str, list[float]] = {"ours": [], "lightgbm": []}
    profiles: dict[str, list[dict]] = {"ours": [], "lightgbm": []}
    for run in range(args.runs):  # the two sides alternate which goes first
        for side in ("ours", "lightgbm") if run % 2 == 0 else ("lightgbm", "ours"):
            started = time.perf_counter()
            if side == "ours":
                pipeline = ours_pipeline()
                model = pipeline.fit(train)
                fits[side].append(time.perf_counter() - started)
                profiles[side].append(synapseml_profile(pipeline.getStages()[-1]))
            else:
                dataset = lightgbm.Dataset(
                    x_train,
                    y_train,
                    feature_name=FEATURES,
                    categorical_feature=CATEGORICAL,
                    params=native_params,
                    free_raw_data=False,  # train() sets the categorical features again
                ).construct()
                built = time.perf_counter()
                booster = lightgbm.train(native_params, dataset, num_boost_round=args.iterations)
                fits[side].append(time.perf_counter() - started)
                profiles[side].append(
                    {
                        "dataset_s": round(built - started, 2),
                        "iterations_s": round(time.perf_counter() - built, 2),
                    }
                )
    ours_fit, native_fit = min(fits["ours"]), min(fits["lightgbm"])
    ours_profile = profiles["ours"][fits["ours"].index(ours_fit)]
    native_profile = profiles["lightgbm"][fits["lightgbm"].index(native_fit)]
    print(f"where ours' best fit went (SynapseML's measures, s): {ours_profile}")
    print(f"where lightgbm's best fit went (s): {native_profile}")
    scored = model.transform(test).select(positive_probability().alias("score"), "label")
    ours_scores = scored.toPandas()
    ours_auc = roc_auc_score(ours_scores.label, ours_scores.score)

    def scoring(scorer: str):
        # the plan is built once, as the Booster is before Booster.predict: the timing is the pass
        scored = score(model, test, "classification", [], scorer)
        return lambda: scored.write.format("noop").mode("overwrite").save()

    ours_score_s = best_seconds(scoring("batch"))
    synapseml_score_s = best_seconds(scoring("synapseml"))
    print(
        f"ours (SynapseML): fit {ours_fit:.1f} s, test AUC {ours_auc:.4f}; "
        f"scoring {test_rows / ours_score_s:,.0f} rows/s "
        f"(synapseml transform {test_rows / synapseml_score_s:,.0f})"
    )

    native_scores = booster.predict(x_test, num_threads=threads)
    native_score_s = best_seconds(lambda: booster.predict(x_test, num_threads=threads))
    native_auc = roc_auc_score(y_test, native_scores)
    print(
        f"lightgbm: fit {native_fit:.1f} s, test AUC {native_auc:.4f}; "
        f"Booster.predict {test_rows / native_score_s:,.0f} rows/s"
    )

    gbt = Pipeline(
        stages=[
            VectorAssembler(inputCols=FEATURES, outputCol="features"),
            GBTClassifier(
                labelCol="label", maxIter=args.iterations, maxDepth=5, stepSize=0.1, maxBins=255, seed=7
            ),
        ]
    )
    started = time.perf_counter()
    gbt_model = gbt.fit(train)
    gbt_fit = time.perf_counter() - started
    gbt_scores = gbt_model.transform(test).select(positive_probability().alias("score"), "label").toPandas()
    gbt_auc = roc_auc_score(gbt_scores.label, gbt_scores.score)
    print(f"Spark GBT: fit {gbt_fit:.1f} s, test AUC {gbt_auc:.4f}")
    spark.stop()

    fit_ratio = round(ours_fit / native_fit, 3)
    auc_gap = round(abs(ours_auc - native_auc), 5)
    scoring_ratio = round((test_rows / ours_score_s) / (test_rows / native_score_s), 3)
    checks = {
        f"fit <= {FIT_GOAL}x lightgbm": fit_ratio <= FIT_GOAL,
        f"|AUC - lightgbm's| <= {AUC_GOAL}": auc_gap <= AUC_GOAL,
        "faster than GBT": ours_fit < gbt_fit,
        "AUC >= GBT's": ours_auc >= gbt_auc,
        f"scoring >= {SCORING_GOAL}x Booster.predict": scoring_ratio >= SCORING_GOAL,
    }
    print(
        f"fit ours/lightgbm {fit_ratio:.2f}x (goal <= {FIT_GOAL}), "
        f"|AUC gap| {auc_gap:.4f} (goal <= {AUC_GOAL}), "
        f"ours/GBT fit {ours_fit / gbt_fit:.2f}x, scoring ours/Booster.predict {scoring_ratio:.2f}x "
        f"(goal >= {SCORING_GOAL})"
    )
    for check, met in checks.items():
        print(f"  {'met' if met else 'NOT met'}: {check}")
    figures = {
        "ours_fit_s": round(ours_fit, 2),
        "all_ours_fit_s": [round(t, 2) for t in fits["ours"]],
        "all_lightgbm_fit_s": [round(t, 2) for t in fits["lightgbm"]],
        "lightgbm_fit_s": round(native_fit, 2),
        "gbt_fit_s": round(gbt_fit, 2),
        "ours_auc": round(ours_auc, 5),
        "lightgbm_auc": round(native_auc, 5),
        "gbt_auc": round(gbt_auc, 5),
        "ours_scoring_rows_per_s": round(test_rows / ours_score_s),
        "booster_predict_rows_per_s": round(test_rows / native_score_s),
        "synapseml_transform_rows_per_s": round(test_rows / synapseml_score_s),
        "auc_gap": auc_gap,
        "scoring_ratio": scoring_ratio,
        "ours_vs_gbt_fit_ratio": round(ours_fit / gbt_fit, 3),
        "ours_fit_profile_s": ours_profile,
        "lightgbm_fit_profile_s": native_profile,
    }
    data_facts = {
        "rows": rows,
        "train_rows": train_rows,
        "test_rows": test_rows,
        "features": len(FEATURES),
        "categorical": len(CATEGORICAL),
        "iterations": args.iterations,
        "threads": threads,
        "cpu_count": os.cpu_count(),
    }
    goal = (
        f"fit <= {FIT_GOAL}x lightgbm, |AUC gap| <= {AUC_GOAL}; faster than GBT with AUC >= GBT's; "
        f"scoring >= {SCORING_GOAL}x Booster.predict"
    )
    path = write_results(
        "train", args.quick, data_facts, figures, fit_ratio, goal, all(checks.values()), checks=checks
    )
    print(f"results: {path.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    main()
