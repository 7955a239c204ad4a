from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from lakehouse.jobs.hello import describe_numbers


def test_describe_numbers_adds_square_parity_and_digit_sum(spark):
    result = describe_numbers(spark.range(0, 3).union(spark.range(47, 48)))

    expected = spark.createDataFrame(
        [(0, 0, True, 0), (1, 1, False, 1), (2, 4, True, 2), (47, 2209, False, 11)],
        "id bigint, square bigint, is_even boolean, digit_sum bigint",
    )
    assertSchemaEqual(result.schema, expected.schema)
    assertDataFrameEqual(result, expected)
