import pytest
from pyspark.testing import assertDataFrameEqual

from lakehouse.transforms.keys import latest_per_key


def test_latest_row_per_key_wins_and_nulls_lose(spark):
    rows = spark.createDataFrame(
        [
            (1, "old", 1),
            (1, "new", 3),
            (1, "mid", 2),
            (2, "only", None),
            (3, "dated", 5),
            (3, "undated", None),
        ],
        "id int, value string, version int",
    )

    result = latest_per_key(rows, ["id"], "version")

    expected = spark.createDataFrame(
        [(1, "new", 3), (2, "only", None), (3, "dated", 5)], "id int, value string, version int"
    )
    assertDataFrameEqual(result, expected)


def test_without_ordering_one_row_per_key_remains(spark):
    rows = spark.createDataFrame([(1, "a"), (1, "a"), (2, "b")], "id int, value string")
    assert latest_per_key(rows, ["id"]).count() == 2


def test_unknown_columns_are_named(spark):
    rows = spark.createDataFrame([(1, "a")], "id int, value string")
    with pytest.raises(ValueError, match=r"\['updated_at'\] are not in the frame"):
        latest_per_key(rows, ["id"], "updated_at")
