"""The labelled retrieval set made from the docstrings of installed packages."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from lakehouse.errors import JobParameterError
from lakehouse.jobs.sample_data import SampleDataParams
from lakehouse.samples.docstrings import (
    MAX_BODY_WORDS,
    MIN_BODY_WORDS,
    MIN_QUERY_WORDS,
    MODULES,
    SAMPLE_SIZE,
    build_docstring_set,
    land_docstrings,
    split_docstring,
)


@pytest.fixture(scope="module")
def built():
    return build_docstring_set()


def test_the_summary_is_the_query_and_the_rest_the_document():
    doc = """Merge two frames.

        Like a database join.

        Parameters
        ----------
        """
    assert split_docstring(doc) == ("Merge two frames.", "Like a database join.\n\nParameters\n----------")
    # compiled functions repeat their signature first: the summary is the paragraph after it
    signed = "add(x1, x2, /, out=None)\n\nAdd arguments\nelement-wise.\n\nReturns the sum."
    assert split_docstring(signed) == ("Add arguments element-wise.", "Returns the sum.")
    assert split_docstring("Only a summary.") is None and split_docstring(None) is None


def test_the_set_is_a_seeded_sample_of_filtered_pairs_in_name_order(built):
    documents, queries, relevance = built.documents, built.queries, built.relevance
    assert built.candidates > 1000 and len(documents) == SAMPLE_SIZE
    assert documents["doc_id"].tolist() == list(range(1, SAMPLE_SIZE + 1))
    assert documents["name"].tolist() == sorted(documents["name"]) and documents["name"].is_unique
    assert set(documents["package"]) == set(MODULES.values())
    assert (
        documents["name"].str.split(".").str[0].isin({"numpy", "pandas", "scipy", "sklearn", "pyarrow"}).all()
    )
    assert "pandas.DataFrame" in set(documents["name"].str.rsplit(".", n=1).str[0])  # methods too
    words = documents["body"].str.split().str.len()
    assert words.between(MIN_BODY_WORDS, MAX_BODY_WORDS).all()
    assert (queries["query"].str.split().str.len() >= MIN_QUERY_WORDS).all()
    assert queries["query"].is_unique and documents["body"].is_unique
    assert queries["query_id"].tolist() == documents["doc_id"].tolist()
    assert (relevance["query_id"] == relevance["document_id"]).all() and len(relevance) == SAMPLE_SIZE
    # the query is not in its document: it is the part of the docstring the document leaves out
    assert not any(q in b for q, b in zip(queries["query"], documents["body"], strict=True))


def test_the_same_install_builds_the_same_set(built):
    again = build_docstring_set()
    pd.testing.assert_frame_equal(again.documents, built.documents)
    pd.testing.assert_frame_equal(again.queries, built.queries)


def test_landing_writes_documents_and_labels_once(spark, tmp_path):
    landed = land_docstrings(spark, str(tmp_path / "landing"), str(tmp_path / "samples" / "docstrings"))
    assert landed.written and landed.rows == SAMPLE_SIZE
    assert landed.documents == str(tmp_path / "landing" / "docstrings" / "docstrings.parquet")
    documents = pd.read_parquet(
        io.BytesIO((tmp_path / "landing" / "docstrings" / "docstrings.parquet").read_bytes())
    )
    assert list(documents.columns) == ["doc_id", "name", "package", "package_version", "body"]
    queries = spark.read.parquet(str(tmp_path / "samples" / "docstrings" / "queries"))
    assert queries.columns == ["query_id", "query"] and queries.count() == SAMPLE_SIZE
    stamp = (tmp_path / "landing" / "docstrings" / "docstrings.parquet").stat().st_mtime_ns
    again = land_docstrings(spark, str(tmp_path / "landing"), str(tmp_path / "samples" / "docstrings"))
    assert not again.written
    assert (tmp_path / "landing" / "docstrings" / "docstrings.parquet").stat().st_mtime_ns == stamp


def test_sample_data_knows_docstrings_and_names_every_data_set_when_refused():
    assert SampleDataParams(dataset="docstrings").dataset == "docstrings"
    with pytest.raises(
        JobParameterError, match=r"did you mean 'docstrings'\? known: breast_cancer, diabetes, docstrings"
    ):
        SampleDataParams(dataset="docstring")
