"""Hyperparameter search: the trials to run and running them, some at once (pure planning)."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from lakehouse.config.models import ModelSearchSettings, ParamRange
from lakehouse.config.section import Scalar

T = TypeVar("T")


def _draw(values: list[Scalar] | ParamRange, rng: random.Random) -> Scalar:
    if isinstance(values, list):
        return rng.choice(values)
    if values.log:
        value = math.exp(rng.uniform(math.log(values.low), math.log(values.high)))
    else:
        value = rng.uniform(values.low, values.high)
    return round(value) if values.integer else float(f"{value:.6g}")


def trial_params(search: ModelSearchSettings | None, base: dict[str, Scalar]) -> list[dict[str, Scalar]]:
    """The parameters of each trial: ``base`` with the search's values on top.

    Grid: every combination of the lists, or a seeded random sample of ``trials`` of them when
    the grid is larger than the budget. Random: ``trials`` (default 8) seeded draws (a list is drawn from
    uniformly, a range uniformly or log-uniformly). Repeated draws are run once. No search: one
    trial with ``base``.
    """
    if search is None:
        return [dict(base)]
    names = list(search.space)
    if search.strategy == "grid":
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*search.space.values())]
        if len(points) > search.max_trials:
            points = random.Random(search.seed).sample(points, search.max_trials)
    else:
        rng = random.Random(search.seed)
        points = [{name: _draw(search.space[name], rng) for name in names} for _ in range(search.max_trials)]
    unique: list[dict[str, Scalar]] = []
    for point in points:
        if point not in unique:
            unique.append(point)
    return [{**base, **point} for point in unique]


def trials_at_once(parallelism: int | str, cores: int, threads_per_fit: int, trials: int) -> int:
    """How many fits run together: as configured, or (auto) as many as the cores hold when each
    fit uses ``threads_per_fit`` threads; never more than the trials."""
    if parallelism == "auto":
        parallelism = max(1, cores // max(1, threads_per_fit))
    return max(1, min(int(parallelism), trials))


def run_trials(
    fit: Callable[[int, dict[str, Any]], T],
    trials: Sequence[dict[str, Any]],
    at_once: int,
    budget_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[T]:
    """``fit(index, params)`` for each trial, ``at_once`` of them at a time (Spark runs jobs of
    several threads side by side); results in trial order. With ``budget_seconds``, no trial
    starts once that many seconds have passed (the running ones finish). The first failure is
    raised."""
    started = clock()

    def in_budget() -> bool:
        return budget_seconds is None or clock() - started < budget_seconds

    if at_once <= 1:
        results = []
        for index, params in enumerate(trials):
            if not in_budget():
                break
            results.append(fit(index, params))
        return results
    pending = list(enumerate(trials))
    running: dict[Future, int] = {}
    done_results: dict[int, T] = {}
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="trial") as pool:
        while pending or running:
            while pending and len(running) < at_once and in_budget():
                index, params = pending.pop(0)
                running[pool.submit(fit, index, params)] = index
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                index = running.pop(future)
                try:
                    done_results[index] = future.result()
                except BaseException:
                    for other in running:
                        other.cancel()
                    raise
    return [done_results[index] for index in sorted(done_results)]
