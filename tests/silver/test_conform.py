"""Pure silver transformations: names, types, text, PII, one row per key."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from pyspark.testing import assertDataFrameEqual

from lakehouse.config.silver import SilverTableSettings
from lakehouse.errors import ConformError
from lakehouse.silver.conform import conform, one_row_per_key, snake_case, snake_case_columns


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("OrderTS", "order_ts"),
        ("customerID", "customer_id"),
        ("Unit Price", "unit_price"),
        ("first-name", "first_name"),
        ("order_id", "order_id"),
        ("_ingested_at", "_ingested_at"),
        ("HTTPStatusCode", "http_status_code"),
    ],
)
def test_snake_case(name, expected):
    assert snake_case(name) == expected


def test_snake_case_columns_refuses_two_columns_becoming_one(spark):
    frame = spark.createDataFrame([(1, 2)], "OrderId int, order_id int")
    with pytest.raises(
        ConformError, match=r"bronze.orders: columns \['OrderId', 'order_id'\] all become 'order_id'"
    ):
        snake_case_columns(frame, "bronze.orders")


CUSTOMERS = SilverTableSettings.model_validate(
    {
        "source": "bronze.customers",
        "key": ["customer_id"],
        "order_by": "updated_at",
        "columns": {
            "customer_id": {"source": "CustomerID", "type": "bigint"},
            "name": {"normalise": ["collapse_spaces"]},
            "email_hash": {"source": "Email", "normalise": ["lower"], "pii": "hash"},
            "phone_masked": {"source": "Phone", "normalise": ["digits"], "pii": "mask", "keep_last": 4},
            "segment": {"normalise": ["lower"]},
            "country": {"normalise": ["upper"]},
            "spend": {"type": "decimal(10,2)"},
            "coupon": {"required": False},
            "updated_at": {"type": "timestamp"},
        },
    }
)
BRONZE = (
    "CustomerID string, Name string, Email string, Phone string, Segment string, Country string, "
    "Spend double, UpdatedAt timestamp, _ingested_at timestamp, _corrupt_record string"
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_conform_applies_names_types_text_and_pii(spark):
    at = dt.datetime(2026, 1, 2, 3, 4, 5)
    bronze = spark.createDataFrame(
        [
            (
                "7",
                "  Anna   Maria  Müller ",
                " Anna.Muller@GMAIL.com ",
                "+49 151 234-567",
                " Premium",
                "de",
                12.345,
                at,
                at,
                None,
            ),
            ("8", "Jo", "   ", None, "budget", "FR", None, at, at, "8,Jo,,,"),
        ],
        BRONZE,
    ).withColumnRenamed("UpdatedAt", "updated_at")

    result = conform(bronze, CUSTOMERS, "silver.customers", pii_salt="pepper")

    assert result.columns == [*CUSTOMERS.columns, "_ingested_at", "_corrupt_record"]
    assert dict(result.dtypes)["customer_id"] == "bigint"
    assert dict(result.dtypes)["spend"] == "decimal(10,2)"
    rows = {row["customer_id"]: row for row in result.collect()}
    anna, jo = rows[7], rows[8]
    assert anna["name"] == "Anna Maria Müller"
    assert anna["email_hash"] == sha("pepper" + "anna.muller@gmail.com")
    assert anna["phone_masked"] == "********4567"  # +49151234567 -> 12 characters, last 4 kept
    assert (anna["segment"], anna["country"], str(anna["spend"])) == ("premium", "DE", "12.35")
    assert anna["coupon"] is None  # not in bronze, not required
    assert jo["email_hash"] is None  # blank text is null, and null is never hashed
    assert jo["phone_masked"] is None
    assert jo["_corrupt_record"] == "8,Jo,,,"


def test_mask_never_shows_more_than_half_of_a_short_value(spark):
    settings = SilverTableSettings.model_validate(
        {
            "source": "bronze.x",
            "key": ["id"],
            "columns": {"id": None, "code": {"pii": "mask", "keep_last": 4}},
        }
    )
    frame = spark.createDataFrame([(1, "abcde"), (2, "ab")], "id int, code string")
    masked = {row["id"]: row["code"] for row in conform(frame, settings, "silver.x").collect()}
    assert masked == {1: "***de", 2: "*b"}


def test_conform_names_a_missing_required_column(spark):
    frame = spark.createDataFrame([("7",)], "CustomerID string")
    with pytest.raises(
        ConformError, match=r"silver.customers: columns \['name \(from name\)'.*bronze.customers"
    ):
        conform(frame, CUSTOMERS, "silver.customers")


def test_one_row_per_key_keeps_the_latest_and_every_null_key_row(spark):
    frame = spark.createDataFrame(
        [
            (1, "placed", 1),
            (1, "placed", 1),  # exact duplicate
            (1, "shipped", 3),  # late update: wins
            (2, "paid", 2),
            (None, "broken", 5),
            (None, "broken", 5),  # null keys are not versions of one record
        ],
        "order_id bigint, status string, updated_at int",
    )
    expected = spark.createDataFrame(
        [(1, "shipped", 3), (2, "paid", 2), (None, "broken", 5), (None, "broken", 5)],
        "order_id bigint, status string, updated_at int",
    )
    assertDataFrameEqual(one_row_per_key(frame, ["order_id"], "updated_at"), expected)
