"""The declaration of a table: schema, key, partitioning, comments, properties, drift policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pyspark.sql.types import StructType

DriftPolicy = Literal["evolve", "fail"]


@dataclass(frozen=True)
class TableSpec:
    """What a table is, independent of where it lives.

    Attributes:
        name: ``<layer>.<name>``.
        schema: the columns; a field's ``metadata["comment"]`` becomes its column comment.
        key: the columns that identify a row (the grain of the table); empty for raw,
            append-only tables (bronze), whose rows have no business key yet.
        partition_by: partition columns, if any.
        comment: the table comment.
        properties: Delta table properties (``delta.*`` or your own).
        drift: ``evolve`` adds new nullable columns on write; ``fail`` refuses them with
            :class:`~lakehouse.errors.SchemaDriftError`.
    """

    name: str
    schema: StructType
    key: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    comment: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    drift: DriftPolicy = "fail"

    def __post_init__(self) -> None:
        if not isinstance(self.schema, StructType):
            raise TypeError(
                f"table {self.name}: schema must be a StructType, got {type(self.schema).__name__}"
            )
        if self.drift not in ("evolve", "fail"):
            raise ValueError(f"table {self.name}: drift must be 'evolve' or 'fail', got {self.drift!r}")
        columns = set(self.schema.fieldNames())
        for kind, names in (("key", self.key), ("partition_by", self.partition_by)):
            unknown = [name for name in names if name not in columns]
            if unknown:
                raise ValueError(f"table {self.name}: {kind} columns {unknown} are not in the schema")
