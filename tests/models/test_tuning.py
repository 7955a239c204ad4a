"""The trials a search runs: seeded, deduplicated, within the budget; trials at once by cores."""

from __future__ import annotations

import threading
import time

import pytest

from lakehouse.config.models import ModelSearchSettings
from lakehouse.models.tuning import run_trials, trial_params, trials_at_once


def search(**fields) -> ModelSearchSettings:
    return ModelSearchSettings.model_validate(
        {"space": {"numLeaves": [7, 15], "maxDepth": [3, 5, -1]}, **fields}
    )


def test_a_grid_runs_every_combination_over_the_base_params():
    trials = trial_params(search(strategy="grid", trials=10), {"numLeaves": 31, "learningRate": 0.1})
    assert len(trials) == 6
    assert {(t["numLeaves"], t["maxDepth"]) for t in trials} == {(a, b) for a in (7, 15) for b in (3, 5, -1)}
    assert all(t["learningRate"] == 0.1 for t in trials)


def test_a_grid_larger_than_the_budget_is_sampled_the_same_way_each_time():
    first = trial_params(search(strategy="grid", trials=4), {})
    assert len(first) == 4 and first == trial_params(search(strategy="grid", trials=4), {})


def test_random_draws_stay_in_their_ranges_and_repeats_run_once():
    space = {
        "learningRate": {"low": 0.01, "high": 0.3, "log": True},
        "minDataInLeaf": {"low": 5, "high": 50, "integer": True},
    }
    trials = trial_params(ModelSearchSettings.model_validate({"trials": 20, "space": space, "seed": 3}), {})
    assert len(trials) == 20
    assert all(0.01 <= t["learningRate"] <= 0.3 and 5 <= t["minDataInLeaf"] <= 50 for t in trials)
    assert all(isinstance(t["minDataInLeaf"], int) for t in trials)
    few = trial_params(
        ModelSearchSettings.model_validate({"trials": 30, "space": {"numLeaves": [7, 15]}}), {}
    )
    assert sorted(t["numLeaves"] for t in few) == [7, 15]


def test_no_search_is_one_trial_of_the_base_params():
    assert trial_params(None, {"numLeaves": 31}) == [{"numLeaves": 31}]


def test_a_grid_refuses_ranges():
    with pytest.raises(ValueError, match="grid search needs lists"):
        search(strategy="grid", space={"learningRate": {"low": 0.1, "high": 0.2}})


def test_trials_at_once_share_the_cores():
    assert trials_at_once("auto", cores=2, threads_per_fit=2, trials=8) == 1
    assert trials_at_once("auto", cores=8, threads_per_fit=2, trials=8) == 4
    assert trials_at_once("auto", cores=8, threads_per_fit=2, trials=3) == 3
    assert trials_at_once(2, cores=2, threads_per_fit=2, trials=8) == 2


def test_trials_run_side_by_side_and_keep_their_order():
    running, most = [0], [0]
    lock = threading.Lock()

    def fit(index, params):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return index, params["p"]

    results = run_trials(fit, [{"p": p} for p in "abcd"], at_once=2)
    assert results == [(0, "a"), (1, "b"), (2, "c"), (3, "d")] and most[0] == 2
