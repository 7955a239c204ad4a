from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from lakehouse.errors import JarsNotFoundError
from lakehouse.spark.jars import (
    REQUIRED_CLASSES,
    artifact_of,
    local_jars,
    maven_coordinates,
    missing_jvm_classes,
)
from lakehouse.spark.session import session_properties
from lakehouse.storage.catalog import register_existing_tables
from lakehouse.storage.layout import StorageLayout
from tests.conftest import PROJECT_DIR


def test_every_required_jvm_class_loads_in_the_running_session(spark):
    assert missing_jvm_classes(spark) == {}


def test_a_class_that_is_not_on_the_classpath_is_reported_missing(spark):
    assert missing_jvm_classes(spark, {"nothing": "com.example.NotAClass"}) == {
        "nothing": "com.example.NotAClass"
    }


def test_delta_table_api_works_on_the_jvm_side(spark, tmp_path):
    location = str(tmp_path / "numbers")
    spark.range(7).write.format("delta").save(location)
    jvm_table = spark.sparkContext._jvm.io.delta.tables.DeltaTable.forPath(spark._jsparkSession, location)
    assert jvm_table.toDF().count() == 7
    assert jvm_table.history().count() == 1


def test_lightgbm_native_library_loads_and_trains_on_the_jvm(spark):
    from pyspark.ml.feature import VectorAssembler
    from synapse.ml.lightgbm import LightGBMClassifier

    jvm = spark.sparkContext._jvm
    jvm.com.microsoft.azure.synapse.ml.lightgbm.LightGBMUtils.initializeNativeLibrary()
    rows = [(float(i % 10), float((i * 7) % 3), int(i % 10 >= 5)) for i in range(200)]
    frame = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(
        spark.createDataFrame(rows, ["a", "b", "label"])
    )
    model = LightGBMClassifier(numIterations=10, numLeaves=4, minDataInLeaf=5, verbosity=-1).fit(frame)
    correct = model.transform(frame).where("prediction = label").count()
    assert correct >= 190  # a linear split on `a` is learnable almost perfectly


def test_layers_exist_as_spark_databases(spark):
    databases = {row[0] for row in spark.sql("SHOW DATABASES").collect()}
    assert {"bronze", "silver", "gold", "ops"} <= databases


def test_existing_tables_are_registered_so_spark_table_and_sql_work(spark, lakehouse_config, clean_catalog):
    layout = StorageLayout.from_config(lakehouse_config)
    spark.createDataFrame([(1, "a"), (2, "b")], "id int, code string").write.format("delta").save(
        layout.table("silver.codes").location
    )
    found = register_existing_tables(spark, layout)
    assert [str(table.table) for table in found] == ["silver.codes"]
    assertDataFrameEqual(
        spark.table("silver.codes"), spark.createDataFrame([(1, "a"), (2, "b")], "id int, code string")
    )
    assert spark.sql("SELECT max(id) AS top FROM silver.codes").first()["top"] == 2


def test_session_properties_wire_delta_jars_and_python(session_config):
    properties = session_properties(session_config)
    assert properties["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert properties["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    jars = properties["spark.jars"].split(",")
    assert any("delta-spark_2.12-3.3.3" in jar for jar in jars)
    assert any("synapseml-lightgbm_2.12-1.1.3" in jar for jar in jars)
    assert any("lightgbmlib-" in jar for jar in jars)
    assert any("hadoop-azure-3.3.4" in jar for jar in jars)
    assert (
        properties["spark.pyspark.python"].endswith("python")
        or "python3" in properties["spark.pyspark.python"]
    )
    # the user's spark.config wins over the defaults
    assert properties["spark.sql.shuffle.partitions"] == "2"


def test_no_resolved_jar_shadows_one_that_spark_ships():
    from lakehouse.spark.jars import spark_home

    spark_artifacts = {artifact_of(jar.name) for jar in (spark_home() / "jars").glob("*.jar")}
    ours = {artifact_of(Path(jar).name) for jar in local_jars(PROJECT_DIR / "jars" / "lib")}
    assert ours and not ours & spark_artifacts


def test_artifact_names_drop_versions():
    assert artifact_of("delta-spark_2.12-3.3.3.jar") == "delta-spark_2.12"
    assert artifact_of("jetty-util-9.4.43.v20210629.jar") == "jetty-util"
    assert artifact_of("wildfly-openssl-1.0.7.Final.jar") == "wildfly-openssl"


def test_packages_mode_uses_the_pom_coordinates_without_provided_ones(session_config):
    coordinates = maven_coordinates(PROJECT_DIR / "jars" / "pom.xml")
    assert "io.delta:delta-spark_2.12:3.3.3" in coordinates
    assert "com.microsoft.azure:synapseml-lightgbm_2.12:1.1.3" in coordinates
    assert "org.apache.hadoop:hadoop-azure:3.3.4" in coordinates
    assert not any("spark-mllib" in c or "hadoop-client" in c for c in coordinates)
    packages = session_config.model_copy(
        update={"spark": session_config.spark.model_copy(update={"jars": "packages"})}
    )
    assert session_properties(packages)["spark.jars.packages"] == ",".join(coordinates)


def test_missing_local_jars_fail_with_the_fix(tmp_path):
    with pytest.raises(JarsNotFoundError, match="make setup"):
        local_jars(tmp_path / "nothing-here")


def test_required_classes_cover_delta_synapseml_and_abfs():
    assert set(REQUIRED_CLASSES.values()) >= {
        "io.delta.tables.DeltaTable",
        "com.microsoft.azure.synapse.ml.lightgbm.LightGBMClassifier",
        "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem",
    }
