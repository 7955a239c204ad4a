"""The ``embed_documents`` job: bring the embedding tables of embeddings.yml up to date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.embeddings.build import embed_table
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each


@dataclass(frozen=True)
class EmbedDocumentsParams:
    table: str = "all"  # an embedding table of embeddings.yml, a comma-separated list, or all
    full_refresh: bool = False  # embed every chunk again, even those already embedded by this model


class EmbedDocumentsJob(Job):
    name = "embed_documents"
    summary = "Embed new and changed documents of silver tables into gold.<name>_embeddings."
    Params = EmbedDocumentsParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``table`` picks embedding tables of embeddings.yml."""
        return {"table": embedding_tables(config)}

    @classmethod
    def exclusive(cls, config: LakehouseConfig, params: Any) -> list[str]:
        """Each embedding table picked: one embedding run of a table at a time."""
        return [config.embeddings.table(name) for name in cls.selected(config, params, "table")]

    def run(self, context: JobContext) -> None:
        params = context.params
        names = self.selected(context.config, params, "table")
        for_each(
            names,
            lambda name: embed_table(context.tables, context.config.embeddings, name, params.full_refresh),
            context.log,
            "embedding table",
            "embedding tables",
        )


def embedding_tables(config: LakehouseConfig) -> Choices:
    """The embedding tables of embeddings.yml, by name (``tickets``) or table (``gold.tickets_embeddings``).

    Args:
        config: the environment's configuration.

    Returns:
        The choices of a job parameter naming embedding tables; ``all`` picks the enabled ones.
    """
    embeddings = config.embeddings
    aliases = {embeddings.table(name): name for name in embeddings.tables}
    enabled = [name for name, table in embeddings.tables.items() if table.enabled]
    return Choices.of(
        list(embeddings.tables), "embeddings.tables (embeddings.yml)", "gold.", aliases, everything=enabled
    )
