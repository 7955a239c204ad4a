import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyspark.sql.types import IntegerType, StringType, StructField, StructType
from pyspark.testing import assertDataFrameEqual

from lakehouse.errors import PartitionOverwriteError, SchemaDriftError, TableNameError, TableNotFoundError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.table_spec import TableSpec
from lakehouse.storage.layout import StorageLayout

SCHEMA = StructType(
    [
        StructField("id", IntegerType(), False, {"comment": "customer id"}),
        StructField("name", StringType(), True, {"comment": "display name"}),
        StructField("version", IntegerType(), True),
    ]
)


@pytest.fixture
def store(spark, lakehouse_config, lakehouse_session):
    return DeltaStore(spark, StorageLayout.from_config(lakehouse_config), {"run_id": "test"})


def spec(drift="fail"):
    return TableSpec(
        "silver.customers",
        SCHEMA,
        key=("id",),
        comment="one row per customer",
        properties={"delta.appendOnly": "false", "lakehouse.owner": "tests"},
        drift=drift,
    )


def rows(spark, data, schema="id int, name string, version int"):
    return spark.createDataFrame(data, schema)


def test_create_declares_schema_comments_and_properties_once(spark, store):
    assert store.create(spec()) is True
    assert store.create(spec()) is False

    detail = spark.sql(f"DESCRIBE DETAIL delta.`{store.location('silver.customers').location}`").first()
    assert detail["description"] == "one row per customer"
    assert detail["properties"]["lakehouse.owner"] == "tests"
    columns = {
        row["col_name"]: row["comment"] for row in spark.sql("DESCRIBE TABLE silver.customers").collect()
    }
    assert columns["id"] == "customer id" and columns["name"] == "display name"
    assert store.read("silver.customers").count() == 0


def test_a_new_column_fails_under_policy_fail_and_leaves_the_table_as_it_was(spark, store):
    store.create(spec())
    store.append("silver.customers", rows(spark, [(1, "a", 1)]), spec())
    version = store.version("silver.customers")
    wider = spark.createDataFrame([(2, "b", 1, "x@y.z")], "id int, name string, version int, email string")

    with pytest.raises(SchemaDriftError, match=r"silver.customers.*new columns \['email'\]") as raised:
        store.append("silver.customers", wider, spec())

    assert raised.value.added == ["email"]
    assert store.version("silver.customers") == version
    assert store.read("silver.customers").columns == ["id", "name", "version"]


def test_a_new_column_is_added_under_policy_evolve(spark, store):
    store.create(spec("evolve"))
    store.append("silver.customers", rows(spark, [(1, "a", 1)]), spec("evolve"))
    wider = spark.createDataFrame([(2, "b", 1, "x@y.z")], "id int, name string, version int, email string")

    assert store.append("silver.customers", wider, spec("evolve")) == 1

    result = store.read("silver.customers").orderBy("id")
    assert [(row.id, row.email) for row in result.collect()] == [(1, None), (2, "x@y.z")]


def test_a_changed_column_type_is_refused_even_under_evolve(spark, store):
    store.create(spec("evolve"))
    retyped = spark.createDataFrame([(1, "a", "one")], "id int, name string, version string")

    with pytest.raises(SchemaDriftError, match=r"changed types \['version: int -> string'\]"):
        store.append("silver.customers", retyped, spec("evolve"))


def test_append_once_writes_each_batch_version_once(spark, store):
    batch = rows(spark, [(1, "a", 1), (2, "b", 1)])

    assert store.append_once("bronze.customers", batch, "ingest:customers", 0) == 2
    assert store.append_once("bronze.customers", batch, "ingest:customers", 0) == 0
    assert store.append_once("bronze.customers", rows(spark, [(3, "c", 1)]), "ingest:customers", 1) == 1
    assert store.read("bronze.customers").count() == 3


def test_merge_with_duplicate_source_keys_keeps_the_latest_row(spark, store):
    store.create(spec())
    store.merge("silver.customers", rows(spark, [(1, "first", 1), (2, "two", 1)]), ["id"], "version", spec())

    result = store.merge(
        "silver.customers",
        rows(spark, [(1, "second", 2), (1, "third", 3), (3, "new", 1), (3, "newer", 2)]),
        ["id"],
        "version",
        spec(),
    )

    assert result == {"inserted": 1, "updated": 1, "source_rows": 2}
    assertDataFrameEqual(
        store.read("silver.customers"), rows(spark, [(1, "third", 3), (2, "two", 1), (3, "newer", 2)])
    )


def test_merge_ignores_a_late_stale_update(spark, store):
    store.create(spec())
    store.merge("silver.customers", rows(spark, [(1, "current", 5)]), ["id"], "version", spec())

    result = store.merge("silver.customers", rows(spark, [(1, "stale", 4)]), ["id"], "version", spec())

    assert result["updated"] == 0
    assert store.read("silver.customers").first()["name"] == "current"


def test_restore_returns_the_table_to_an_earlier_version(spark, store):
    store.append("bronze.events", rows(spark, [(1, "a", 1)]))
    store.append("bronze.events", rows(spark, [(2, "b", 1)]))
    store.overwrite("bronze.events", rows(spark, [(9, "z", 9)]))

    store.restore("bronze.events", 1)

    assertDataFrameEqual(store.read("bronze.events"), rows(spark, [(1, "a", 1), (2, "b", 1)]))
    restored = store.history("bronze.events", 1).first()
    assert restored["operation"] == "RESTORE"
    assert json.loads(restored["userMetadata"]) == store.commit_tag  # the run that restored it
    assertDataFrameEqual(store.read("bronze.events", version=0), rows(spark, [(1, "a", 1)]))


def test_read_as_of_a_timestamp(spark, store):
    store.append("bronze.events", rows(spark, [(1, "a", 1)]))
    first_commit = store.history("bronze.events").first()["timestamp"]
    store.append("bronze.events", rows(spark, [(2, "b", 1)]))

    as_of = store.read("bronze.events", timestamp=first_commit.strftime("%Y-%m-%d %H:%M:%S.%f"))

    assert as_of.count() == 1


def test_reading_a_missing_table_names_it(store):
    with pytest.raises(TableNotFoundError, match=r"table silver\.nothing does not exist"):
        store.read("silver.nothing")


def test_table_specs_check_their_declaration():
    with pytest.raises(ValueError, match=r"key columns \['customer_id'\] are not in the schema"):
        TableSpec("silver.customers", SCHEMA, key=("customer_id",))
    assert TableSpec("bronze.raw", SCHEMA).key == ()  # raw append-only tables have no key yet
    with pytest.raises(TypeError, match="must be a StructType"):
        TableSpec("silver.customers", "id int", key=("id",))


def test_jobs_cannot_create_internal_tables(store):
    with pytest.raises(TableNameError, match="written only by the framework"):
        store.create(TableSpec("ops.anything", SCHEMA, key=("id",)))


def scd2_batch(spark, data):
    return spark.createDataFrame(data, "id int, city string, changed_at int")


def test_scd2_keeps_full_history_and_reruns_change_nothing(spark, store):
    store.merge_scd2(
        "silver.addresses", scd2_batch(spark, [(1, "Oslo", 1), (2, "Rome", 1)]), ["id"], "changed_at"
    )
    second = scd2_batch(spark, [(1, "Lima", 2), (1, "Kyiv", 3), (2, "Rome", 2), (3, "Pune", 2)])

    result = store.merge_scd2("silver.addresses", second, ["id"], "changed_at")
    rerun = store.merge_scd2("silver.addresses", second, ["id"], "changed_at")
    stale = store.merge_scd2("silver.addresses", scd2_batch(spark, [(1, "Old", 2)]), ["id"], "changed_at")

    assert result == {"inserted": 2, "closed": 1}  # id 1 moved (Kyiv wins the batch), id 3 is new
    assert rerun == {"inserted": 0, "closed": 0}
    assert stale == {"inserted": 0, "closed": 0}
    history = store.read("silver.addresses").select("id", "city", "valid_from", "valid_to", "is_current")
    expected = spark.createDataFrame(
        [
            (1, "Oslo", 1, 3, False),
            (1, "Kyiv", 3, None, True),
            (2, "Rome", 1, None, True),
            (3, "Pune", 2, None, True),
        ],
        "id int, city string, valid_from int, valid_to int, is_current boolean",
    )
    assertDataFrameEqual(history, expected)


def test_overwrite_partition_replaces_one_slice_only(spark, store):
    days = "day string, amount int"
    store.append("gold.sales", spark.createDataFrame([("d1", 1), ("d2", 2)], days))

    store.overwrite_partition(
        "gold.sales", spark.createDataFrame([("d2", 20), ("d2", 21)], days), "day = 'd2'"
    )

    assertDataFrameEqual(
        store.read("gold.sales"), spark.createDataFrame([("d1", 1), ("d2", 20), ("d2", 21)], days)
    )
    with pytest.raises(
        PartitionOverwriteError, match=r"table gold\.sales: some rows do not match replaceWhere"
    ):
        store.overwrite_partition("gold.sales", spark.createDataFrame([("d3", 3)], days), "day = 'd2'")
    assert store.read("gold.sales").count() == 3


def test_optimize_compacts_small_files(spark, store):
    for number in range(4):
        store.append("bronze.clicks", spark.range(number * 10, number * 10 + 10).coalesce(1))

    result = store.optimize("bronze.clicks", zorder_by=["id"])

    assert result["files_removed"] == 4 and result["files_added"] == 1
    assert store.read("bronze.clicks").count() == 40


def test_vacuum_keeps_the_seven_day_guard(spark, store):
    store.append("bronze.clicks", spark.range(3))
    store.overwrite("bronze.clicks", spark.range(2))

    with pytest.raises(ValueError, match=r"vacuum bronze.clicks: retention 1 h is under the 168 h guard"):
        store.vacuum("bronze.clicks", retention_hours=1)
    store.vacuum("bronze.clicks")

    assert store.read("bronze.clicks", version=0).count() == 3  # inside retention: time travel still works


def test_conflicts_are_retried_then_surface_as_our_typed_error(spark, store, monkeypatch):
    from delta.exceptions import ConcurrentAppendException, MetadataChangedException

    from lakehouse.errors import ConcurrentWriteError
    from lakehouse.io import delta_store

    monkeypatch.setattr(delta_store.time, "sleep", lambda seconds: None)
    location = store.location("bronze.events")
    attempts = []

    def conflicts_once():
        attempts.append(1)
        if len(attempts) == 1:
            raise ConcurrentAppendException(desc="files were added by a concurrent update", stackTrace="")
        return "committed"

    def always_conflicts():
        raise MetadataChangedException(desc="the metadata changed", stackTrace="")

    assert store._retrying("merge", location, conflicts_once) == "committed"
    assert len(attempts) == 2
    with pytest.raises(
        ConcurrentWriteError, match=r"bronze\.events: merge conflicted with another writer 3 times"
    ):
        store._retrying("merge", location, always_conflicts)


def test_scd2_refuses_rows_without_key_or_change_time(spark, store):
    with pytest.raises(ValueError, match=r"merge_scd2 silver\.addresses: rows with a null key \['id'\]"):
        store.merge_scd2("silver.addresses", scd2_batch(spark, [(None, "Oslo", 1)]), ["id"], "changed_at")
    assert not store.exists("silver.addresses")


def test_append_with_a_spec_creates_the_declared_table_first(spark, store):
    store.append("silver.customers", rows(spark, [(1, "a", 1)]), spec())

    detail = spark.sql(f"DESCRIBE DETAIL delta.`{store.location('silver.customers').location}`").first()
    assert detail["description"] == "one row per customer"
    assert store.read("silver.customers").count() == 1


def test_an_empty_merge_reports_nothing_written(spark, store):
    store.create(spec())
    store.merge("silver.customers", rows(spark, [(1, "a", 5)]), ["id"], "version", spec())

    assert (
        store.merge("silver.customers", rows(spark, [(1, "a", 5)]), ["id"], "version", spec())["inserted"]
        == 0
    )


def test_two_first_writes_of_an_scd2_table_at_once_keep_one_current_version_per_key(spark, store):
    batch = scd2_batch(spark, [(i, f"city {i}", 1) for i in range(1, 41)])

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda _: store.merge_scd2("silver.people", batch, ["id"], "changed_at"), range(2))
        )

    history = store.read("silver.people")
    assert history.count() == 40 and history.where("is_current").select("id").distinct().count() == 40
    assert sorted(result["inserted"] for result in results) == [0, 40]  # the second found the first's rows
