"""A labelled retrieval set made offline from the documentation strings of installed packages.

Nobody here wrote the text: it is the docstrings of numpy, pandas, scipy, scikit-learn and pyarrow,
whose versions ``requirements.lock`` pins, so the same install builds the same set. Each public
function, class and method with a docstring is one candidate pair:

- the *query* is the docstring's summary (its first paragraph, whitespace collapsed; a first
  paragraph that only repeats the call signature, as compiled functions' docstrings do, is skipped);
- the *document* is the rest of the docstring, its first :data:`MAX_BODY_WORDS` words;
- the document's *title* is the object's qualified name, e.g. ``pandas.DataFrame.merge``.

Which objects: the public names (no leading ``_``; ``__all__`` when a module has one) of each module
of :data:`MODULES`, and the public methods of the public classes among them, whose ``__module__``
lies in the same package (re-exports of other packages are left out). Nothing is hand-picked: the
candidates are sorted by qualified name and filtered by documented rules only:

1. a query of at least :data:`MIN_QUERY_WORDS` words and a document of at least
   :data:`MIN_BODY_WORDS` words;
2. an object reached under two names (``numpy.linalg.norm`` and an alias) counts once, under its
   first name;
3. a query or a document that occurs more than once (templated docstrings such as pandas'
   arithmetic methods) is ambiguous: every pair holding it is dropped;
4. of what is left, :data:`SAMPLE_SIZE` pairs are drawn with ``random.Random(SEED)``, then sorted
   by name and numbered ``1, 2, ...``: the document id and the query id of a pair are that number.

The document table (one row per document: ``doc_id``, ``name``, ``package``, ``package_version``,
``body``) is landed as Parquet for ``bronze_ingest``; the queries (``query_id``, ``query``) and the
relevance (``query_id``, ``document_id``: each query's own document) are written where
``embeddings.evaluations`` reads them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import io
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from lakehouse.io import files

NAME = "docstrings"
# module -> the distribution whose version pins its text
MODULES: dict[str, str] = {
    "numpy": "numpy",
    "numpy.linalg": "numpy",
    "pandas": "pandas",
    "scipy.linalg": "scipy",
    "scipy.optimize": "scipy",
    "scipy.stats": "scipy",
    "sklearn.cluster": "scikit-learn",
    "sklearn.decomposition": "scikit-learn",
    "sklearn.ensemble": "scikit-learn",
    "sklearn.linear_model": "scikit-learn",
    "sklearn.metrics": "scikit-learn",
    "sklearn.model_selection": "scikit-learn",
    "sklearn.preprocessing": "scikit-learn",
    "pyarrow": "pyarrow",
    "pyarrow.compute": "pyarrow",
}
MIN_QUERY_WORDS = 3
MIN_BODY_WORDS = 30
MAX_BODY_WORDS = 300
SAMPLE_SIZE = 500
SEED = 19
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.*)?$", re.DOTALL)


@dataclass(frozen=True)
class DocstringPair:
    """One labelled pair: the summary of an object's docstring and the rest of it."""

    name: str
    package: str
    query: str
    body: str


@dataclass(frozen=True)
class DocstringSet:
    """The labelled set.

    Attributes:
        documents: one row per document: ``doc_id`` (1, 2, ... in name order), ``name`` (the
            qualified name, the title), ``package`` (the distribution), ``package_version``, ``body``.
        queries: one row per query: ``query_id`` (its document's id), ``query``.
        relevance: one row per relevant pair: ``query_id``, ``document_id``.
        candidates: pairs that passed the filters, before the sample.
    """

    documents: pd.DataFrame
    queries: pd.DataFrame
    relevance: pd.DataFrame
    candidates: int


def split_docstring(doc: str | None) -> tuple[str, str] | None:
    """``(summary, rest)`` of a docstring: its first paragraph, whitespace collapsed, and the rest.

    A first paragraph that is only a call signature (``add(x1, x2, /, out=None)``) is skipped.

    Returns:
        None for an empty docstring or one with a single paragraph.
    """
    if not doc or not doc.strip():
        return None
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc).strip(), maxsplit=1)
    if len(paragraphs) == 2 and _SIGNATURE.match(paragraphs[0].strip()):
        paragraphs = re.split(r"\n\s*\n", paragraphs[1].strip(), maxsplit=1)
    if len(paragraphs) < 2:
        return None
    return " ".join(paragraphs[0].split()), paragraphs[1].strip()


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = dir(module)
    return sorted(name for name in set(names) if not name.startswith("_"))


def _defined_in(obj, root: str) -> bool:
    module = getattr(obj, "__module__", None) or ""
    if not module and type(obj).__name__ == "ufunc":  # numpy's compiled functions have no module
        module = "numpy"
    return module == root or module.startswith(root + ".")


def _objects(module_name: str) -> list[tuple[str, object]]:
    """``(qualified name, object)`` of the module's public functions and classes and their methods."""
    module = importlib.import_module(module_name)
    root = module_name.split(".")[0]
    found = []
    for name in _public_names(module):
        try:
            with warnings.catch_warnings():  # deprecated names warn when read
                warnings.simplefilter("ignore")
                obj = getattr(module, name)
        except (AttributeError, ImportError):  # listed but not importable as is (experimental)
            continue
        if not (inspect.isroutine(obj) or inspect.isclass(obj) or type(obj).__name__ == "ufunc"):
            continue
        if not _defined_in(obj, root):
            continue
        found.append((f"{module_name}.{name}", obj))
        if inspect.isclass(obj):
            for member, value in sorted(vars(obj).items()):
                if member.startswith("_"):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        value = getattr(obj, member)
                except Exception:  # a descriptor that fails outside an instance
                    continue
                if inspect.isroutine(value) or isinstance(value, property):
                    found.append((f"{module_name}.{name}.{member}", value))
    return found


def candidate_pairs(modules: dict[str, str] = MODULES) -> list[DocstringPair]:
    """Every pair that passes filters 1-3 of the module docstring, sorted by qualified name."""
    pairs: dict[str, DocstringPair] = {}
    seen: dict[int, object] = {}  # holds the objects, so that no id is reused while it runs
    for module_name, package in sorted(modules.items()):
        for name, obj in sorted(_objects(module_name), key=lambda item: item[0]):
            target = obj.fget if isinstance(obj, property) else obj
            target = getattr(target, "__func__", target)  # a bound method is new at each lookup
            if id(target) in seen:  # the same object under another name
                continue
            seen[id(target)] = target
            split = split_docstring(getattr(target, "__doc__", None))
            if split is None:
                continue
            query, rest = split
            words = rest.split()
            if len(query.split()) < MIN_QUERY_WORDS or len(words) < MIN_BODY_WORDS:
                continue
            if len(words) > MAX_BODY_WORDS:
                rest = _first_words(rest, MAX_BODY_WORDS)
            pairs.setdefault(name, DocstringPair(name, package, query, rest))
    ordered = sorted(pairs.values(), key=lambda pair: pair.name)
    queries = pd.Series([pair.query for pair in ordered])
    bodies = pd.Series([pair.body for pair in ordered])
    unique = ~(queries.duplicated(keep=False) | bodies.duplicated(keep=False))
    return [pair for pair, keep in zip(ordered, unique, strict=True) if keep]


def _first_words(text: str, count: int) -> str:
    """``text`` up to the end of its ``count``-th word, its line breaks kept."""
    match = re.match(r"\s*(?:\S+\s+){" + str(count - 1) + r"}\S+", text)
    return match.group(0) if match else text


def build_docstring_set(
    modules: dict[str, str] = MODULES, size: int = SAMPLE_SIZE, seed: int = SEED
) -> DocstringSet:
    """The labelled set (see the module docstring for how it is made).

    Args:
        modules: module -> its distribution (for the version).
        size: pairs drawn; all of them when fewer pass the filters.
        seed: of the draw.

    Returns:
        Documents, queries and relevance as pandas frames.

    Raises:
        ValueError: ``size`` below 1.
        ModuleNotFoundError: a module of ``modules`` is not installed.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    candidates = candidate_pairs(modules)
    chosen = candidates if len(candidates) <= size else random.Random(seed).sample(candidates, size)
    chosen = sorted(chosen, key=lambda pair: pair.name)
    versions = {package: importlib.metadata.version(package) for package in set(modules.values())}
    ids = list(range(1, len(chosen) + 1))
    documents = pd.DataFrame(
        {
            "doc_id": pd.Series(ids, dtype="int64"),
            "name": [pair.name for pair in chosen],
            "package": [pair.package for pair in chosen],
            "package_version": [versions[pair.package] for pair in chosen],
            "body": [pair.body for pair in chosen],
        }
    )
    queries = pd.DataFrame({"query_id": pd.Series(ids, dtype="int64"), "query": [p.query for p in chosen]})
    relevance = pd.DataFrame(
        {"query_id": pd.Series(ids, dtype="int64"), "document_id": pd.Series(ids, dtype="int64")}
    )
    return DocstringSet(documents, queries, relevance, len(candidates))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as one Parquet file, the same bytes for the same frame (no pandas index)."""
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()


@dataclass(frozen=True)
class LandedDocstrings:
    """What :func:`land_docstrings` did.

    Attributes:
        documents, queries, relevance: the three files.
        rows: documents (and queries).
        written: False when the documents file already held exactly this data (left untouched).
    """

    documents: str
    queries: str
    relevance: str
    rows: int
    written: bool


def land_docstrings(spark: SparkSession, landing: str, truth: str) -> LandedDocstrings:
    """Land the documents as ``<landing>/docstrings/docstrings.parquet`` and write the labels.

    The labels go to ``<truth>/queries/queries.parquet`` and ``<truth>/relevance/relevance.parquet``.
    A file that already holds the same bytes is left as it is, so ``bronze_ingest`` never takes
    the documents twice.

    Args:
        spark: the session (its Hadoop file system writes ``abfss://`` folders).
        landing: the landing folder (``<root>/files/landing``).
        truth: the folder of the labels (``<root>/files/samples/docstrings``).
    """
    built = build_docstring_set()
    locations = {
        "documents": f"{landing.rstrip('/')}/{NAME}/{NAME}.parquet",
        "queries": f"{truth.rstrip('/')}/queries/queries.parquet",
        "relevance": f"{truth.rstrip('/')}/relevance/relevance.parquet",
    }
    frames = {"documents": built.documents, "queries": built.queries, "relevance": built.relevance}
    written = {}
    for kind, frame in frames.items():
        data = parquet_bytes(frame)
        if files.read_bytes(spark, locations[kind]) == data:
            written[kind] = False
            continue
        done = files.write_bytes(spark, locations[kind], data)
        locations[kind] = str(done) if isinstance(done, Path) else done
        written[kind] = True
    return LandedDocstrings(
        locations["documents"],
        locations["queries"],
        locations["relevance"],
        len(built.documents),
        written["documents"],
    )
