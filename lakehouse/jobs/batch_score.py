"""The ``batch_score`` job: score the newest feature rows with each model's production version."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.models.batch import score_batch
from lakehouse.models.registry import ModelRegistry
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, date_range, for_each


@dataclass(frozen=True)
class BatchScoreParams:
    model: str = "all"  # a model of models.yml, a comma-separated list, or all
    start: str = ""  # first as-of date to score (YYYY-MM-DD); empty with end empty: the newest date
    end: str = ""  # last as-of date to score
    version: int = 0  # score with this registered version instead of the production one (0)


class BatchScoreJob(Job):
    name = "batch_score"
    summary = "Score feature rows not yet scored by each production model into gold.<model>_predictions."
    Params = BatchScoreParams

    @classmethod
    def choices(cls, config, params) -> dict[str, Choices]:
        """``model`` picks models of models.yml."""
        return {"model": Choices.of(list(config.models.models), "models.models (models.yml)")}

    @classmethod
    def check(cls, config, params) -> None:
        """Also refuse start and end dates that are not dates or not in order."""
        super().check(config, params)
        date_range(params.start, params.end)

    def run(self, context: JobContext) -> None:
        params = context.params
        models = context.config.models.models
        names = self.selected(context.config, params, "model")
        start, end = date_range(params.start, params.end)
        registry = ModelRegistry(context.config)
        for_each(
            names,
            lambda name: score_batch(
                context.tables,
                context.config,
                context.run_id,
                name,
                models[name],
                registry,
                start,
                end,
                params.version or None,
            ),
            context.log,
            "model",
            "models",
        )
