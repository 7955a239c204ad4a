"""What one source's ingest reports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IngestResult:
    """What one source's ingest did.

    Attributes:
        rows: rows appended to the table by this run.
        files: files read (for a file source).
        malformed: rows of this run kept in ``_corrupt_record`` (lines that did not parse).
        new_columns: columns added to the table by this run (drift policy ``evolve``).
        detail: what was read, e.g. the watermark range of a database source.
        rejected: files set aside in ``ops.rejected_files`` by this run (relative path -> reason).
    """

    source: str
    table: str
    rows: int = 0
    files: int = 0
    malformed: int = 0
    new_columns: list[str] = field(default_factory=list)
    detail: str = ""
    rejected: dict[str, str] = field(default_factory=dict)
