"""AutoML for real: Spark, SynapseML LightGBM, Spark ML's random forest and linear models, FLAML's
CFO searcher and MLflow's SQLite registry, on scikit-learn's breast cancer data and on small data
sets each crafted so that one learner fits it best."""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn import datasets

from lakehouse.config import load_config
from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import ModelsSettings
from lakehouse.errors import ConfigError, ModelTrainingError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.models import cross_validation
from lakehouse.models.automl import LearnerState, choose_learner, loss_of, run_automl
from lakehouse.models.dataset import SPLIT_COLUMN
from lakehouse.models.learners import LEARNERS, Dimension
from lakehouse.models.registry import ModelRegistry
from lakehouse.models.training_data import training_data
from lakehouse.runs.runner import run_job
from lakehouse.storage.layout import StorageLayout
from tests.conftest import CONF_DIR
from tests.models.test_table_models import sklearn_frame

AUTOML_MODEL = """
models:
  models:
    cancer:
      data: {table: silver.customers, target: segment}
      search: {%s}
"""


def load_error(tmp_path, search: str) -> str:
    conf = shutil.copytree(CONF_DIR, tmp_path / "conf")
    (conf / "local" / "models.yml").write_text(AUTOML_MODEL % search)
    with pytest.raises(ConfigError) as error:
        load_config("local", conf_dir=conf)
    return str(error.value)


def test_a_bad_budget_an_unknown_learner_or_parameter_is_refused_at_load(tmp_path):
    key = "models.models.cancer.search"
    message = load_error(tmp_path / "a", "strategy: automl, budget_seconds: 0")
    assert f"{key}.budget_seconds" in message and "greater than 0" in message
    message = load_error(tmp_path / "b", "strategy: automl, budget_seconds: soon")
    assert f"{key}.budget_seconds" in message
    message = load_error(tmp_path / "c", "strategy: automl")
    assert "budget_seconds: an automl search needs its budget" in message
    message = load_error(tmp_path / "d", "strategy: automl, budget_seconds: 9, learners: [lightgbm, xgboost]")
    assert f"{key}" in message and "unknown learner 'xgboost'" in message and "random_forest" in message
    message = load_error(tmp_path / "e", "strategy: automl, budget_seconds: 60, learners: [linera]")
    assert "did you mean 'linear'" in message
    message = load_error(
        tmp_path / "f",
        "strategy: automl, budget_seconds: 60, learners: {lightgbm: {numLeavs: {low: 4, high: 64}}}",
    )
    assert "learners.lightgbm.numLeavs" in message and "did you mean 'numLeaves'" in message
    message = load_error(tmp_path / "i", "strategy: automl, budget_seconds: 60, folds: 1")
    assert f"{key}.folds" in message or ("folds: 1 folds" in message and key in message)
    message = load_error(tmp_path / "j", "strategy: random, space: {numLeaves: [8]}, folds: 3")
    assert key in message and "only an automl search cross-validates" in message
    message = load_error(tmp_path / "k", "strategy: random, space: {numLeaves: [8]}, refit: false")
    assert key in message and "only an automl search refits" in message
    message = load_error(tmp_path / "l", "strategy: grid, space: {numLeaves: [8]}, ensemble: true")
    assert key in message and "only an automl search averages its trials" in message
    message = load_error(tmp_path / "g", "strategy: random, budget_seconds: 60, learners: [linear]")
    assert "only an automl search chooses learners" in message

    conf = shutil.copytree(CONF_DIR, tmp_path / "ok" / "conf")
    narrowed = "strategy: automl, budget_seconds: 90, learners: {linear: {}, lightgbm: {numLeaves: [4, 8]}}"
    (conf / "local" / "models.yml").write_text(AUTOML_MODEL % narrowed)
    search = load_config("local", conf_dir=conf).models.models["cancer"].search
    assert search.learner_names == ["linear", "lightgbm"] and search.max_trials is None
    space = LEARNERS["lightgbm"].narrowed_space(search.narrowing("lightgbm"), key="k")
    assert space["numLeaves"].values == (4, 8) and isinstance(space["learningRate"], Dimension)


class Outcome:
    def __init__(self, index: int, metric: float, seconds: float):
        self.index, self.metric, self.seconds = index, metric, seconds


@dataclass
class FakeTrial:
    index: int
    learner: str
    metric: float
    seconds: float


def test_the_search_starts_cheap_spends_on_the_learner_that_improves_and_stops_at_the_budget():
    """A fake clock and made-up learners: 'good' reaches a low loss quickly, 'slow' costs four
    times as much per trial and never improves; the search gives most trials to 'good'."""
    now = [0.0]
    seen: list[tuple[str, dict]] = []

    def fit(proposal):
        seen.append((proposal.learner, proposal.searched))
        cost = 1.0 if proposal.learner == "good" else 4.0
        now[0] += cost
        value = 0.9 - 0.3 / (1 + proposal.searched["x"]) if proposal.learner == "good" else 0.6
        return Outcome(proposal.index, value, cost)

    space = {"x": Dimension(1, 100, log=True, integer=True, cheap=1)}
    results, seconds = run_automl(
        {"slow": (4.0, space, {}), "good": (1.0, space, {})},
        fit,
        "roc_auc",
        budget_seconds=60,
        at_once=1,
        seed=3,
        clock=lambda: now[0],
    )
    learners = [learner for learner, _ in seen]
    assert learners[0] == "good"  # the cheaper learner starts
    assert seen[0][1] == {"x": 1}  # at its cheapest configuration
    assert "slow" in learners  # every learner gets tried
    assert learners.count("good") > 3 * learners.count("slow")
    assert 60 <= seconds <= 60 + 4  # stops at the budget; one trial may overrun it
    assert [r.index for r in results] == list(range(len(results)))


def test_a_second_starting_point_is_judged_before_the_search_moves_on_from_the_better():
    """Two trials at once: the second starting point must not start while the first runs, or CFO
    would move on from whichever finished first; here the second is far better, so the search
    goes on around it."""
    lock = __import__("threading").Lock()
    seen: list[dict] = []

    def fit(proposal):
        with lock:
            seen.append(proposal.searched)
        x = proposal.searched["x"]
        return Outcome(proposal.index, 0.9 - 0.05 * abs(math.log(x / 300)), 0.01)

    space = {"x": Dimension(1, 1000, log=True, integer=True, init=2, second=300)}
    run_automl({"one": (1.0, space, {})}, fit, "roc_auc", budget_seconds=60, at_once=2, seed=3, max_trials=12)
    assert [p["x"] for p in seen[:2]] == [2, 300]
    assert all(p["x"] > 30 for p in seen[2:]), seen  # around 300, not around 2


def test_the_top_trials_of_a_small_validation_split_are_confirmed_on_folds():
    trials = [  # index, learner, validation AUC, seconds
        FakeTrial(0, "linear", 0.97, 2.0),
        FakeTrial(1, "linear", 0.99, 2.0),
        FakeTrial(2, "lightgbm", 0.98, 4.0),
        FakeTrial(3, "random_forest", 0.95, 6.0),
        FakeTrial(4, "random_forest", math.nan, 1.0),  # failed: never a candidate
        FakeTrial(5, "lightgbm", 0.96, 2.0),
    ]
    assert cross_validation.folds_for("auto", 113) == 3 and cross_validation.folds_for("auto", 20_000) == 0
    assert cross_validation.folds_for(0, 113) == 0 and cross_validation.folds_for(5, 20_000) == 5
    # the best two overall, then each other learner's best, then each learner's next best, when
    # the best two fit (median trials: linear 2 s, lightgbm 3 s; 3 folds, 2 at once: 3 + 4.5 s,
    # within the time left plus one fold)
    top = cross_validation.candidates(trials, "roc_auc", 3, 4.5, 2)
    assert [t.index for t in top] == [1, 2, 3, 0, 5]
    assert cross_validation.candidates(trials, "roc_auc", 3, 4.4, 2) == []  # 7.5 s > 4.4 + one fold
    assert len(cross_validation.candidates(trials, "roc_auc", 3, 4.4, 2, slack=1.0)) == 5
    assert cross_validation.seconds_needed(trials, "roc_auc", 3, 2) == pytest.approx(20.25)
    # a fold's estimate is the median of the learner's recent trials, not of its cold first ones
    warming = [FakeTrial(i, "linear", 0.9, s) for i, s in enumerate([9.0, 9.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0])]
    assert cross_validation.fold_seconds(warming) == {"linear": 1.0}
    # after the first two, a trial is confirmed only when its folds end within the time left (a
    # fold estimated at the learner's folds so far, else as given): 6 folds of 1 s, then the
    # forest's 3 do not fit in 8 s; in 9 s they do, and linear's next 3 do not
    now = [0.0]

    def one_second(trial, fold):
        now[0] += 1.0
        return 0.9

    guess = {"random_forest": 1.0}
    means = cross_validation.cross_validate(top, 3, 1, one_second, 8.0, guess, clock=lambda: now[0])
    assert list(means) == [1, 2] and now[0] == 6.0
    means = cross_validation.cross_validate(top, 3, 1, one_second, 9.0, guess, clock=lambda: now[0])
    assert list(means) == [1, 2, 3] and now[0] == 15.0
    assert cross_validation.candidates(trials[:1], "roc_auc", 3, 60.0, 2) == []
    # the held-out means decide: trial 2 generalises better than the luckiest on validation
    held_out = {(1, 0): 0.90, (1, 1): 0.92, (1, 2): 0.91, (2, 0): 0.95, (2, 1): 0.93, (2, 2): 0.94}
    held_out |= {(3, 0): 0.99, (3, 1): 0.97}  # its last fold fails: it cannot be kept

    def fit_fold(trial, fold):
        if (trial.index, fold) not in held_out:
            raise ModelTrainingError(f"fold {fold} failed")
        return held_out[trial.index, fold]

    means = cross_validation.cross_validate(top, 3, 2, fit_fold)
    assert means[1] == pytest.approx(0.91) and means[2] == pytest.approx(0.94) and math.isnan(means[3])
    assert cross_validation.confirmed_best(top, means, "roc_auc").index == 2
    assert cross_validation.confirmed_best(top, {1: 50.0, 2: 52.0}, "rmse").index == 1


def test_a_learner_behind_with_no_speed_is_estimated_costly():
    rng = random.Random(1)
    ahead, behind = LearnerState("a", 1.0, None, {}), LearnerState("b", 1.0, None, {})
    for loss in (0.3, 0.2, 0.1):
        ahead.record(loss, 1.0)
    for loss in (0.5, 0.5, 0.5):
        behind.record(loss, 1.0)
    assert behind.cost_to_improve(0.1) > 4 * ahead.cost_to_improve(0.1)
    picks = [choose_learner([ahead, behind], 100, rng).name for _ in range(200)]
    assert picks.count("a") > 140  # about 1 / (1 + 1 / 4.8) of them
    # a learner whose typical trial no longer fits in what is left is not started
    assert choose_learner([behind], 0.5, rng) is None
    assert loss_of("roc_auc", 0.93) == pytest.approx(0.07) and loss_of("rmse", 3.0) == 3.0
    assert loss_of("roc_auc", math.nan) == math.inf


def store(spark, config: LakehouseConfig) -> DeltaStore:
    return DeltaStore(spark, StorageLayout.from_config(config))


def automl_model(table: str, budget: float, learners=None, **extra) -> dict:
    search = {"strategy": "automl", "budget_seconds": budget, "seed": 5}
    if learners is not None:
        search["learners"] = learners
    return {
        "data": {"table": table, "target": "target", "key": ["sample_id"]},
        "split": {"method": "random", "seed": 11},
        "early_stopping_rounds": 10,
        "search": search,
        **extra,
    }


def with_models(config: LakehouseConfig, **models: dict) -> LakehouseConfig:
    return config.model_copy(update={"models": ModelsSettings.model_validate({"models": models})})


def trained(spark, config: LakehouseConfig, name: str):
    """Run train_model on ``name``; its registered version, run parameters and trials (child runs)."""
    job = run_job("train_model", config, spark=spark, params={"model": name})
    registry = ModelRegistry(config)
    [version] = registry.versions(name)
    params = registry.client.get_run(version.run_id).data.params
    return job, version, params, registry.trials(version.run_id)


def test_ensemble_selection_averages_trials_whose_errors_differ_and_keeps_a_dominant_trial_alone():
    import numpy as np

    rng = np.random.default_rng(1)
    truths = [rng.normal(0, 5, 300) for _ in range(3)]  # three folds of held-out targets

    def trial(noise: float) -> list[tuple]:
        return [(truth, truth + rng.normal(0, noise, truth.size)) for truth in truths]

    # two trials as good as each other with independent errors, and a poor one
    held_out = {4: trial(1.0), 9: trial(1.0), 2: trial(3.0)}
    counts, mean_rmse = cross_validation.select_ensemble(held_out, [4, 9, 2], "rmse")
    alone = sum(math.sqrt(np.mean((s - t) ** 2)) for t, s in held_out[4]) / 3
    assert set(counts) >= {4, 9} and counts[4] + counts[9] >= 2 * counts.get(2, 0)
    assert mean_rmse < 0.85 * alone  # the average of independent errors shrinks them
    # a trial far better than the others is kept alone: any share of theirs adds error
    held_out = {1: trial(0.1), 3: trial(2.0), 5: trial(2.0)}
    assert cross_validation.select_ensemble(held_out, [1, 3, 5], "rmse")[0] == {1: 1}
    # ROC AUC: a third learner's scores, ranked differently, lift the average
    labels = [(truth > 0).astype(float) for truth in truths]
    scored = {
        index: [
            (label, truth + rng.normal(0, 4, truth.size)) for label, truth in zip(labels, truths, strict=True)
        ]
        for index in (7, 8, 6)
    }
    counts, auc = cross_validation.select_ensemble(scored, [7, 8, 6], "roc_auc")
    assert len(counts) >= 2 and sum(counts.values()) <= cross_validation.ENSEMBLE_STEPS
    assert len(counts) <= cross_validation.ENSEMBLE_MEMBERS and 0.5 < auc <= 1.0


@pytest.mark.slow
def test_an_average_of_pipelines_scores_their_weighted_mean_and_survives_the_registry(
    spark, lakehouse_config
):
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from lakehouse.models.learners import FeatureSet, averaged, learner_of, members_of
    from lakehouse.models.problem import LABEL_COLUMN

    cancer = sklearn_frame(datasets.load_breast_cancer)
    names = [c for c in cancer.columns if c not in ("sample_id", "target")][:8]
    rows = spark.createDataFrame(cancer[["sample_id", *names, "worst_area", "target"]]).withColumn(
        LABEL_COLUMN, F.col("target")
    )
    features = FeatureSet(names, [], [], {})

    def fitted(learner: str, task: str, label: str, params: dict):
        pipeline = LEARNERS[learner].pipeline(task, features, label, params, 1, None, 0, key="test")
        return pipeline.fit(rows)

    boosted = fitted("lightgbm", "classification", LABEL_COLUMN, {"numIterations": 20, "numLeaves": 4})
    linear = fitted("linear", "classification", LABEL_COLUMN, {"regParam": 0.1})
    model = averaged([boosted, linear], [7, 3], "classification")
    assert learner_of(model).name == "ensemble"

    def probabilities(pipeline) -> dict[int, float]:
        out = pipeline.transform(rows).select("sample_id", vector_to_array("probability")[1].alias("p"))
        return {row.sample_id: row.p for row in out.collect()}

    mine, theirs = probabilities(boosted), probabilities(linear)
    expected = {key: 0.7 * mine[key] + 0.3 * theirs[key] for key in mine}
    assert probabilities(model) == pytest.approx(expected)
    assert model.transform(rows).count() == rows.count()
    # logged, registered and loaded by MLflow's Spark flavour (only Spark's and SynapseML's own
    # stages), members and weights whole
    registry = ModelRegistry(lakehouse_config)
    version = registry.register("averaged", model, {}, {}, names, {})
    loaded = registry.load(version)
    assert learner_of(loaded).name == "ensemble" and probabilities(loaded) == pytest.approx(expected)
    members, weights = members_of(loaded)
    assert weights == pytest.approx([0.7, 0.3]) and [learner_of(m).name for m in members] == [
        "lightgbm",
        "linear",
    ]
    assert probabilities(members[1]) == pytest.approx(theirs)
    shares = learner_of(loaded).importances(loaded, names)
    assert shares.keys() == set(names) and sum(v["weighted share"] for v in shares.values()) == pytest.approx(
        1.0
    )
    # a regression averages predictions
    forest = fitted("random_forest", "regression", "worst_area", {"numTrees": 5, "maxDepth": 3})
    line = fitted("linear", "regression", "worst_area", {"regParam": 0.0})
    both = averaged([forest, line], [1, 1], "regression")
    mean = {
        r.sample_id: (r.a + r.b) / 2
        for r in forest.transform(rows)
        .select("sample_id", F.col("prediction").alias("a"))
        .join(line.transform(rows).select("sample_id", F.col("prediction").alias("b")), "sample_id")
        .collect()
    }
    got = {
        r.sample_id: r.prediction for r in both.transform(rows).select("sample_id", "prediction").collect()
    }
    assert got == pytest.approx(mean)


@pytest.mark.slow
def test_automl_on_breast_cancer_honours_its_budget_logs_every_trial_and_reports_a_leaderboard(
    spark, lakehouse_config
):
    cancer = sklearn_frame(datasets.load_breast_cancer, ["malignant", "benign"])
    store(spark, lakehouse_config).overwrite("silver.breast_cancer", spark.createDataFrame(cancer))
    budget = 30.0
    config = with_models(lakehouse_config, cancer=automl_model("silver.breast_cancer", budget))

    job, version, params, trials = trained(spark, config, "cancer")

    seconds = [t.data.metrics["seconds"] for t in trials]
    search_seconds = float(params["search_seconds"])
    assert search_seconds <= 1.2 * budget + max(seconds)  # the budget holds, within one trial
    timeline = sorted((t.info.start_time, t.data.tags["learner"], t.data.metrics["seconds"]) for t in trials)
    assert search_seconds >= 0.8 * budget, (timeline, params.get("cross_validated_trials"))
    learners = [t.data.tags["learner"] for t in trials]
    # every learner's cheapest configuration runs first, then the search spends on the best
    assert set(learners) - {"ensemble"} == set(LEARNERS) and len(trials) >= 4
    assert params["trials"] == str(len(trials)) and params["search_strategy"] == "automl"
    assert version.metrics["test_roc_auc"] > 0.95
    # each trial is a child run with its learner, parameters, validation metric and seconds
    searched = [(t, learner) for t, learner in zip(trials, learners, strict=True) if learner != "ensemble"]
    for trial, learner in searched:
        assert trial.data.params and trial.data.metrics["validation_roc_auc"] > 0.5
        assert trial.data.params.keys() >= set(LEARNERS[learner].space("classification", 300))
    # 113 validation rows: the top trials were confirmed on 3 folds of train + validation, and
    # the best mean held-out AUC was kept: the best trial, or an average of confirmed trials
    # that beat it on the held-out rows
    confirmed = [t for t, _ in searched if "cv_roc_auc" in t.data.metrics]
    assert params["folds"] == "3" and len(confirmed) == int(params["cross_validated_trials"]) >= 2
    assert params["refitted"] == "True"  # the kept configuration, fitted on train + validation
    assert max(trials, key=lambda t: t.data.metrics["validation_roc_auc"]) in confirmed
    best = max(
        (t for t in trials if "cv_roc_auc" in t.data.metrics), key=lambda t: t.data.metrics["cv_roc_auc"]
    )
    assert version.tags["learner"] == params["learner"] == best.data.tags["learner"]
    assert version.metrics["validation_roc_auc"] == pytest.approx(best.data.metrics["validation_roc_auc"])
    averages = [t for t in trials if t.data.tags["learner"] == "ensemble"]
    assert len(averages) <= 1
    if averages:  # kept: it beat each of its members on the folds, and their weights sum to 1
        [average] = averages
        members = [int(index) for index in average.data.params["members"].split(",")]
        by_index = {int(t.data.tags["trial"]): t for t in confirmed}
        alone = [by_index[index].data.metrics["cv_roc_auc"] for index in members]
        assert average is best and average.data.metrics["cv_roc_auc"] > max(alone)
        weights = [float(weight) for weight in average.data.params["weights"].split(",")]
        assert sum(weights) == pytest.approx(1.0, abs=1e-3)
    assert params["averaged_trials"] == str(len(members) if averages else 0)
    # the kept model, one learner's or an average, scores through batch_score
    scored = run_job("batch_score", config, spark=spark)
    assert scored.rows_written == {"gold.cancer_predictions": 569}
    predictions = store(spark, config).read("gold.cancer_predictions").toPandas()
    assert predictions["score"].between(0, 1).all() and predictions["predicted_label"].notna().all()
    # the report's leaderboard lists every trial, best first, and draws the search curve
    report = Path(job.outputs["cancer.report"]).read_text(encoding="utf-8")
    board = report[report.index("Leaderboard") :]
    board = board[: board.index("</table>")]
    assert board.count("<tr") == len(trials) + 1  # a header and a row per trial
    curve = report[report.index("Leaderboard") :]  # (the calibration chart above has circles too)
    assert "Search curve" in curve and curve.count("<circle") == len(trials)
    assert "k-fold roc_auc" in board and f"the top {len(confirmed)} trials were fitted again" in report


def crafted_frame(kind: str, rows: int, seed: int = 3):
    """A data set one learner fits best.

    linear: a linear target plus a little noise (a straight line is what trees only approximate);
    lightgbm: a sum of smooth curves of six features (boosting fits additive shapes one feature at a
    time, where a forest's deep trees need far more data);
    random_forest: an exclusive or of two category sets, 10% of labels flipped. ``a`` has 40
    categories, ``b`` 160 (about 11 training rows each). Spark's forest orders every category
    by its label rate at each node, however few its rows; LightGBM's categorical regularisation
    (a category needs 10 rows in a node, a side of a split 100) hides b's categories within each
    side of a, so it learns about as little as a linear model (a one-hot linear model cannot
    express the exclusive or at all).
    """
    import pandas as pd

    rng = random.Random(seed)
    data = []
    if kind == "random_forest":
        in_a = [rng.random() < 0.3 for _ in range(40)]
        in_b = [rng.random() < 0.3 for _ in range(160)]
        for i in range(rows):
            a, b = rng.randrange(40), rng.randrange(160)
            label = (in_a[a] != in_b[b]) != (rng.random() < 0.1)
            noise = {"c": f"c{rng.randrange(30)}", "x1": rng.gauss(0, 1), "x2": rng.gauss(0, 1)}
            data.append({"sample_id": i, "a": f"a{a}", "b": f"b{b}", **noise, "target": int(label)})
    elif kind == "linear":
        for i in range(rows):
            xs = [rng.uniform(-2, 2) for _ in range(5)]
            y = 3 * xs[0] - 2 * xs[1] + xs[2] + 0.5 * xs[3] + rng.gauss(0, 0.1)
            data.append({"sample_id": i, **{f"x{j}": v for j, v in enumerate(xs)}, "target": y})
    else:
        for i in range(rows):
            xs = [rng.uniform(0, 1) for _ in range(6)]
            y = sum(math.sin(4 * x + j) for j, x in enumerate(xs)) + rng.gauss(0, 0.05)
            data.append({"sample_id": i, **{f"x{j}": v for j, v in enumerate(xs)}, "target": y})
    return pd.DataFrame(data)


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["linear", "lightgbm", "random_forest"])
def test_each_learner_wins_on_data_crafted_for_it(spark, lakehouse_config, learner):
    rows = {"linear": 600, "lightgbm": 3000, "random_forest": 3000}[learner]
    frame = crafted_frame(learner, rows)
    table = f"silver.crafted_{learner}"
    store(spark, lakehouse_config).overwrite(table, spark.createDataFrame(frame))
    name = f"crafted_{learner}"
    model = automl_model(table, 15.0)
    model["search"]["parallelism"] = 3  # every learner's first trial starts at once, whatever the load
    model["search"]["ensemble"] = False  # the learner chosen, not an average of trials
    config = with_models(lakehouse_config, **{name: model})

    _, version, params, trials = trained(spark, config, name)

    metric = version.tags["metric"]
    best: dict[str, float] = {}
    for trial in trials:
        loss = loss_of(metric, trial.data.metrics.get(f"validation_{metric}", math.nan))
        best[trial.data.tags["learner"]] = min(loss, best.get(trial.data.tags["learner"], math.inf))
    assert set(best) == set(LEARNERS), f"every learner is tried: {best}"
    assert params["learner"] == learner, best


@pytest.mark.slow
def test_a_linear_winner_is_registered_with_its_imputation_failed_trials_are_kept_and_it_scores(
    spark, lakehouse_config
):
    frame = crafted_frame("linear", 400)
    frame.loc[::7, "x2"] = None  # missing values: the linear pipeline imputes them
    tables = store(spark, lakehouse_config)
    tables.overwrite("silver.crafted_line", spark.createDataFrame(frame))
    # Spark's trees refuse a depth over 30: those trials fail, are tracked, and the search goes on
    learners = {"linear": {"maxIter": [25, 50]}, "random_forest": {"maxDepth": [40]}}
    model = automl_model("silver.crafted_line", 15.0, learners=learners)
    model["search"]["ensemble"] = False  # the linear learner's own pipeline is registered
    config = with_models(lakehouse_config, line=model)

    job, version, params, trials = trained(spark, config, "line")
    assert version.tags["learner"] == "linear" and "production" in version.aliases
    # about 80 validation rows: the top trials were confirmed on folds and the kept configuration
    # refitted on the training and validation rows: its imputer holds their mean of x2
    assert params["refitted"] == "True" and int(params["cross_validated_trials"]) >= 2
    rows = training_data(tables, config, "line", config.models.models["line"]).rows.toPandas()
    pooled = rows[rows[SPLIT_COLUMN].isin(["train", "validation"])]["x2"].mean()
    train = rows[rows[SPLIT_COLUMN] == "train"]["x2"].mean()
    [imputer] = [s for s in ModelRegistry(config).load(version).stages if type(s).__name__ == "ImputerModel"]
    surrogate = imputer.surrogateDF.first()["x2__num"]
    assert surrogate == pytest.approx(pooled) and surrogate != pytest.approx(train)
    failed = [t for t in trials if t.info.status == "FAILED"]
    assert failed and all(t.data.tags["learner"] == "random_forest" for t in failed)
    assert len(failed) <= 3  # a learner failing three times in a row is dropped
    assert "maxDepth" in failed[0].data.tags["error"] and "model line" in failed[0].data.tags["error"]
    imputed = "mean of the training and validation rows (x0, x1, x2"
    assert params["preparation_missing_values"].startswith(imputed)
    assert job.metrics["line.test_r2"] > 0.97  # a seventh of the rows lost x2 to the mean

    scored = run_job("batch_score", config, spark=spark)
    assert scored.rows_written == {"gold.line_predictions": 400}
    predictions = {r.sample_id: r.score for r in tables.read("gold.line_predictions").collect()}
    complete = frame[frame["x2"].notna()]
    errors = [abs(predictions[i] - t) for i, t in zip(complete["sample_id"], complete["target"], strict=True)]
    assert sum(errors) / len(errors) < 0.2
    assert all(predictions[i] == predictions[i] for i in frame["sample_id"])  # imputed rows score too
