"""The SparkSession and the JVM libraries it needs."""

from lakehouse.spark.session import build_session, session_properties

__all__ = ["build_session", "session_properties"]
