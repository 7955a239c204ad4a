"""Errors of the training engine (the JVM through py4j, pyspark's own) told as the lakehouse's own:
the model, the column the engine names, and the root cause's first line, never the JVM's stack
trace (logged at debug level). Anything else is a bug of ours and keeps its traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException

from lakehouse.errors import ModelTrainingError
from lakehouse.models.problem import LABEL_COLUMN

log = logging.getLogger(__name__)

ENGINE_ERRORS = (Py4JError, PySparkException)


def engine_call(name: str, action, columns: Sequence[str] = (), target: str | None = None):
    """Run a Spark ML / LightGBM step; turn an engine error into a ModelTrainingError that names
    the model, the column the engine names (``columns``, the target) and the root cause's first
    line, never the JVM's stack trace (logged at debug level)."""
    try:
        return action()
    except ENGINE_ERRORS as error:
        log.debug("model %s: the engine failed", name, exc_info=True)
        raise ModelTrainingError(_describe_engine_error(name, error, columns, target)) from None


def _root_message(error: Exception) -> str:
    """The first line of the innermost Java cause (what failed), else of the error itself."""
    java = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    text = ""
    try:
        while java is not None:
            text = str(java.toString())
            java = java.getCause()
    except Exception:  # the JVM is gone: keep what was read
        pass
    text = text or getattr(error, "desc", None) or str(error)
    return next((line.strip() for line in str(text).splitlines() if line.strip()), type(error).__name__)


def _describe_engine_error(name: str, error: Exception, columns: Sequence[str], target: str | None) -> str:
    first = _root_message(error)
    named = [
        c
        for c in [*columns, *([target] if target else [])]
        if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", first)
    ]
    if not named and target and re.search(rf"(?<!\w){LABEL_COLUMN}(?!\w)", first):
        named = [target]  # the learner's label is the target
    column = f" (column {named[0]})" if named else ""
    return f"model {name}: training failed{column}: {first[:500]}"
