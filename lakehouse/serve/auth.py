"""API keys of the search service: read from the environment only, compared in constant time."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence


class ApiKeys:
    """The keys a request may present as ``Authorization: Bearer <key>``.

    The keys never appear in ``repr``, logs or errors; with none configured every request passes.
    """

    def __init__(self, keys: Sequence[str]):
        self._keys = [key.encode() for key in keys if key]

    @classmethod
    def from_environment(cls, variables: Sequence[str], environ: Mapping[str, str] | None = None) -> ApiKeys:
        """The keys held by ``variables`` (each a comma-separated list), blanks dropped.

        Args:
            variables: names of environment variables (``serve.api_key_variables``).
            environ: defaults to ``os.environ``.
        """
        environ = os.environ if environ is None else environ
        keys = [part.strip() for name in variables for part in environ.get(name, "").split(",")]
        return cls([key for key in keys if key])

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._keys)} keys)"

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries one of the keys.

        Every key is compared (no early exit) with :func:`hmac.compare_digest`, so the time taken
        does not tell which key, or how much of one, matched.
        """
        if not self._keys:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return False
        candidate = presented.strip().encode()
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched
