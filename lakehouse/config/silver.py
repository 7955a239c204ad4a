"""Silver tables: columns, keys, history (silver.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from lakehouse.config.section import Section
from lakehouse.config.sources import is_column_type

TextStep = Literal["trim", "lower", "upper", "collapse_spaces", "digits", "empty_as_null"]


class SilverColumnSettings(Section):
    """One column of a silver table (``silver.tables.<table>.columns.<name>``)."""

    source: str | None = Field(
        default=None,
        description="Bronze column it comes from; default: the name itself (bronze names are "
        "snake_cased first, so `OrderTS` is `order_ts`).",
    )
    type: str | None = Field(default=None, description="Spark SQL type to cast to; default: as in bronze.")
    required: bool = Field(
        default=True, description="false: null while bronze lacks the column (one a later drop adds)."
    )
    normalise: list[TextStep] = Field(
        default_factory=list, description="Text steps in order (every text column is trimmed, '' -> null)."
    )
    pii: Literal["hash", "mask"] | None = Field(
        default=None,
        description="hash: salted SHA-256 (joinable, not readable); mask: all but keep_last as *.",
    )
    keep_last: int = Field(default=4, ge=0, description="Characters a mask leaves readable.")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and not is_column_type(value):
            raise ValueError(f"unknown column type {value!r} (e.g. bigint, string, decimal(12,2), timestamp)")
        return value


class SilverTableSettings(Section):
    """One silver table built from one bronze table (``silver.tables.<name>``)."""

    source: str = Field(pattern=r"^bronze\.[a-z_][a-z0-9_]*$", description="The bronze table, bronze.<name>.")
    description: str | None = None
    enabled: bool = True
    key: list[str] = Field(min_length=1, description="The business key: one row per key in silver.")
    order_by: str | None = Field(default=None, description="Among rows of one key, the greatest wins.")
    history: Literal["latest", "scd2"] = Field(
        default="latest", description="latest: one row per key (upsert); scd2: every version, valid_from/to."
    )
    partition_by: list[str] = Field(default_factory=list)
    columns: dict[str, SilverColumnSettings | None] = Field(min_length=1)

    @model_validator(mode="after")
    def _columns_known(self) -> SilverTableSettings:
        named = {"key": self.key, "partition_by": self.partition_by}
        if self.order_by:
            named["order_by"] = [self.order_by]
        for key, names in named.items():
            unknown = [name for name in names if name not in self.columns]
            if unknown:
                raise ValueError(f"{key}: {unknown} not among the table's columns {list(self.columns)}")
        if self.history == "scd2" and not self.order_by:
            raise ValueError("history scd2 needs order_by: the column that tells when a row changed")
        return self

    def column(self, name: str) -> SilverColumnSettings:
        return self.columns[name] or SilverColumnSettings()


class SilverSettings(Section):
    """How ``silver_refine`` conforms bronze tables into silver tables (``silver:``)."""

    pii_salt: SecretStr | None = Field(
        default=None, description="Salt of PII hashes; from the environment only (LAKEHOUSE_PII_SALT)."
    )
    tables: dict[str, SilverTableSettings] = Field(default_factory=dict)
