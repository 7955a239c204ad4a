"""Settings of the search service, ``lakehouse serve`` (``serve:`` in ``conf/<env>/serve.yml``).

API keys are never configuration: ``api_key_variables`` names the environment variables that
hold them, and the service reads those variables when it starts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ServeSettings(BaseModel):
    """The HTTP search service over the embedding tables (``serve:``)."""

    # the same rules as lakehouse.config.model.Section (frozen, unknown keys refused); that module
    # imports this one for LakehouseConfig.serve, so it cannot be imported from here
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on; 127.0.0.1 keeps the service on this machine (loopback).",
    )
    port: int = Field(default=8765, ge=1, le=65535)
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes, each with its own copy of the model and indexes (metrics are summed).",
    )
    tables: list[str] = Field(
        default_factory=list,
        description="Tables of embeddings.tables to serve; empty: all but those set `enabled: false`.",
    )
    max_k: int = Field(default=50, ge=1, le=1000, description="The largest k a request may ask for.")
    max_query_chars: int = Field(default=1000, ge=1, description="The longest query text, in characters.")
    max_body_bytes: int = Field(
        default=65536, ge=256, description="The largest request body; larger ones get 413."
    )
    max_tokens: int = Field(
        default=4096, ge=16, description="The largest max_tokens a context request may ask for."
    )
    default_context_tokens: int = Field(
        default=512, ge=16, description="max_tokens of a context request that gives none."
    )
    reload_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often each table's index pointer (CURRENT) and Delta version are checked.",
    )
    search_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Searches run at once per process (embedding, FAISS, BM25 are CPU-bound): ~cores.",
    )
    api_key_variables: list[str] = Field(
        default_factory=lambda: ["LAKEHOUSE_SERVE_API_KEYS"],
        description=(
            "Environment variables holding API keys (comma-separated); when any is set and non-empty, "
            "every /v1 request needs `Authorization: Bearer <key>`."
        ),
    )

    @model_validator(mode="after")
    def _context_tokens_within_cap(self) -> ServeSettings:
        if self.default_context_tokens > self.max_tokens:
            raise ValueError(
                f"default_context_tokens ({self.default_context_tokens}) is above max_tokens "
                f"({self.max_tokens})"
            )
        return self
