"""AutoML by configuration: our ``strategy: automl`` next to our random LightGBM search and FLAML.

Real public data that ships inside PyPI packages (nothing is downloaded at run time):

- breast_cancer (scikit-learn): 569 tumours, 30 measurements, binary (malignant);
- fair (statsmodels): 6,366 women of a 1974 survey, 8 answers, binary (any extramarital affair);
- anes96 (statsmodels): 944 voters of the 1996 American National Election Study, 10 answers,
  binary (voted Dole rather than Clinton);
- diabetes (scikit-learn): 442 patients, 10 measurements, regression (disease progression);
- randhie (statsmodels): 20,190 person-years of the RAND Health Insurance Experiment, 9
  covariates, regression (outpatient visits).

Each set gets a ``fold`` column (60/20/20, seeded, stratified by class for a classification) and
is written as a silver table. The small sets (under 2,000 rows) get three such splits, each
written as its own table: a test split of 89 to 188 rows ranks two good models by luck, so their
goals are judged on the mean over the splits. Then, per split, in one process and on the SAME
train, validation and test rows:

- ours: the ``train_model`` job on a ``data:`` model of models.yml with ``split: {method: column,
  column: fold}`` and ``search: {strategy: automl, budget_seconds: B}`` (LightGBM, random forest,
  linear; the framework's spaces, cost-aware order);
- random: the same job with ``search: {strategy: random, budget_seconds: B, trials: 10000}`` over
  a LightGBM space (numLeaves, learningRate, numIterations, minDataInLeaf, featureFraction,
  lambdaL2): our search before AutoML, given the same wall-clock budget;
- flaml: ``flaml.AutoML`` (2.8.0) on pandas, ``time_budget`` B, its default learners, holdout
  evaluation on our validation rows (``X_val``/``y_val``: no refit on train + validation), the
  same metric.

Every side is judged on the same test rows with scikit-learn's ``roc_auc_score`` or RMSE (ours
from the registered model's predictions; the job's own test metric is kept beside it). The job's
wall time (read, search, evaluate, register, report) and its search's seconds are reported, with
FLAML's ``fit`` seconds, the trials of each side per learner and the best trials.

Goals (issue 20): on every set, ours >= random (mean test AUC not lower, mean test RMSE not
higher), and ours within 0.005 AUC (2% RMSE) of FLAML (not worse by more). Results:
``benchmarks/results/automl.json``.

    python benchmarks/automl.py [--quick] [--budget SECONDS] [--sets a,b] [--splits N]

--quick: a 15 s budget per side on breast_cancer, fair and diabetes, one split each; full: 60 s on
all five, three splits of the small sets.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "automl"
AUC_GOAL, RMSE_GOAL = 0.005, 0.02
SEED = 7
SMALL_SET = 2_000  # rows under which a full run judges a set over several splits
SMALL_SPLITS = 3
SHARES = {"train": 0.6, "validation": 0.2, "test": 0.2}
QUICK_SETS = ("breast_cancer", "fair", "diabetes")
# our search before AutoML: SynapseML LightGBM parameters, drawn per trial
RANDOM_SPACE = {
    "numLeaves": {"low": 4, "high": 128, "log": True, "integer": True},
    "learningRate": {"low": 0.01, "high": 0.3, "log": True},
    "numIterations": {"low": 50, "high": 1000, "log": True, "integer": True},
    "minDataInLeaf": {"low": 2, "high": 100, "log": True, "integer": True},
    "featureFraction": {"low": 0.5, "high": 1.0},
    "lambdaL2": {"low": 0.001, "high": 10.0, "log": True},
}
SIDES = ("ours", "random", "flaml")


@dataclass
class DataSet:
    """A public data set as a frame: ``sample_id``, the features, ``target`` and ``fold``."""

    frame: object  # pandas.DataFrame
    problem: str  # binary or regression
    source: str  # the package and loader it ships in
    about: str

    @property
    def features(self) -> list[str]:
        return [c for c in self.frame.columns if c not in ("sample_id", "target", "fold")]


def assign_folds(target, stratified: bool, seed: int = SEED):
    """train, validation or test for each row: 60/20/20 by a seeded permutation (within each class
    when ``stratified``), so every side sees the same rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folds = np.empty(len(target), dtype=object)
    groups = [np.flatnonzero(target == value) for value in np.unique(target)] if stratified else [
        np.arange(len(target))
    ]  # fmt: skip
    for rows in groups:
        rows = rng.permutation(rows)
        train_end = round(len(rows) * SHARES["train"])
        validation_end = train_end + round(len(rows) * SHARES["validation"])
        folds[rows[:train_end]] = "train"
        folds[rows[train_end:validation_end]] = "validation"
        folds[rows[validation_end:]] = "test"
    return folds


def with_split(data: DataSet, split: int) -> DataSet:
    """The set with the fold column of split number ``split`` (0: the one it was loaded with)."""
    if split == 0:
        return data
    frame = data.frame.copy()
    frame["fold"] = assign_folds(frame["target"].to_numpy(), data.problem == "binary", SEED + split)
    return DataSet(frame, data.problem, data.source, data.about)


def load_data_sets(names) -> dict[str, DataSet]:
    """The data sets named, loaded from the files their packages ship (no network)."""
    import numpy as np
    import pandas as pd

    def sklearn_set(loader):
        from sklearn import datasets

        return getattr(datasets, loader)(as_frame=True).frame

    def statsmodels_set(module):
        import importlib

        return importlib.import_module(f"statsmodels.datasets.{module}").load_pandas().data

    def breast_cancer():
        frame = sklearn_set("load_breast_cancer")
        frame["target"] = 1 - frame["target"]  # scikit-learn's 0 is malignant: 1 is the positive class
        return frame

    def fair():
        frame = statsmodels_set("fair")
        frame["target"] = (frame.pop("affairs") > 0).astype("int64")
        return frame

    def anes96():
        frame = statsmodels_set("anes96")
        frame["target"] = frame.pop("vote").astype("int64")  # 1: Dole, 0: Clinton
        return frame

    def diabetes():
        return sklearn_set("load_diabetes")

    def randhie():
        frame = statsmodels_set("randhie")
        frame["target"] = frame.pop("mdvis").astype("float64")
        return frame

    loaders = {
        "breast_cancer": (breast_cancer, "binary", "scikit-learn load_breast_cancer", "tumours, malignant"),
        "fair": (fair, "binary", "statsmodels datasets.fair", "1974 survey, any affair"),
        "anes96": (anes96, "binary", "statsmodels datasets.anes96", "1996 election study, voted Dole"),
        "diabetes": (diabetes, "regression", "scikit-learn load_diabetes", "disease progression"),
        "randhie": (randhie, "regression", "statsmodels datasets.randhie", "RAND HIE, outpatient visits"),
    }
    unknown = [name for name in names if name not in loaders]
    if unknown:
        raise SystemExit(f"unknown data sets {unknown}; choose from {', '.join(loaders)}")
    sets = {}
    for name in names:
        load, problem, source, about = loaders[name]
        frame = load()
        frame.columns = [re.sub(r"[^a-z0-9]+", "_", str(c).lower()).strip("_") for c in frame.columns]
        frame = frame.astype({c: "float64" for c in frame.columns if c != "target"})
        frame.insert(0, "sample_id", np.arange(1, len(frame) + 1, dtype="int64"))
        frame["fold"] = assign_folds(frame["target"].to_numpy(), stratified=problem == "binary")
        sets[name] = DataSet(pd.DataFrame(frame), problem, source, about)
    return sets


def judged(problem: str, truth, predicted) -> float:
    """scikit-learn's ROC AUC (binary) or RMSE (regression)."""
    import numpy as np
    from sklearn.metrics import mean_squared_error, roc_auc_score

    if problem == "binary":
        return float(roc_auc_score(truth, predicted))
    return float(np.sqrt(mean_squared_error(truth, predicted)))


def better_or_equal(problem: str, ours: float, theirs: float, tolerance: float = 0.0) -> bool:
    """Ours is not worse than theirs by more than ``tolerance`` (AUC: absolute; RMSE: relative)."""
    if problem == "binary":
        return ours >= theirs - tolerance
    return ours <= theirs * (1 + tolerance)


def better(problem: str, ours: float, theirs: float) -> bool:
    """Ours is strictly better (AUC higher, RMSE lower)."""
    return ours > theirs if problem == "binary" else ours < theirs


def plain(value):
    """``value`` with numpy scalars as Python numbers, ready for JSON."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def model_settings(table: str, side: str, budget: float) -> dict:
    """The models.yml entry of one side (ours or random) on one split's silver table."""
    search = {"budget_seconds": budget, "parallelism": "auto", "seed": SEED}
    if side == "ours":
        search |= {"strategy": "automl"}
    else:
        search |= {"strategy": "random", "trials": 10_000, "space": RANDOM_SPACE}
    return {
        "data": {"table": table, "target": "target", "key": ["sample_id"]},
        "split": {"method": "column", "column": "fold"},
        "search": search,
    }


def run_framework(spark, config, tables, registry, model: str, table: str, data: DataSet) -> dict:
    """Run the ``train_model`` job on one model; its search, the job's own test metric, and the
    registered model's test predictions judged by scikit-learn."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    import lakehouse.jobs.train_model as train_model_job
    from lakehouse.runs.runner import run_job

    # the job prints its result; keep the TrainingResult it returns (trials, search seconds)
    results = []
    train = train_model_job.train_model

    def kept(*args, **kwargs):
        result = train(*args, **kwargs)
        results.append(result)
        return result

    train_model_job.train_model = kept
    try:
        started = time.perf_counter()
        run_job("train_model", config, spark=spark, params={"model": model})
        job_seconds = time.perf_counter() - started
    finally:
        train_model_job.train_model = train
    [result] = results
    fitted = registry.load(result.version)
    test_rows = tables.read(table).where(F.col("fold") == "test")
    scored = fitted.transform(test_rows)
    output = (
        vector_to_array(F.col("probability"))[1] if data.problem == "binary" else F.col("prediction")
    ).alias("predicted")
    predicted = scored.select("sample_id", "target", output).toPandas()
    metric = result.metric
    trials = [
        {
            "learner": trial.learner,
            "params": dict(trial.searched),
            "validation": trial.metric,
            "seconds": trial.seconds,
            "started": trial.started,
        }
        for trial in result.trials
    ]
    return {
        "test": judged(data.problem, predicted["target"], predicted["predicted"]),
        "job_test": float(result.test[metric]),
        "validation": float(result.validation[metric]),
        "job_s": round(job_seconds, 2),
        "search_s": round(result.search_seconds, 2),
        "trials": len(trials),
        "trials_by_learner": dict(Counter(t["learner"] for t in trials)),
        "best": trials[result.best_trial],
        "leaderboard": leaderboard(trials, data.problem),
        "curve": search_curve(trials, data.problem),
        "version": result.version.version,
    }


def leaderboard(trials: list[dict], problem: str, top: int = 5) -> list[dict]:
    """The ``top`` trials by validation metric, best first."""
    ordered = sorted(trials, key=lambda t: -t["validation"] if problem == "binary" else t["validation"])
    return ordered[:top]


def search_curve(trials: list[dict], problem: str) -> list[list[float]]:
    """[seconds since the search started, best validation metric so far] at each trial that
    improved it, by the time the trial ended."""
    curve: list[list[float]] = []
    for trial in sorted(trials, key=lambda t: t["started"] + t["seconds"]):
        if not curve or better(problem, trial["validation"], curve[-1][1]):
            curve.append([round(trial["started"] + trial["seconds"], 2), trial["validation"]])
    return curve


def run_flaml(name: str, data: DataSet, budget: float, cores: int) -> dict:
    """FLAML's own AutoML on pandas: fitted on our train rows, judged on our validation rows
    during the search, the kept model's test predictions judged by scikit-learn."""
    from flaml import AutoML

    frame = data.frame
    parts = {fold: frame[frame["fold"] == fold] for fold in SHARES}
    x = {fold: part[data.features] for fold, part in parts.items()}
    y = {fold: part["target"] for fold, part in parts.items()}
    log_file = WORK / "flaml" / f"{name}.log"  # every trial (log_type all)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    automl = AutoML()
    started = time.perf_counter()
    with warnings.catch_warnings():  # the linear learners' convergence warnings, hundreds of them
        warnings.simplefilter("ignore")
        automl.fit(
            x["train"],
            y["train"],
            X_val=x["validation"],
            y_val=y["validation"],
            task="classification" if data.problem == "binary" else "regression",
            metric="roc_auc" if data.problem == "binary" else "rmse",
            eval_method="holdout",
            time_budget=budget,
            n_jobs=cores,
            seed=SEED,
            verbose=0,
            log_file_name=str(log_file),
            log_type="all",
            mlflow_logging=False,
        )
    fit_seconds = time.perf_counter() - started
    if data.problem == "binary":
        predicted = automl.predict_proba(x["test"])[:, 1]
    else:
        predicted = automl.predict(x["test"])
    records = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    records = [r for r in records if "learner" in r]
    # FLAML minimises a loss: 1 - AUC, or the RMSE itself
    to_metric = (lambda loss: 1 - loss) if data.problem == "binary" else (lambda loss: loss)
    trials = [
        {
            "learner": r["learner"],
            "params": r["config"],
            "validation": to_metric(r["validation_loss"]),
            "seconds": round(r["trial_time"], 3),
            "started": round(r["wall_clock_time"] - r["trial_time"], 3),
        }
        for r in records
    ]
    return {
        "test": judged(data.problem, y["test"], predicted),
        "validation": to_metric(automl.best_loss),
        "fit_s": round(fit_seconds, 2),
        "trials": len(trials),
        "trials_by_learner": dict(Counter(t["learner"] for t in trials)),
        "best": {"learner": automl.best_estimator, "params": automl.best_config},
        "leaderboard": leaderboard(trials, data.problem),
        "curve": search_curve(trials, data.problem),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="15 s per side, three data sets")
    parser.add_argument("--budget", type=float, help="seconds per side (default 60; quick 15)")
    parser.add_argument(
        "--sets", help="comma-separated data sets (default all; quick: " + ",".join(QUICK_SETS)
    )
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated sides (debugging)")
    parser.add_argument(
        "--splits", type=int, help=f"splits per small set (default {SMALL_SPLITS}; quick 1); large sets 1"
    )
    args = parser.parse_args()
    budget = args.budget or (15.0 if args.quick else 60.0)
    all_sets = ("breast_cancer", "fair", "anes96", "diabetes", "randhie")
    names = args.sets.split(",") if args.sets else list(QUICK_SETS if args.quick else all_sets)
    sides = args.sides.split(",")
    sets = load_data_sets(names)
    small_splits = args.splits or (1 if args.quick else SMALL_SPLITS)
    # (set, split number, its table, the set with that split's fold column)
    units = [
        (
            name,
            split,
            f"silver.{name}" if split == 0 else f"silver.{name}_split{split}",
            with_split(data, split),
        )
        for name, data in sets.items()
        for split in range(small_splits if len(data.frame) < SMALL_SET else 1)
    ]

    from lakehouse.config import load_config
    from lakehouse.config.models import ModelsSettings
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.models.registry import ModelRegistry
    from lakehouse.runs.runner import run_job
    from lakehouse.spark.session import build_session
    from lakehouse.storage.layout import StorageLayout

    shutil.rmtree(WORK, ignore_errors=True)
    base = load_config("local")
    config = base.model_copy(update={"storage": base.storage.model_copy(update={"root": str(WORK)})})
    spark = build_session(config, app_name="benchmark automl")
    cores = spark.sparkContext.defaultParallelism
    tables = DeltaStore(spark, StorageLayout.from_config(config))
    models: dict[str, dict] = {}
    for _, _, table, data in units:
        tables.overwrite(table, spark.createDataFrame(data.frame))
        for side in ("ours", "random"):
            if side in sides:
                models[f"{table.removeprefix('silver.')}_{side}"] = model_settings(table, side, budget)
    first = units[0][2]
    # untimed first: one trial of each learner (the cheapest configurations), so that the first
    # uses of the JVM, SynapseML and Spark ML (seconds each) fall on no side
    models["warmup"] = {
        "data": {"table": first, "target": "target", "key": ["sample_id"]},
        "split": {"method": "column", "column": "fold"},
        "search": {"strategy": "automl", "budget_seconds": budget, "trials": 3, "seed": SEED},
    }
    config = config.model_copy(update={"models": ModelsSettings.model_validate({"models": models})})
    registry = ModelRegistry(config)
    run_job("train_model", config, spark=spark, params={"model": "warmup"})

    runs: dict[str, list[dict]] = {}
    for name, split, table, data in units:
        frame = data.frame
        run: dict = {
            "split": split,
            "fold_seed": SEED + split,
            "rows_by_split": {fold: int((frame["fold"] == fold).sum()) for fold in SHARES},
        }
        for side in sides:
            if side == "flaml":
                run[side] = run_flaml(f"{name}_split{split}", data, budget, cores)
            else:
                model = f"{table.removeprefix('silver.')}_{side}"
                run[side] = run_framework(spark, config, tables, registry, model, table, data)
            shown = run[side]
            seconds = shown.get("job_s", shown.get("fit_s"))
            print(
                f"{name:14} split {split} {side:6} test {shown['test']:.4f} "
                f"(validation {shown['validation']:.4f}), {shown['trials']} trials "
                f"{shown['trials_by_learner']}, {seconds:.1f} s; best {shown['best']}",
                flush=True,
            )
        runs.setdefault(name, []).append(run)

    figures: dict[str, dict] = {}
    for name, data in sets.items():
        entry: dict = {
            "problem": data.problem,
            "metric": "roc_auc" if data.problem == "binary" else "rmse",
            "budget_s": budget,
            "splits": runs[name],
        }
        for side in sides:  # the mean over the splits is what the goals judge
            tests = [run[side]["test"] for run in runs[name]]
            entry[side] = {
                "test": sum(tests) / len(tests),
                "tests": tests,
                "trials": [run[side]["trials"] for run in runs[name]],
                "winners": [run[side]["best"]["learner"] for run in runs[name]],
            }
        if "ours" in entry and "random" in entry:
            entry["ours_minus_random"] = entry["ours"]["test"] - entry["random"]["test"]
            entry["met_random"] = better_or_equal(
                data.problem, entry["ours"]["test"], entry["random"]["test"]
            )
        if "ours" in entry and "flaml" in entry:
            ours, flaml = entry["ours"]["test"], entry["flaml"]["test"]
            entry["ours_minus_flaml"] = ours - flaml
            entry["ours_over_flaml"] = ours / flaml
            tolerance = AUC_GOAL if data.problem == "binary" else RMSE_GOAL
            entry["met_flaml"] = better_or_equal(data.problem, ours, flaml, tolerance)
        figures[name] = plain(entry)
    spark.stop()

    checks = {
        f"{name}_{goal}": entry[f"met_{goal}"]
        for name, entry in figures.items()
        for goal in ("random", "flaml")
        if f"met_{goal}" in entry
    }
    # quality of ours relative to FLAML, above 1 when ours is better: AUC ours / FLAML's, RMSE FLAML's / ours
    relative = [
        e["ours_over_flaml"] if e["problem"] == "binary" else 1 / e["ours_over_flaml"]
        for e in figures.values()
        if "ours_over_flaml" in e
    ]
    ratio = round(min(relative), 4) if relative else None
    path = write_results(
        "automl",
        args.quick,
        {
            name: {
                "rows": len(data.frame),
                "features": len(data.features),
                "problem": data.problem,
                "source": data.source,
                "about": data.about,
            }
            for name, data in sets.items()
        },
        figures,
        ratio,
        f"on every set: ours' test metric >= random LightGBM search's with the same budget, and within "
        f"{AUC_GOAL} AUC ({RMSE_GOAL:.0%} RMSE) of FLAML's AutoML; same split, budget {budget:g} s per side",
        bool(checks) and all(checks.values()),
        checks=checks,
        ratio_is="worst over the sets of ours' test metric relative to FLAML's (AUC ours/FLAML, "
        "RMSE FLAML/ours: above 1 is ours better)",
    )
    for name, entry in figures.items():
        line = [f"{name:14} {entry['metric']}:"]
        line += [f"{side} {entry[side]['test']:.4f}" for side in sides]
        line += [f"({len(entry['splits'])} splits)"]
        line += [f"{goal} {'met' if entry[f'met_{goal}'] else 'NOT met'}" for goal in ("random", "flaml")
                 if f"met_{goal}" in entry]  # fmt: skip
        print(" ".join(line))
    verdict = ("met" if all(checks.values()) else "NOT met") if checks else "not judged (a side left out)"
    print(f"goals {verdict}; {path.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    main()
