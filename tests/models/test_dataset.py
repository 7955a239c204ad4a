"""The time split: no label time of validation or test is in training, and shares hold."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.errors import ModelError
from lakehouse.models.dataset import split_by_time, with_split


def day(n: int) -> dt.datetime:
    return dt.datetime(2026, 1, n)


def test_the_latest_times_are_test_and_the_ones_before_validation():
    split = split_by_time([day(n) for n in (5, 1, 2, 3, 4, 6, 7, 8, 9, 10, 3)], validation=0.2, test=0.3)
    assert (split.validation_from, split.test_from) == (day(6), day(8))
    assert split.times == {"train": 5, "validation": 2, "test": 3}


def test_each_split_gets_a_time_even_with_small_shares():
    split = split_by_time([day(1), day(2), day(3)], validation=0.05, test=0.05)
    assert (split.validation_from, split.test_from) == (day(2), day(3))


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ([day(1), day(2), day(2)], "at least 3 distinct label times"),
        ([day(n) for n in range(1, 5)], "none for training"),
    ],
)
def test_too_few_times_fail_with_the_reason(times, message):
    with pytest.raises(ModelError, match=message):
        split_by_time(times, validation=0.4, test=0.4)


def test_no_test_or_validation_date_is_in_training(spark):
    rows = spark.createDataFrame(
        [(c, day(d)) for c in range(3) for d in range(1, 11)], "customer_id bigint, label_time timestamp"
    )
    split = split_by_time([day(d) for d in range(1, 11)], validation=0.2, test=0.2)
    marked = with_split(rows, "label_time", split).collect()
    times = {
        name: {r["label_time"] for r in marked if r["split"] == name}
        for name in ("train", "validation", "test")
    }
    assert max(times["train"]) < min(times["validation"]) <= max(times["validation"]) < min(times["test"])
    assert times["test"] == {day(9), day(10)} and times["validation"] == {day(7), day(8)}
    assert len(marked) == 30
