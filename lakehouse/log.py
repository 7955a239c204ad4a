"""Logging set-up shared by the command line and the ``spark-submit`` entry points."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    """Log lakehouse messages to stderr at ``level`` (default ``$LAKEHOUSE_LOG_LEVEL`` or INFO)."""
    level = (level or os.environ.get("LAKEHOUSE_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("lakehouse").setLevel(level)
    # py4j logs every gateway call at INFO
    logging.getLogger("py4j").setLevel(logging.WARNING)


def scrub(message: str, secrets: list[str]) -> str:
    """Replace every secret value in ``message`` by ``****``."""
    for secret in secrets:
        message = message.replace(secret, "****")
    return message
