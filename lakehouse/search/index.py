"""The approximate index of an embedding table: FAISS HNSW over the table's vectors.

An index reflects one Delta version of its table. It is stored under the lakehouse's files
(``indexes/<table>/v<version>/``: ``index.faiss``, ``rows.parquet`` with each vector's
document, chunk, hashes, text and metadata, the keyword index's ``bm25.*`` files, and
``manifest.json``), and ``indexes/<table>/CURRENT`` names the version readers use; it moves only
once a new version is written whole. A hit is answered from the index's files alone: no Spark.

A refresh reads which chunks the table gained or lost since the index's version: the new ones
are added to the graph, the gone ones are marked deleted (HNSW cannot remove a vector) and left
out of every search through FAISS's ID selector. Once a ``rebuild_deleted_share`` of the vectors
are deleted, or the model changed, the index is built again from scratch.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import faiss
import numpy as np
import pandas as pd

from lakehouse.config.embeddings import KeywordSettings, VectorIndexSettings
from lakehouse.errors import VectorSearchError
from lakehouse.search.exact import best_documents
from lakehouse.search.keyword import KeywordIndex

IDENTITY = ["document_id", "chunk_id", "content_hash", "document_hash"]
TEXT = ["chunk_text", "title"]  # what a hit returns besides its metadata ("title": when the table has one)
QUANTISED_FROM = 10_000  # vectors from which the graph is built on 8-bit copies (see _graph)
FORMAT = 2  # 1: no text, keyword index or column types in the files (built before search served)


@dataclass
class Manifest:
    """What an index holds and which table version it reflects."""

    table: str
    table_version: int
    model: str
    dimension: int
    vectors: int  # in the graph, deleted ones included
    deleted: int
    m: int
    ef_construction: int
    built_at: str
    refreshed_at: str
    builds: int = 1  # full builds so far
    refreshes: int = 0  # incremental refreshes since the last build
    metadata: list[str] = field(default_factory=list)
    format: int = 1
    schema: str = ""  # the Spark types (JSON) of document_id, chunk_id and the metadata: filters
    time_zone: str = ""  # the session time zone the rows' timestamps are local times of

    @property
    def live(self) -> int:
        return self.vectors - self.deleted


@dataclass(frozen=True)
class Hits:
    """The results of one query: positions in the index (-1: none), their scores, best first."""

    positions: np.ndarray
    scores: np.ndarray


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class VectorIndex:
    """An HNSW graph (inner product = cosine on normalised vectors) and the rows it indexes.

    Attributes:
        index: the FAISS ``IndexHNSWFlat``; position ``i`` is row ``i`` of ``rows``.
        rows: one row per vector: :data:`IDENTITY`, the chunk's text (and its document's title),
            the metadata columns, and ``deleted``.
        manifest: the version, model and sizes.
        keyword: the BM25 index of the same rows (None in indexes of format 1).
    """

    def __init__(
        self,
        index: faiss.IndexHNSWFlat,
        rows: pd.DataFrame,
        manifest: Manifest,
        keyword: KeywordIndex | None = None,
    ):
        self.index = index
        self.rows = rows.reset_index(drop=True)
        self.manifest = manifest
        self.keyword = keyword
        self._deleted = self.rows["deleted"].to_numpy(dtype=bool)
        self._by_document: dict[Any, np.ndarray] | None = None

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        rows: pd.DataFrame,
        settings: VectorIndexSettings,
        table: str,
        table_version: int,
        model: str,
        threads: int | None = None,
        keyword: KeywordSettings | None = None,
        schema: str = "",
        time_zone: str = "",
    ) -> VectorIndex:
        """Build the graph of ``vectors`` (row ``i`` describes vector ``i``) and the keyword index
        of the rows' text.

        Args:
            schema: the Spark types (``StructType.json()``) of the rows' filterable columns.
            time_zone: the time zone the rows' timestamps are local times of.
        """
        vectors = _matrix(vectors)
        index = _graph(vectors, settings, threads)
        rows = rows.reset_index(drop=True).assign(deleted=False)
        now = _now()
        metadata = [c for c in rows.columns if c not in (*IDENTITY, *TEXT, "deleted")]
        manifest = Manifest(
            table, table_version, model, vectors.shape[1], len(rows), 0, settings.m, settings.ef_construction,
            now, now, metadata=metadata, format=FORMAT, schema=schema, time_zone=time_zone,
        )  # fmt: skip
        built = cls(index, rows, manifest)
        built.index_keywords(keyword or KeywordSettings())
        return built

    def refresh(
        self,
        vectors: np.ndarray,
        rows: pd.DataFrame,
        removed: np.ndarray,
        table_version: int,
        threads: int | None = None,
        keyword: KeywordSettings | None = None,
    ) -> None:
        """Add ``vectors`` (described by ``rows``), mark the positions ``removed`` deleted, and index
        the keywords of the live rows again (BM25's statistics are the whole corpus's)."""
        if len(vectors):
            _add(self.index, _matrix(vectors, self.manifest.dimension), threads)
            added = rows.reset_index(drop=True).assign(deleted=False)
            self.rows = pd.concat([self.rows, added[self.rows.columns]], ignore_index=True)
        self.rows.loc[removed, "deleted"] = True
        self._deleted = self.rows["deleted"].to_numpy(dtype=bool)
        self._by_document: dict[Any, np.ndarray] | None = None
        self.manifest.vectors = len(self.rows)
        self.manifest.deleted = int(self._deleted.sum())
        self.manifest.table_version = table_version
        self.manifest.refreshed_at = _now()
        self.manifest.refreshes += 1
        self.index_keywords(keyword or (self.keyword.settings if self.keyword else KeywordSettings()))

    def index_keywords(self, settings: KeywordSettings) -> None:
        """(Re)build the keyword index over the live rows' title and text."""
        text = self.rows["chunk_text"].fillna("").astype(str)
        if "title" in self.rows:
            text = self.rows["title"].fillna("").astype(str) + "\n\n" + text
        self.keyword = KeywordIndex.build(text.where(~self._deleted, "").tolist(), settings)

    def positions_of(self, document: Any) -> np.ndarray:
        """The live positions of one document's chunks."""
        if self._by_document is None:
            live = self.rows.loc[~self._deleted, "document_id"]
            groups = live.groupby(live, sort=False).groups
            self._by_document = {_key(d): np.asarray(p, dtype=np.int64) for d, p in groups.items()}
        return self._by_document.get(_key(document), np.zeros(0, np.int64))

    def live_identity(self) -> pd.DataFrame:
        """:data:`IDENTITY` of the vectors not deleted, with their ``position``."""
        live = self.rows.loc[~self._deleted, IDENTITY]
        return live.assign(position=live.index.to_numpy())

    def search(
        self,
        queries: np.ndarray,
        k: int,
        ef_search: int,
        allowed: np.ndarray | None = None,
        exact_below: int = 0,
    ) -> list[Hits]:
        """The ``k`` best documents (a document's best chunk) for each query.

        Args:
            allowed: a boolean mask over positions (a metadata filter); deleted vectors are
                always left out.
            exact_below: when a filter allows fewer positions than this, score them all exactly
                (a graph search through a sparse filter loses recall).
        """
        queries = _matrix(queries, self.manifest.dimension)
        mask = self._live(allowed)
        count = int(mask.sum())
        if count == 0:
            return [_NONE for _ in queries]
        documents = self.rows["document_id"].to_numpy()
        if allowed is not None and count < exact_below:
            positions = np.flatnonzero(mask)
            scores = queries @ self.index.reconstruct_batch(positions).T
            return [self._hits(positions, row, documents, k) for row in scores]
        parameters = faiss.SearchParametersHNSW()
        # a filter hides most of the graph's neighbours: look wider, in proportion (up to 16x)
        parameters.efSearch = int(max(ef_search, k) * min(len(mask) / count, 16))
        if count < len(mask):
            parameters.sel = faiss.IDSelectorBitmap(np.packbits(mask, bitorder="little"))
        # a document may own several chunks: ask for more until k documents come back
        wanted = k
        while True:
            scores, positions = self.index.search(queries, min(wanted, count), params=parameters)
            hits = [
                self._hits(p[p >= 0], s[p >= 0], documents, k) for p, s in zip(positions, scores, strict=True)
            ]
            if all(len(h.positions) == min(k, count) for h in hits) or wanted >= count:
                return hits
            wanted *= 4
            parameters.efSearch = max(parameters.efSearch, wanted)

    def keyword_search(self, texts: list[str], k: int, allowed: np.ndarray | None = None) -> list[Hits]:
        """The ``k`` best documents by BM25 (a document's best chunk) for each text; only
        documents sharing a term with the text are returned."""
        if self.keyword is None:
            raise VectorSearchError(
                f"the index of {self.manifest.table} has no keyword index (built before keyword "
                "search existed): run `lakehouse run build_index`"
            )
        mask = self._live(allowed)
        documents = self.rows["document_id"].to_numpy()
        found = []
        for text in texts:
            scores = self.keyword.scores(text)
            positions = np.flatnonzero(mask & (scores > 0))
            found.append(self._hits(positions, scores[positions], documents, k) if len(positions) else _NONE)
        return found

    def _live(self, allowed: np.ndarray | None) -> np.ndarray:
        """The positions a search may return: not deleted, and ``allowed`` by a filter."""
        return ~self._deleted if allowed is None else (allowed & ~self._deleted)

    @staticmethod
    def _hits(positions: np.ndarray, scores: np.ndarray, documents: np.ndarray, k: int) -> Hits:
        chosen, values = best_documents(scores, documents[positions], k)
        return Hits(positions[chosen], values)

    # storage: bytes in, bytes out; the caller writes them where the lakehouse keeps files
    def to_files(self) -> dict[str, bytes]:
        """The index as ``{file name: content}``: ``index.faiss``, ``rows.parquet``, ``manifest.json``."""
        buffer = io.BytesIO()
        self.rows.to_parquet(buffer, index=False)
        return {
            "index.faiss": faiss.serialize_index(self.index).tobytes(),
            "rows.parquet": buffer.getvalue(),
            **(self.keyword.to_files() if self.keyword else {}),
            "manifest.json": json.dumps(asdict(self.manifest), indent=2).encode(),
        }

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> VectorIndex:
        manifest = Manifest(**json.loads(files["manifest.json"]))
        keyword = KeywordIndex.from_files(files) if manifest.format >= 2 else None
        index = faiss.deserialize_index(np.frombuffer(files["index.faiss"], dtype=np.uint8))
        rows = pd.read_parquet(io.BytesIO(files["rows.parquet"]))
        if index.ntotal != len(rows) or index.d != manifest.dimension:
            raise VectorSearchError(
                f"index of {manifest.table}: {index.ntotal} vectors of dimension {index.d}, but "
                f"{len(rows)} rows and dimension {manifest.dimension} in its files; rebuild it"
            )
        return cls(index, rows, manifest, keyword)


_NONE = Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))


def _key(document: Any) -> Any:
    return document.item() if isinstance(document, np.generic) else document


def _matrix(vectors: np.ndarray, dimension: int | None = None) -> np.ndarray:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or (dimension is not None and matrix.shape[1] != dimension):
        raise VectorSearchError(f"expected vectors of dimension {dimension}, got shape {matrix.shape}")
    return matrix


def _graph(vectors: np.ndarray, settings: VectorIndexSettings, threads: int | None) -> faiss.IndexHNSWFlat:
    """The HNSW graph of ``vectors`` over their full-precision copies.

    From ``QUANTISED_FROM`` vectors on, the graph is built on 8-bit scalar-quantised copies (per
    dimension, its range learnt from the vectors), then copied onto full-precision storage, so a
    search still ranks by the exact inner products. Measured at 1M x 384 (M 32, efConstruction
    200, ``benchmarks/vector_search.py``): 564 s instead of 791 s, recall@10 0.992 against 0.986.
    Fewer bits, or a 96-dimension projection, built no faster: what is left is FAISS's work per
    comparison, set by M and efConstruction. Below ``QUANTISED_FROM`` the graph is built at full
    precision (a few seconds at most, and the quantiser needs vectors to learn its ranges from).
    """
    dimension = vectors.shape[1]
    index = faiss.IndexHNSWFlat(dimension, settings.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = settings.ef_construction
    if len(vectors) < QUANTISED_FROM:
        _add(index, vectors, threads)
        return index
    eight_bit = faiss.ScalarQuantizer.QT_8bit
    quantised = faiss.IndexHNSWSQ(dimension, eight_bit, settings.m, faiss.METRIC_INNER_PRODUCT)
    quantised.hnsw.efConstruction = settings.ef_construction
    quantised.train(vectors)
    _add(quantised, vectors, threads)
    index.hnsw = quantised.hnsw  # a copy of the graph (levels, neighbours, entry point, settings)
    faiss.downcast_index(index.storage).add(vectors)
    index.ntotal = len(vectors)
    return index


def _add(index: faiss.Index, vectors: np.ndarray, threads: int | None) -> None:
    """Add ``vectors`` on ``threads`` OpenMP threads (FAISS inserts a batch's vectors in parallel)."""
    previous = faiss.omp_get_max_threads()
    if threads:
        faiss.omp_set_num_threads(threads)
    try:
        index.add(vectors)
    finally:
        faiss.omp_set_num_threads(previous)
