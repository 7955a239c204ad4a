"""Where tables and files live: table names, storage locations, catalog registration, Azure auth."""

from lakehouse.storage.layout import StorageLayout, TableLocation, TableName

__all__ = ["StorageLayout", "TableLocation", "TableName"]
