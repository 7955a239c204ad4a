"""The keyword index of an embedding table: BM25 (``bm25s``) over the same chunks as its vectors.

Position ``i`` of the keyword index is row ``i`` of the vector index's rows, so a metadata filter
or a deleted chunk masks both the same way. A chunk's indexed text is its document's title (when
the table has one) and the chunk's own text.

The tokenizer lower-cases words and, with ``split_identifiers``, also indexes the parts of a
compound word: ``pandas.DataFrame.merge`` gives ``pandas.dataframe.merge``, ``pandas``,
``dataframe``, ``data``, ``frame`` and ``merge``; ``read_csv`` gives ``read_csv``, ``read`` and ``csv``;
``ORD-10442`` gives ``ord-10442``, ``ord`` and ``10442``. So a query naming an identifier, an
order number or a product matches however the text writes it.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from lakehouse.config.embeddings import KeywordSettings

_WORD = re.compile(r"\w+(?:[.\-/:']\w+)*")
_SEPARATOR = re.compile(r"[._\-/:']+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_]+")
_STOPWORDS = frozenset(STOPWORDS_EN)
PREFIX = "bm25."  # the keyword index's files in an index version folder
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG for itself


def tokenize(text: str, settings: KeywordSettings) -> list[str]:
    """The terms of ``text`` (see the module's doc), in order; a word may give several."""
    terms: list[str] = []
    stop = _STOPWORDS if settings.stopwords == "english" else frozenset()
    for match in _WORD.finditer(text or ""):
        word = match.group(0)
        whole = word.lower()
        if whole not in stop:
            terms.append(whole)
        if settings.split_identifiers:
            parts = [part for part in _SEPARATOR.split(word) if part]
            pieces = [piece for part in parts for piece in _CAMEL.findall(part)]
            found = {p.lower() for p in parts} | {p.lower() for p in pieces} if len(pieces) > 1 else set()
            terms.extend(sorted(found - stop - {whole}))
    return terms


NO_TERM = "\x00"  # never a term of a query: tokenize keeps word characters only


class KeywordIndex:
    """BM25 scores of every chunk for a query's terms."""

    def __init__(self, model: bm25s.BM25, settings: KeywordSettings):
        self.model, self.settings = model, settings

    @classmethod
    def build(cls, texts: Sequence[str], settings: KeywordSettings) -> KeywordIndex:
        """Index ``texts`` (position ``i``: row ``i``; an empty text matches nothing)."""
        model = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        tokens = [tokenize(text, settings) for text in texts]
        if tokens and not any(tokens):  # bm25s cannot index an empty vocabulary (every chunk
            tokens[0] = [NO_TERM]  # deleted, or texts without a word): a term no query has
        model.index(tokens, show_progress=False)
        return cls(model, settings)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every position for ``query`` (0: no term in common)."""
        ids = self.model.get_tokens_ids(tokenize(query, self.settings))
        if not ids:
            return np.zeros(self.model.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32)

    def to_files(self) -> dict[str, bytes]:
        with tempfile.TemporaryDirectory(prefix="lakehouse-bm25-") as folder:
            self.model.save(folder, show_progress=False)
            files = {f"{PREFIX}{p.name}": p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
        files[f"{PREFIX}settings.json"] = json.dumps(self.settings.model_dump()).encode()
        return files

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> KeywordIndex:
        settings = KeywordSettings.model_validate(json.loads(files[f"{PREFIX}settings.json"]))
        with tempfile.TemporaryDirectory(prefix="lakehouse-bm25-") as folder:
            for name, data in files.items():
                if name.startswith(PREFIX):
                    (Path(folder) / name.removeprefix(PREFIX)).write_bytes(data)
            model = bm25s.BM25.load(folder)
        return cls(model, settings)
