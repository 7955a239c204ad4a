"""Search filters take one type per column: both paths (index and exact) compare the same values,
and a value that does not fit its column is the same typed error on both."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pyspark.sql import types as T

from lakehouse.errors import FilterValueError
from lakehouse.search.api import Searcher
from lakehouse.search.filters import Condition, parse, to_mask, typed
from tests.indexed_tickets import copy_indexed_tickets

SCHEMA = T.StructType(
    [
        T.StructField("product_id", T.LongType()),
        T.StructField("price", T.DecimalType(10, 2)),
        T.StructField("channel", T.StringType()),
        T.StructField("urgent", T.BooleanType()),
        T.StructField("day", T.DateType()),
        T.StructField("created_at", T.TimestampType()),
        T.StructField("tags", T.ArrayType(T.StringType())),
    ]
)


def converted(filters, time_zone="UTC"):
    return [c.value for c in typed(parse(filters), SCHEMA, time_zone, "gold.t")]


def test_values_convert_to_their_column_s_type_when_nothing_is_lost():
    assert converted({"product_id": "7"}) == [7]
    assert converted(["product_id=7,8", "product_id>= 9.0"]) == [(7, 8), 9]
    assert converted({"product_id": 7.0, "price": "49.90", "urgent": "Yes", "channel": 7}) == [
        7,
        49.9,
        True,
        "7",
    ]
    assert converted({"day": "2026-01-03"}) == [dt.date(2026, 1, 3)]
    assert converted({"created_at": {">=": "2026-01-03", "<": dt.date(2026, 1, 5)}}) == [
        dt.datetime(2026, 1, 3),
        dt.datetime(2026, 1, 5),
    ]
    # a time with an offset is read as the session shows timestamps: local times of its zone
    assert converted({"created_at": "2026-01-03T10:00:00Z"}, "Europe/Paris") == [dt.datetime(2026, 1, 3, 11)]


@pytest.mark.parametrize(
    ("filters", "column", "kind", "value"),
    [
        ({"product_id": "seven"}, "product_id", "bigint", "'seven'"),
        ({"product_id": "7.5"}, "product_id", "bigint", "'7.5'"),
        (["product_id=7,x"], "product_id", "bigint", "'x'"),
        ({"product_id": True}, "product_id", "bigint", "True"),
        ({"price": "cheap"}, "price", "decimal(10,2)", "'cheap'"),
        ({"price": "nan"}, "price", "decimal(10,2)", "'nan'"),
        ({"urgent": "maybe"}, "urgent", "boolean", "'maybe'"),
        ({"day": "2026-01-03 10:00"}, "day", "date", "'2026-01-03 10:00'"),
        ({"created_at": "last week"}, "created_at", "timestamp", "'last week'"),
        ({"tags": "a"}, "tags", "array<string>", "'a'"),
    ],
)
def test_a_value_that_does_not_fit_is_an_error_naming_column_type_and_value(filters, column, kind, value):
    with pytest.raises(FilterValueError) as raised:
        converted(filters)
    assert (raised.value.column, raised.value.column_type) == (column, kind)
    assert str(raised.value).startswith(
        f"filter on {column}: {value} is not a {kind} value ({column} of gold.t"
    )


def test_a_null_matches_no_condition_on_the_index_path_as_in_spark():
    rows = pd.DataFrame({"channel": ["email", None, "chat"], "product_id": [7.0, None, 8.0]})
    conditions = [Condition("channel", "!=", "email")]
    assert to_mask(conditions, rows).tolist() == [False, False, True]
    assert to_mask([Condition("product_id", "<", 8)], rows).tolist() == [True, False, False]
    assert to_mask([Condition("product_id", "in", (7, 8))], rows).tolist() == [True, False, True]


@pytest.fixture
def small_index(lakehouse_session, embedding_config, indexed_small_tickets):
    copy_indexed_tickets(indexed_small_tickets, embedding_config)  # ticket_rows(), embedded and indexed
    return Searcher(embedding_config, "tickets", lakehouse_session)


def test_index_and_exact_search_agree_on_every_filter_value(small_index):
    searcher = small_index
    agreeing = [
        ({"product_id": "7"}, {1, 3}),
        ({"product_id": 7.0}, {1, 3}),
        (["product_id=7,9"], {1, 3, 5}),
        (["product_id>=8"], {2, 5}),
        (["channel!=email"], {2, 4, 5}),
        ({"created_at": {">=": "2026-01-01 12:00", "<": dt.date(2026, 1, 2)}}, {3, 4, 5}),
        ({"product_id": "1000000000000000000"}, set()),
    ]
    for filters, expected in agreeing:
        index, exact = (
            searcher.search("broken item", k=5, filters=filters, exact=e)[0] for e in (False, True)
        )
        assert (index.method, exact.method) == ("index", "exact")
        found = [{hit.document_id for hit in result.hits} for result in (index, exact)]
        assert found == [expected, expected], filters

    for filters in ({"product_id": "seven"}, ["product_id<7.5"], {"created_at": {">=": "yesterday"}}):
        messages = []
        for exact in (False, True):
            with pytest.raises(FilterValueError) as raised:
                searcher.search("broken item", k=5, filters=filters, exact=exact)
            messages.append(str(raised.value))
        assert messages[0] == messages[1] and "of gold.tickets_embeddings is " in messages[0]
