"""Gold tables built by their builders (gold.yml)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from lakehouse.config.section import Section

# Gold business tables (gold.yml): a project declares its own; none declared, none built.
BUILDER_REFERENCE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class GoldTableSettings(Section):
    """A gold business table (``gold.tables.<name>``), stored as ``gold.<name>`` and brought up to
    date from its sources by ``gold_features`` with the function ``builder`` names."""

    comment: str = Field(min_length=1, description="The table's comment: what one row is.")
    sources: list[str] = Field(min_length=1, description="The tables it is built from, <layer>.<table>.")
    key: list[str] = Field(min_length=1, description="The key columns: one row per key.")
    zorder_by: list[str] = Field(
        default_factory=list, description="Columns OPTIMIZE Z-orders by after each write; default: the key."
    )
    builder: str = Field(
        pattern=BUILDER_REFERENCE, description="The function that builds it: package.module:function."
    )
    mode: Literal["full", "incremental"] = Field(
        default="full",
        description="full: builder({table: DataFrame}) returns the rows, and the table is overwritten "
        "whenever a source changed; incremental: builder(store, table, current, changes) writes only "
        "what the sources' changes since the last run touched.",
    )

    @field_validator("sources")
    @classmethod
    def _table_names(cls, value: list[str]) -> list[str]:
        wrong = [name for name in value if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", name)]
        if wrong:
            raise ValueError(f"{wrong}: expected <layer>.<table> names such as silver.orders")
        return value


class GoldSettings(Section):
    """Gold business tables (``gold:``, conf/base/gold.yml), built by ``gold_features``."""

    tables: dict[str, GoldTableSettings] = Field(default_factory=dict)
