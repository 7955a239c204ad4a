"""The ``search_examples`` job: run the example searches of ``embeddings.examples`` and print the hits."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from lakehouse.config.serve import ServeSettings
from lakehouse.errors import ConfigError
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job
from lakehouse.search.api import Searcher, format_result


@dataclass(frozen=True)
class SearchExamplesParams:
    width: int = 100  # characters of text shown per hit


class SearchExamplesJob(Job):
    name = "search_examples"
    summary = "Run the example searches of embeddings.yml (examples:) and print their hits."
    Params = SearchExamplesParams

    def run(self, context: JobContext) -> None:
        examples = context.config.embeddings.examples
        if not examples:
            raise ConfigError("embeddings.examples (embeddings.yml): no example searches declared")
        searchers: dict[str, Searcher] = {}
        for index, example in enumerate(examples):
            name = example.embeddings
            if name not in searchers:
                searchers[name] = Searcher(context.config, name, context.spark)
            [result] = searchers[name].search(example.query, example.k, example.filters or None)
            print(format_result(result, context.params.width))
            for note in result.notes:
                context.log.warning("example %d (%s): %s", index, result.table, note)
            if result.hits:
                context.metrics[f"example_{index}.top_score"] = round(result.hits[0].score, 4)
        print(serve_hint(context.config.serve, examples[0].embeddings, examples[0].query))


def serve_hint(settings: ServeSettings, table: str, query: str) -> str:
    """How to serve the tables over HTTP, with one ``curl`` search."""
    body = json.dumps({"query": query, "k": 5, "mode": "hybrid"})
    url = f"http://{settings.host}:{settings.port}/v1/tables/{table}/search"
    return (
        "\nServe these tables over HTTP, without Spark: `make serve` (or `lakehouse serve`), then\n"
        f"  curl -s {url} -H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )
