"""lakehouse: Spark jobs that take raw data to medallion Delta tables, features, models and vector search."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lakehouse")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
