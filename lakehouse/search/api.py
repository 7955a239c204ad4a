"""Search an embedding table by text: ``search("parcel was crushed", k=5, filters={...})``.

The query is embedded on the driver with the table's model. By default the table's index
answers (FAISS HNSW, milliseconds); ``exact=True`` scores every vector with Spark instead. An
index built from an older version of the table still answers, and the result says it is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.display import text_table
from lakehouse.embeddings.model import load_model
from lakehouse.errors import IndexUnreadableError, VectorSearchError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.search import filters as filtering
from lakehouse.search.exact import exact_search
from lakehouse.search.index import VectorIndex
from lakehouse.search.storage import index_location, load_index
from lakehouse.storage.layout import StorageLayout


@dataclass(frozen=True)
class Hit:
    rank: int
    document_id: Any
    chunk_id: int
    score: float
    text: str
    metadata: dict[str, Any]


@dataclass
class SearchResult:
    """The hits of one query, best first, and how they were found.

    Attributes:
        method: ``index`` or ``exact``.
        stale: the index reflects an older version of the table than its latest.
        notes: why the method was chosen, staleness, and what to do about it.
    """

    query: str
    table: str
    method: str
    table_version: int
    index_version: int | None
    hits: list[Hit] = field(default_factory=list)
    stale: bool = False
    notes: list[str] = field(default_factory=list)


class Searcher:
    """Searches one embedding table of ``embeddings.tables``; keeps its index and model loaded."""

    def __init__(
        self, config: LakehouseConfig, spark: SparkSession, name: str, store: DeltaStore | None = None
    ):
        embeddings = config.embeddings
        if name not in embeddings.tables:
            known = ", ".join(embeddings.tables) or "none"
            raise VectorSearchError(
                f"--table {name}: not in embeddings.tables (embeddings.yml); known: {known}"
            )
        self.config, self.spark, self.name = config, spark, name
        self.table = embeddings.table(name)
        self.metadata = embeddings.tables[name].metadata
        self.model_settings = embeddings.model_of(name)
        layout = StorageLayout.from_config(config)
        self.store = store or DeltaStore(spark, layout)
        if not self.store.exists(self.table):
            raise VectorSearchError(f"no table {self.table}: run `lakehouse run embed_documents` first")
        self.unreadable: str | None = None  # why the index could not be loaded
        try:
            self.index: VectorIndex | None = load_index(spark, index_location(layout, self.table), self.table)
        except IndexUnreadableError as error:
            self.index, self.unreadable = None, str(error)
        self.model = load_model(self.model_settings)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True).astype(
            np.float32
        )

    def search(
        self,
        texts: str | Sequence[str],
        k: int = 5,
        filters: filtering.Filters = None,
        exact: bool = False,
    ) -> list[SearchResult]:
        """The ``k`` most similar documents for each text (a document counts once, by its best chunk)."""
        if k < 1:
            raise VectorSearchError(f"k must be at least 1, got {k}")
        texts = [texts] if isinstance(texts, str) else list(texts)
        conditions = filtering.parse(filters)
        filtering.check_columns(conditions, ["document_id", "chunk_id", *self.metadata], self.table)
        version = self.store.version(self.table)
        if conditions:  # both paths compare the same typed values (or neither runs)
            schema = self.store.read(self.table, version=version).schema
            time_zone = self.spark.conf.get("spark.sql.session.timeZone")
            conditions = filtering.typed(conditions, schema, time_zone, self.table)
        queries = self.embed(texts)
        notes: list[str] = []
        index = self.index
        if index is not None and index.manifest.model != self.model_settings.name:
            notes.append(
                f"the index was built with model {index.manifest.model}, the table's model is "
                f"{self.model_settings.name}: searched exactly; run `lakehouse run build_index`"
            )
            index = None
        elif index is None and not exact:
            notes.append(
                f"{self.unreadable}: searched exactly"
                if self.unreadable
                else f"no index of {self.table}: searched exactly; run `lakehouse run build_index`"
            )
        if exact or index is None:
            return self._exact(texts, queries, k, conditions, version, notes)
        stale = index.manifest.table_version < version
        if stale:
            notes.append(
                f"stale index: it reflects {self.table} v{index.manifest.table_version}, the table is at "
                f"v{version}; later changes are missing. Run `lakehouse run build_index` or search "
                "with --exact"
            )
        allowed = filtering.to_mask(conditions, index.rows) if conditions else None
        settings = self.config.embeddings.index
        found = index.search(queries, k, settings.ef_search, allowed, settings.exact_below)
        chosen = [
            (
                query,
                rank,
                _plain(index.rows.at[int(p), "document_id"]),
                int(index.rows.at[int(p), "chunk_id"]),
                float(s),
            )
            for query, hits in enumerate(found)
            for rank, (p, s) in enumerate(zip(hits.positions, hits.scores, strict=True), start=1)
        ]
        details = self._details(self.store.read(self.table, version=index.manifest.table_version), chosen)
        return [
            SearchResult(
                text, self.table, "index", version, index.manifest.table_version,
                [details[(q, r)] for q, r, *_ in chosen if q == number], stale, notes,
            )
            for number, text in enumerate(texts)
        ]  # fmt: skip

    def _exact(self, texts, queries, k, conditions, version, notes) -> list[SearchResult]:
        snapshot = self.store.read(self.table, version=version)
        found = exact_search(snapshot, queries, k, filtering.to_column(conditions)).collect()
        chosen = [(r.query, r.rank, r.document_id, r.chunk_id, float(r.score)) for r in found]
        details = self._details(snapshot, chosen)
        return [
            SearchResult(
                text, self.table, "exact", version, None,
                [details[(q, r)] for q, r, *_ in sorted(chosen) if q == number], False, notes,
            )
            for number, text in enumerate(texts)
        ]  # fmt: skip

    def _details(self, snapshot: DataFrame, chosen: list[tuple]) -> dict[tuple[int, int], Hit]:
        """Text and metadata of the chosen chunks, read from the table version searched."""
        if not chosen:
            return {}
        keys = self.spark.createDataFrame(
            sorted({(d, c) for _, _, d, c, _ in chosen}), snapshot.select("document_id", "chunk_id").schema
        )
        rows = (
            snapshot.join(F.broadcast(keys), ["document_id", "chunk_id"], "left_semi")
            .select("document_id", "chunk_id", "chunk_text", *self.metadata)
            .collect()
        )
        by_key = {(r.document_id, r.chunk_id): r for r in rows}
        return {
            (query, rank): Hit(
                rank, document, chunk, score, by_key[(document, chunk)].chunk_text,
                {c: by_key[(document, chunk)][c] for c in self.metadata},
            )
            for query, rank, document, chunk, score in chosen
        }  # fmt: skip


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value Spark accepts."""
    return value.item() if isinstance(value, np.generic) else value


def search(
    text: str,
    k: int = 5,
    filters: filtering.Filters = None,
    table: str = "tickets",
    env: str = "local",
    exact: bool = False,
    config: LakehouseConfig | None = None,
    spark: SparkSession | None = None,
) -> SearchResult:
    """Search ``embeddings.tables.<table>`` for the ``k`` documents most similar to ``text``.

    Builds the environment's session unless ``spark`` is given; for many queries keep a
    :class:`Searcher`.
    """
    if config is None:
        from lakehouse.config import load_config

        config = load_config(env)
    if spark is None:
        from lakehouse.spark.session import build_session

        spark = build_session(config, app_name=f"lakehouse search {table}")
    return Searcher(config, spark, table).search(text, k, filters, exact)[0]


def format_result(result: SearchResult, width: int = 100) -> str:
    """One search's hits as a text table under a heading (notes not included)."""
    version = f"index of v{result.index_version}" if result.method == "index" else "exact"
    heading = f'search {result.table} (v{result.table_version}, {version}): "{result.query}"'
    if not result.hits:
        return f"{heading}\n  no documents match"
    rows = [("RANK", "DOCUMENT", "CHUNK", "SCORE", "TEXT")]
    for hit in result.hits:
        text = " ".join(hit.text.split())
        text = text if len(text) <= width else text[: width - 3] + "..."
        rows.append((str(hit.rank), str(hit.document_id), str(hit.chunk_id), f"{hit.score:.4f}", text))
    return f"{heading}\n{text_table(rows)}"
