"""Search an embedding table by text: ``search("parcel was crushed", k=5, filters={...})``.

Three modes: ``vector`` (the query's embedding against the chunks', FAISS HNSW), ``keyword``
(BM25 over the chunks' words) and ``hybrid`` (both lists fused by Reciprocal Rank Fusion). A
table with an index is searched from the index's files alone, with no SparkSession: the query is
embedded in this process, and the index holds each chunk's text and metadata. ``exact=True``
scores every vector with Spark instead. An index built from an older version of the table still
answers, and the result says it is stale.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import LakehouseConfig
from lakehouse.display import text_table
from lakehouse.embeddings.queries import load_query_encoder
from lakehouse.errors import IndexUnreadableError, VectorSearchError
from lakehouse.io import objects
from lakehouse.io.delta_store import DeltaStore
from lakehouse.search import context as grounding
from lakehouse.search import filters as filtering
from lakehouse.search.exact import exact_search
from lakehouse.search.fusion import reciprocal_rank_fusion
from lakehouse.search.index import FORMAT, VectorIndex
from lakehouse.search.storage import current_version, index_location, load_index
from lakehouse.storage.layout import StorageLayout

MODES = ("vector", "keyword", "hybrid")


@dataclass(frozen=True)
class Hit:
    """One document found: its best chunk, the chunk's text and metadata.

    Attributes:
        score: cosine similarity (vector), BM25 score (keyword) or fused RRF score (hybrid).
        vector_rank, keyword_rank: the document's rank in each list of a hybrid search (None:
            not in that list's top ``embeddings.search.fusion.depth``).
    """

    rank: int
    document_id: Any
    chunk_id: int
    score: float
    text: str
    metadata: dict[str, Any]
    title: str | None = None
    vector_rank: int | None = None
    keyword_rank: int | None = None


@dataclass
class SearchResult:
    """The hits of one query, best first, and how they were found.

    Attributes:
        method: ``index`` or ``exact``.
        mode: ``vector``, ``keyword`` or ``hybrid``.
        table_version: the table's latest Delta version when searched.
        index_version: the table version the index (and so the hits' text) reflects.
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
    mode: str = "vector"


@dataclass
class ContextResult:
    """Passages to ground a language model's answer to ``query``, best first, within ``max_tokens``.

    Every passage's text comes from ``table`` at version ``index_version``: cite it with the
    passage's ``document_id`` and ``chunk_ids``.
    """

    query: str
    table: str
    table_version: int
    index_version: int
    stale: bool
    mode: str
    max_tokens: int
    tokens: int
    passages: list[grounding.Passage]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableStatus:
    table: str
    table_version: int | None
    index_version: int | None  # the table version the index reflects
    index_folder: str | None  # e.g. v000003
    model: str
    rows: int
    stale: bool | None
    problem: str | None


@dataclass(frozen=True)
class _Loaded:
    """One version of the index as a searcher holds it. A search reads it once, so a reload that
    swaps in another never mixes two versions in one answer."""

    index: VectorIndex | None
    folder: str | None
    problem: str | None  # why there is no usable index
    schema: T.StructType | None = None  # the filterable columns' types (the manifest's, parsed once)


class Searcher:
    """Searches one embedding table of ``embeddings.tables``; keeps its model and index loaded.

    Args:
        spark: used only by exact searches (and tables without an index); without one, an
            exact search builds the environment's session when first needed.
        preload_model: load the embedding model now (a service: ready once loaded); otherwise at
            the first search that embeds (a keyword search never does).
    """

    def __init__(
        self,
        config: LakehouseConfig,
        name: str,
        spark: SparkSession | None = None,
        preload_model: bool = True,
    ):
        embeddings = config.embeddings
        if name not in embeddings.tables:
            known = ", ".join(embeddings.tables) or "none"
            raise VectorSearchError(
                f"--table {name}: not in embeddings.tables (embeddings.yml); known: {known}"
            )
        self.config, self.name, self._spark, self._own_spark = config, name, spark, False
        self.table = embeddings.table(name)
        self.metadata = embeddings.tables[name].metadata
        self.model_settings = embeddings.model_of(name)
        self.settings = embeddings.search
        self.layout = StorageLayout.from_config(config)
        self.location = self.layout.table(self.table).location
        self.index_location = index_location(self.layout, self.table)
        self._version: tuple[float, int | None] = (-math.inf, None)
        self._reload_lock = threading.Lock()
        if self.table_version(fresh=True) is None:
            raise VectorSearchError(f"no table {self.table}: run `lakehouse run embed_documents` first")
        self.loaded = self._load(current_version(self.index_location))
        self._model = load_query_encoder(self.model_settings) if preload_model else None

    @property
    def model(self) -> Any:
        """The table's model as a query encoder (:mod:`lakehouse.embeddings.queries`; loaded on
        first use): ``encode(texts)`` and ``tokenizer``."""
        if self._model is None:
            self._model = load_query_encoder(self.model_settings)
        return self._model

    # --- keeping in step with the lakehouse -----------------------------------------------------
    def _load(self, folder: str | None) -> _Loaded:
        if folder is None:
            return _Loaded(None, None, f"no index of {self.table}")
        try:
            index = load_index(self.index_location, self.table, version=folder)
        except IndexUnreadableError as error:
            return _Loaded(None, folder, str(error))
        if index is None:
            return _Loaded(None, None, f"no index of {self.table}")
        if index.manifest.format < FORMAT:
            return _Loaded(None, folder, f"the index of {self.table} was built by an older version")
        if index.manifest.model != self.model_settings.name:
            return _Loaded(
                None, folder,
                f"the index was built with model {index.manifest.model}, the table's model is "
                f"{self.model_settings.name}",
            )  # fmt: skip
        return _Loaded(index, folder, None, T.StructType.fromJson(json.loads(index.manifest.schema)))

    def reload(self) -> bool:
        """Load the index ``CURRENT`` names if it moved; True when another version was swapped in.

        A version that cannot be read is not swapped in while a readable one is loaded (the
        next reload tries again).
        """
        with self._reload_lock:
            folder = current_version(self.index_location)
            if folder == self.loaded.folder:
                return False
            loaded = self._load(folder)
            if loaded.index is None and self.loaded.index is not None:
                return False
            self.loaded = loaded
            return True

    def table_version(self, fresh: bool = False) -> int | None:
        """The table's latest Delta version, read from its log at most every
        ``embeddings.search.version_check_seconds``."""
        checked, version = self._version
        now = time.monotonic()
        if fresh or now - checked >= self.settings.version_check_seconds:
            version = objects.delta_version(self.location)
            self._version = (now, version)
        return version

    @property
    def index(self) -> VectorIndex | None:
        """The index searched now (None: searches run exactly)."""
        return self.loaded.index

    def status(self) -> TableStatus:
        loaded, version = self.loaded, self.table_version()
        index = loaded.index
        indexed = index.manifest.table_version if index else None
        return TableStatus(
            self.table, version, indexed, loaded.folder, self.model_settings.name,
            index.manifest.live if index else 0,
            None if index is None or version is None else indexed < version, loaded.problem,
        )  # fmt: skip

    # --- searching --------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts))

    def search(
        self,
        texts: str | Sequence[str],
        k: int = 5,
        filters: filtering.Filters = None,
        exact: bool = False,
        mode: str | None = None,
    ) -> list[SearchResult]:
        """The ``k`` best documents for each text (a document counts once, by its best chunk).

        Args:
            mode: ``vector``, ``keyword`` or ``hybrid``; None: ``embeddings.search.mode``.
            exact: score every vector with Spark (vector mode only).
        """
        return self._search(self.loaded, texts, k, filters, exact, mode)

    def _search(self, loaded: _Loaded, texts, k, filters, exact, mode, queries=None) -> list[SearchResult]:
        """``queries``: the texts' vectors when the caller embedded them already."""
        named, mode = mode is not None, self._mode(mode)
        if k < 1:
            raise VectorSearchError(f"k must be at least 1, got {k}")
        texts = [texts] if isinstance(texts, str) else list(texts)
        conditions = filtering.parse(filters)
        filtering.check_columns(conditions, ["document_id", "chunk_id", *self.metadata], self.table)
        index = loaded.index
        if exact or index is None:
            if not named:  # the configured mode gives way: exact scores vectors
                mode = "vector"
            if mode != "vector":
                raise VectorSearchError(
                    f"{mode} search of {self.table} needs its index"
                    + (f" ({loaded.problem}): run `lakehouse run build_index`" if not exact else "")
                    + ("; --exact scores vectors only (mode vector)" if exact else "")
                )
            notes = [] if exact else [f"{loaded.problem}: searched exactly; run `lakehouse run build_index`"]
            return self._exact(texts, k, conditions, notes)
        version = self.table_version() or index.manifest.table_version
        conditions = filtering.typed(conditions, loaded.schema, index.manifest.time_zone, self.table)
        allowed = filtering.to_mask(conditions, index.rows) if conditions else None
        ranked = self._ranked(index, texts, k, allowed, mode, queries)
        stale = index.manifest.table_version < version
        notes = [self._stale_note(index, version)] if stale else []
        return [
            SearchResult(
                text, self.table, "index", version, index.manifest.table_version,
                [self._hit(index, rank, *entry) for rank, entry in enumerate(found, start=1)],
                stale, notes, mode,
            )
            for text, found in zip(texts, ranked, strict=True)
        ]  # fmt: skip

    def _mode(self, mode: str | None) -> str:
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise VectorSearchError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        return mode

    def _ranked(
        self,
        index: VectorIndex,
        texts: list[str],
        k: int,
        allowed: np.ndarray | None,
        mode: str,
        queries: np.ndarray | None = None,
    ) -> list[list[tuple[int, float, int | None, int | None]]]:
        """Per text: (position, score, vector rank, keyword rank) of its best documents."""
        fusion = self.settings.fusion
        depth = max(k, fusion.depth) if mode == "hybrid" else k
        vector = keyword = None
        if mode != "keyword":
            vector = index.search(
                self.embed(texts) if queries is None else queries, depth,
                self.config.embeddings.index.ef_search, allowed,
                self.config.embeddings.index.exact_below,
            )  # fmt: skip
        if mode != "vector":
            keyword = index.keyword_search(texts, depth, allowed)
        if mode != "hybrid":
            lists = vector if vector is not None else keyword
            own = (lambda r: (r, None)) if mode == "vector" else (lambda r: (None, r))
            return [
                [
                    (int(p), float(s), *own(r))
                    for r, (p, s) in enumerate(zip(h.positions, h.scores, strict=True), start=1)
                ]
                for h in lists
            ]
        documents = index.rows["document_id"].to_numpy()
        return [
            [(f.position, f.score, f.vector_rank, f.keyword_rank) for f in
             reciprocal_rank_fusion(v, w, documents, fusion, k)]
            for v, w in zip(vector, keyword, strict=True)
        ]  # fmt: skip

    def _hit(self, index: VectorIndex, rank: int, position: int, score: float, vrank, krank) -> Hit:
        row = index.rows.iloc[position]
        title = row.get("title")
        return Hit(
            rank, _plain(row["document_id"]), int(row["chunk_id"]), score, str(row["chunk_text"]),
            {c: _plain(row[c]) for c in self.metadata}, None if _missing(title) else str(title),
            vrank, krank,
        )  # fmt: skip

    def _stale_note(self, index: VectorIndex, version: int) -> str:
        return (
            f"stale index: it reflects {self.table} v{index.manifest.table_version}, the table is at "
            f"v{version}; later changes are missing. Run `lakehouse run build_index` or search "
            "with --exact"
        )

    # --- grounding context (RAG) ------------------------------------------------------------------
    def context(
        self,
        query: str,
        max_tokens: int = 512,
        k: int = 5,
        filters: filtering.Filters = None,
        mode: str | None = None,
        windows_per_document: int = 1,
    ) -> ContextResult:
        """Passages of the ``k`` best documents for grounding a prompt about ``query``, best first,
        at most ``windows_per_document`` windows each, within ``max_tokens`` model tokens.

        Raises:
            VectorSearchError: the table has no usable index, or a bad argument.
        """
        if max_tokens < 1 or windows_per_document < 1:
            raise VectorSearchError("max_tokens and windows_per_document must be at least 1")
        loaded = self.loaded  # the passages' text comes from the same version as the hits
        if loaded.index is None:
            raise VectorSearchError(
                f"context of {self.table} needs its index ({loaded.problem}): run `lakehouse run build_index`"
            )
        mode = self._mode(mode)
        vectors = self.embed([query]) if mode != "keyword" else None  # once: search and windows
        result = self._search(loaded, query, k, filters, False, mode, vectors)[0]
        index = loaded.index
        query_vector = vectors[0] if vectors is not None else None
        keyword_scores = index.keyword.scores(query) if mode == "keyword" else None
        passages = []
        for hit in result.hits:
            positions = index.positions_of(hit.document_id)
            if query_vector is not None:
                scores = index.index.reconstruct_batch(positions) @ query_vector
            else:
                scores = keyword_scores[positions]
            rows = index.rows
            chunks = [
                grounding.Chunk(int(rows.at[p, "chunk_id"]), str(rows.at[p, "chunk_text"]), float(s))
                for p, s in zip(positions, scores, strict=True)
            ]
            for ids, text, score in grounding.windows(chunks, windows_per_document):
                passages.append(
                    grounding.Passage(text, 0, hit.document_id, ids, score, hit.rank, hit.title, hit.metadata)
                )
        fitted = grounding.fit(passages, self.model.tokenizer, max_tokens)
        return ContextResult(
            query, self.table, result.table_version, index.manifest.table_version, result.stale, mode,
            max_tokens, sum(p.tokens for p in fitted), fitted, result.notes,
        )  # fmt: skip

    # --- the Spark path ---------------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from lakehouse.spark.session import build_session

            self._spark = build_session(self.config, app_name=f"lakehouse search {self.name}")
            self._own_spark = True
        return self._spark

    def close(self) -> None:
        """Stop the SparkSession this searcher started for an exact search, if it started one."""
        if self._own_spark and self._spark is not None:
            self._spark.stop()
            self._spark, self._own_spark = None, False

    def _exact(self, texts, k, conditions, notes) -> list[SearchResult]:
        store = DeltaStore(self.spark, self.layout)
        version = store.version(self.table)
        snapshot = store.read(self.table, version=version)
        if conditions:  # both paths compare the same typed values (or neither runs)
            time_zone = self.spark.conf.get("spark.sql.session.timeZone")
            conditions = filtering.typed(conditions, snapshot.schema, time_zone, self.table)
        queries = self.embed(texts)
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


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def _plain(value: Any) -> Any:
    """A value of the index's rows as a plain Python value (None for a missing one)."""
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
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
    mode: str | None = None,
) -> SearchResult:
    """Search ``embeddings.tables.<table>`` for the ``k`` documents best matching ``text``.

    Needs no SparkSession when the table has an index (``exact`` builds the environment's
    session unless ``spark`` is given); for many queries keep a :class:`Searcher`.
    """
    if config is None:
        from lakehouse.config import load_config

        config = load_config(env)
    return Searcher(config, table, spark).search(text, k, filters, exact, mode)[0]


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
