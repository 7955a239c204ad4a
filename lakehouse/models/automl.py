"""AutoML: choose the learner and its parameters within a time budget (no Spark here).

The method is FLAML's (Wang et al., "FLAML: A Fast and Lightweight AutoML Library", MLSys 2021):

- **within a learner**, FLAML's CFO searcher (cost-frugal optimisation: a randomised local search
  that starts from the cheapest configuration, fewest trees and leaves, and moves towards costlier
  ones only while they lower the loss) proposes the next parameters;
- **between learners**, each learner's *estimated cost for improvement* (ECI) decides which one
  gets the next trial: the time it took to find its last improvement, or the time spent since,
  whichever is larger; for a learner behind the best, at least twice the time its recent speed of
  improvement needs to close the gap. Every learner first runs its cheapest configuration, the
  cheapest learner first (FLAML estimates an untried learner's ECI from the first one's, which
  on Spark mostly measures the JVM warming up); then learners are drawn with probability
  inversely proportional to their ECI, so the ones that keep improving cheaply get most trials,
  and the others still some.

FLAML's own ``AutoML`` class runs its trials on pandas in one process; here the trials are Spark
fits (the ``fit`` callback), several at once up to the parallelism, and the search stops starting
trials when the budget is spent or a learner's typical trial no longer fits in what is left (the
running trials finish: the search overruns its budget by at most one trial).
"""

from __future__ import annotations

import logging
import math
import random
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from lakehouse.config.models import LOWER_IS_BETTER
from lakehouse.config.section import Scalar
from lakehouse.errors import ModelTrainingError
from lakehouse.models.learners.base import Choice, Dimension, Space

log = logging.getLogger(__name__)
FAILURES_TO_DROP = 3  # a learner whose trials fail this many times in a row is not tried again
# a loss lower by less than this share of the best is no progress (Spark trials cost seconds:
# a learner that gains in the fourth digit must not look like one that keeps improving)
MEANINGFUL = 1e-3
EMPTY_TO_DROP = 50  # CFO proposes nothing (a point it has seen) this many times in a row: converged


def loss_of(metric: str, value: float) -> float:
    """The value a search minimises: the metric where lower is better, else ``1 - metric``
    (ROC AUC 0.93 is loss 0.07); not a number is the worst loss."""
    if value is None or math.isnan(value):
        return math.inf
    return value if metric in LOWER_IS_BETTER else 1.0 - value


def _flaml():
    """FLAML's tune module; its package import warns that the AutoML extras are missing (they are
    not needed here) and sets its loggers to INFO."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from flaml import CFO, tune
    logging.getLogger("flaml").setLevel(logging.WARNING)
    return CFO, tune


def _domain(tune: Any, dimension: Dimension | Choice) -> Any:
    if isinstance(dimension, Choice):
        return tune.choice(list(dimension.values))
    if dimension.integer:  # flaml's integer upper bounds are exclusive
        low, high = int(dimension.low), int(dimension.high) + 1
        return tune.lograndint(low, high) if dimension.log else tune.randint(low, high)
    return (
        tune.loguniform(dimension.low, dimension.high)
        if dimension.log
        else tune.uniform(dimension.low, dimension.high)
    )


def starting_points(space: Space) -> list[dict[str, Any]]:
    """Where a search of ``space`` starts: each dimension's cheap (else initial) value, then the
    second starting point where the space has one."""
    start = {name: dimension.start() for name, dimension in space.items()}
    second = {name: dimension.second_start() for name, dimension in space.items()}
    return [start] if second == start else [start, second]


def searcher_for(space: Space, seed: int) -> Any:
    """FLAML's CFO over ``space``: it evaluates the starting points, then searches on from the
    best of them."""
    cfo, tune = _flaml()
    cheap = {
        name: dimension.cheap
        for name, dimension in space.items()
        if isinstance(dimension, Dimension) and dimension.cheap is not None
    }
    return cfo(
        metric="loss",
        mode="min",
        space={name: _domain(tune, dimension) for name, dimension in space.items()},
        points_to_evaluate=starting_points(space),
        low_cost_partial_config=cheap or None,
        seed=seed,
    )


@dataclass
class LearnerState:
    """One learner's search: its searcher and the times and losses that give its ECI."""

    name: str
    relative_cost: float
    searcher: Any
    base: dict[str, Any]  # fixed parameters under every trial of this learner
    starts: int = 1  # starting points, all judged before the search moves on from the best
    proposed: int = 0
    completed: int = 0
    running: int = 0
    failures_in_a_row: int = 0
    empty_in_a_row: int = 0
    exhausted: bool = False
    best_loss: float = math.inf
    best_loss_old: float = math.inf
    total_seconds: float = 0.0
    best_found_at: float = 0.0  # total_seconds when the best was found
    best_found_at_old: float = 0.0
    recent: list[float] = field(default_factory=list)  # seconds of the last trials

    def record(self, loss: float, seconds: float) -> None:
        self.completed += 1
        self.total_seconds += seconds
        self.recent = [*self.recent[-2:], seconds]
        if loss < self.best_loss - MEANINGFUL * abs(
            self.best_loss if math.isfinite(self.best_loss) else loss
        ):
            self.best_loss_old = self.best_loss if math.isfinite(self.best_loss) else 2 * loss
            self.best_loss = loss
            self.best_found_at_old = self.best_found_at
            self.best_found_at = self.total_seconds
        elif loss < self.best_loss:  # a gain too small to count as progress: kept, not timed
            self.best_loss = loss

    def waiting(self) -> bool:
        """Whether one of several starting points is running: they run one after the other, as
        CFO picks the point it moves on from once they are all judged (a result arriving while
        another starting point runs would make it move on from that one)."""
        return self.starts > 1 and self.running > 0 and self.proposed <= self.starts

    def typical_seconds(self) -> float:
        return statistics.median(self.recent) if self.recent else 0.0

    def cost_to_improve(self, best_loss: float) -> float:
        """The ECI: seconds this learner is expected to need to beat ``best_loss`` (its own best
        when it holds the best)."""
        cost = max(self.best_found_at - self.best_found_at_old, self.total_seconds - self.best_found_at)
        gap = self.best_loss - best_loss
        if gap > 0 and math.isfinite(self.best_loss):
            gained = (self.best_loss_old - self.best_loss) or self.best_loss
            spent = (self.total_seconds - self.best_found_at_old) or 1e-10
            speed = gained / spent
            if speed > 0:
                cost = max(2 * gap / speed, cost)
        return cost or 1e-9


def choose_learner(
    states: Sequence[LearnerState], time_left: float, rng: random.Random
) -> LearnerState | None:
    """The learner of the next trial (see the module docstring), or None when none fits in
    ``time_left`` seconds."""
    eligible = [
        s
        for s in states
        if not s.exhausted and not s.waiting() and (s.completed == 0 or s.typical_seconds() <= time_left)
    ]
    if not eligible:
        return None
    tried = [s for s in eligible if s.completed]
    untried = [s for s in eligible if not s.completed and not s.running]
    if untried:  # every learner's cheapest configuration first, the cheapest learner first
        return min(untried, key=lambda s: s.relative_cost)
    if not tried:  # each learner is running its first trial: another of the cheapest
        return min(eligible, key=lambda s: s.relative_cost)
    best_loss = min(s.best_loss for s in states)
    weights = [1 / s.cost_to_improve(best_loss) for s in tried]
    return rng.choices(tried, weights=weights)[0]


@dataclass
class Proposal:
    """A trial the search starts: its number, learner and parameters."""

    index: int
    learner: str
    params: dict[str, Any]
    searched: dict[str, Any]
    started: float  # seconds since the search began


def run_automl(
    learners: Mapping[str, tuple[float, Space, dict[str, Any]]],
    fit: Callable[[Proposal], Any],
    metric: str,
    budget_seconds: float,
    at_once: int,
    seed: int,
    max_trials: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    reserve: Callable[[Sequence[Any]], float] | None = None,
) -> tuple[list[Any], float]:
    """Run trials until the budget is spent; return every trial's result and the seconds spent.

    Args:
        learners: name -> (relative cost, search space, fixed parameters), in the order given.
        fit: runs one trial; returns an object with ``metric`` (validation) and ``seconds``. A
            :class:`ModelTrainingError` fails that trial only (it is recorded, and a learner whose
            trials fail three times in a row is dropped); any other error stops the search.
        metric: the validation metric the trials are judged by.
        budget_seconds: no trial starts once this many seconds have passed.
        at_once: trials running side by side.
        max_trials: stop after this many trials (None: the budget alone).
        reserve: seconds of the budget to keep for after the search, given the results so far
            (no trial starts once only they are left).

    Raises:
        ModelTrainingError: every trial failed (the first failure).
    """
    states = [
        LearnerState(name, cost, searcher_for(space, seed + offset), dict(base), len(starting_points(space)))
        for offset, (name, (cost, space, base)) in enumerate(learners.items())
    ]
    search = _Search(states, fit, metric, random.Random(seed), clock, reserve)
    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="automl") as pool:
        while True:
            while len(search.running) < at_once and (max_trials is None or search.count < max_trials):
                if not search.start_one(pool, budget_seconds):
                    break
            if not search.running:
                break
            done, _ = wait(list(search.running), return_when=FIRST_COMPLETED)
            for future in done:
                search.finish(future)
    if not search.results and search.failures:
        raise search.failures[0]
    return sorted(search.results, key=lambda r: r.index), clock() - search.started_at


class _Search:
    """The running state of :func:`run_automl`: the learners, the trials running, the results."""

    def __init__(
        self,
        states: list[LearnerState],
        fit: Callable[[Proposal], Any],
        metric: str,
        rng: random.Random,
        clock: Callable[[], float],
        reserve: Callable[[Sequence[Any]], float] | None,
    ):
        self.states, self.fit, self.metric, self.rng = states, fit, metric, rng
        self.clock, self.reserve = clock, reserve
        self.lock = threading.Lock()
        self.results: list[Any] = []
        self.failures: list[ModelTrainingError] = []
        self.running: dict[Future, tuple[LearnerState, str, Proposal]] = {}
        self.started_at = clock()
        self.count = 0

    def start_one(self, pool: ThreadPoolExecutor, budget_seconds: float) -> bool:
        """Start the next trial, or say (False) that none may start now."""
        while True:
            elapsed = self.clock() - self.started_at
            time_left = budget_seconds - elapsed - (self.reserve(self.results) if self.reserve else 0.0)
            if time_left <= 0:
                return False
            with self.lock:
                state = choose_learner(self.states, time_left, self.rng)
                if state is None:
                    return False
                trial_id = f"{state.name}-{self.count}"
                config = state.searcher.suggest(trial_id)
                if config is None:  # a point seen before: ask again, up to a limit
                    state.empty_in_a_row += 1
                    state.exhausted = state.empty_in_a_row >= EMPTY_TO_DROP
                    continue
                state.empty_in_a_row = 0
                state.running += 1
                state.proposed += 1
            proposal = Proposal(self.count, state.name, {**state.base, **config}, dict(config), elapsed)
            self.running[pool.submit(self.fit, proposal)] = (state, trial_id, proposal)
            self.count += 1
            return True

    def finish(self, future: Future) -> None:
        """Record a finished trial; a failed one counts against its learner, any other error stops."""
        state, trial_id, proposal = self.running.pop(future)
        state.running -= 1
        try:
            result = future.result()
        except ModelTrainingError as error:
            self.failures.append(error)
            state.failures_in_a_row += 1
            state.exhausted = state.failures_in_a_row >= FAILURES_TO_DROP
            state.searcher.on_trial_complete(trial_id, None, error=True)
            log.info("automl: trial %d (%s) failed: %s", proposal.index, state.name, error)
            return
        except BaseException:
            for other in self.running:
                other.cancel()
            raise
        loss = loss_of(self.metric, result.metric)
        state.failures_in_a_row = 0
        state.record(loss, result.seconds)
        state.searcher.on_trial_complete(
            trial_id,
            {
                "loss": loss if math.isfinite(loss) else 1e12,
                "config": proposal.searched,
                # Ray Tune's flattened form, which CFO reads a candidate start point from
                **{f"config/{name}": value for name, value in proposal.searched.items()},
            },
        )
        self.results.append(result)


def as_ranges(space: Mapping[str, Dimension | Choice]) -> dict[str, Scalar | str]:
    """A space written out for the record: ``low..high`` (log) or the choices."""
    return {
        name: (
            "|".join(str(v) for v in d.values)
            if isinstance(d, Choice)
            else f"{d.low:g}..{d.high:g}{' log' if d.log else ''}"
        )
        for name, d in space.items()
    }
