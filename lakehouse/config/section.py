"""What every configuration section shares: unknown keys refused, secrets kept out of sight.

Every section forbids unknown keys, so a misspelled key fails at start instead of being
silently ignored. Secrets are ``SecretStr``: they print as ``**********`` and the loader
refuses them unless they come from an environment variable.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, SecretStr

Scalar = str | int | float | bool
# Spark property names that hold secrets: Spark's own redaction pattern plus storage keys.
SECRET_PROPERTY = re.compile(r"(?i)secret|password|token|credential|access[.]key|account[.]key")
MASK = "**********"


def is_secret_property(key: str) -> bool:
    """True for a Spark property whose value is a secret (e.g. ``spark.hadoop.fs.azure.account.key.x``)."""
    return SECRET_PROPERTY.search(key) is not None


def _secret_fields(model: BaseModel, prefix: tuple[str, ...]):
    """``(key path, SecretStr)`` of every set secret field under ``model``, at any depth."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = (*prefix, name)
        if isinstance(value, SecretStr):
            yield path, value
        elif isinstance(value, BaseModel):
            yield from _secret_fields(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from _secret_fields(item, (*path, str(key)))


class Section(BaseModel):
    """A configuration section: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
