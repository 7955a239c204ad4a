"""Reading and writing lakehouse tables (all Delta I/O goes through here)."""

from lakehouse.io.delta_store import DeltaStore, TableSummary

__all__ = ["DeltaStore", "TableSummary"]
