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
from lakehouse.storage.catalog import list_tables
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


def test_tables_on_storage_resolve_by_name_without_registration(spark, lakehouse_config, lakehouse_session):
    layout = StorageLayout.from_config(lakehouse_config)
    rows = spark.createDataFrame([(1, "a"), (2, "b")], "id int, code string")
    rows.write.format("delta").save(layout.table("silver.codes").location)

    assertDataFrameEqual(spark.table("silver.codes"), rows)
    assert spark.sql("SELECT max(id) AS top FROM silver.codes").first()["top"] == 2
    assert spark.catalog.tableExists("silver.codes")
    assert [str(table.table) for table in list_tables(spark, layout)] == ["silver.codes"]


def test_a_table_written_later_is_visible_at_once_and_time_travels(
    spark, lakehouse_config, lakehouse_session
):
    location = StorageLayout.from_config(lakehouse_config).table("gold.totals").location
    spark.range(3).write.format("delta").save(location)
    assert spark.table("gold.totals").count() == 3

    spark.range(10).write.format("delta").mode("append").save(location)

    assert spark.table("gold.totals").count() == 13
    assert spark.sql("SELECT count(*) FROM gold.totals VERSION AS OF 0").first()[0] == 3
    spark.sql("INSERT INTO gold.totals VALUES (99)")
    assert spark.sql("SELECT count(*) AS n FROM gold.totals WHERE id = 99").first()["n"] == 1


def test_unknown_tables_and_layers_are_not_found(spark, lakehouse_session):
    from pyspark.errors import AnalysisException

    assert not spark.catalog.tableExists("silver.missing")
    with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
        spark.table("silver.missing")
    with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
        spark.table("nolayer.anything")


def test_session_properties_wire_delta_jars_and_python(session_config):
    properties = session_properties(session_config)
    assert properties["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert properties["spark.sql.catalog.spark_catalog"] == "io.lakehouse.spark.LakehouseCatalog"
    assert properties["spark.lakehouse.tablesRoot"] == f"{session_config.storage.root}/tables"
    assert properties["spark.lakehouse.layers"] == "bronze,silver,gold,quarantine,ops"
    jars = properties["spark.jars"].split(",")
    assert any("delta-spark_2.12-3.3.3" in jar for jar in jars)
    assert any("synapseml-lightgbm_2.12-1.1.3" in jar for jar in jars)
    assert any("lightgbmlib-" in jar for jar in jars)
    assert any("hadoop-azure-3.3.4" in jar for jar in jars)
    assert any(jar.endswith("lakehouse-catalog.jar") for jar in jars)
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
    properties = session_properties(packages)
    assert properties["spark.jars.packages"] == ",".join(coordinates)
    # the catalog jar is ours, not on Maven Central: it ships as a file
    assert properties["spark.jars"].endswith("jars/lib/lakehouse-catalog.jar")


def test_missing_local_jars_fail_with_the_fix(tmp_path):
    with pytest.raises(JarsNotFoundError, match="make setup"):
        local_jars(tmp_path / "nothing-here")


def test_required_classes_cover_delta_synapseml_and_abfs():
    assert set(REQUIRED_CLASSES.values()) >= {
        "io.delta.tables.DeltaTable",
        "com.microsoft.azure.synapse.ml.lightgbm.LightGBMClassifier",
        "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem",
    }


def test_runtime_properties_reach_the_hadoop_and_sql_configuration(spark):
    from lakehouse.spark.session import apply_runtime_properties

    apply_runtime_properties(
        spark, {"spark.hadoop.fs.azure.test.setting": "on", "spark.lakehouse.test.setting": "yes"}
    )

    assert spark.sparkContext._jsc.hadoopConfiguration().get("fs.azure.test.setting") == "on"
    assert spark.conf.get("spark.lakehouse.test.setting") == "yes"


def test_joining_a_session_without_the_expected_catalog_is_refused(spark, session_config):
    from lakehouse.errors import SessionError
    from lakehouse.spark.session import build_session

    # the running session uses the lakehouse catalog; a metastore config expects Delta's own
    metastore = session_config.model_copy(
        update={"storage": session_config.storage.model_copy(update={"catalog": "metastore"})}
    )
    try:
        with pytest.raises(SessionError, match=r"spark_catalog=io\.lakehouse\.spark\.LakehouseCatalog"):
            build_session(metastore)
    finally:  # getOrCreate copied the metastore config's options into the shared session
        spark.conf.set("spark.sql.catalog.spark_catalog", "io.lakehouse.spark.LakehouseCatalog")
        spark.conf.set("spark.sql.shuffle.partitions", "2")


def test_the_cluster_secret_comes_from_the_environment_or_the_cluster_and_never_joins_the_command_line(
    tmp_path,
):
    from lakehouse.cluster.secret import SECRET_FILE, write_private
    from lakehouse.config import load_config
    from lakehouse.errors import SessionError
    from lakehouse.spark.session import runtime_properties, start_secrets

    state = tmp_path / "cluster"
    environ = {"LAKEHOUSE_CLUSTER_DIR": str(state), "LAKEHOUSE_ROOT": str(tmp_path / "lake")}
    config = load_config("cluster", conf_dir=PROJECT_DIR / "conf", environ=environ)
    assert session_properties(config)["spark.authenticate"] == "true"
    with pytest.raises(SessionError, match="lakehouse cluster up --env cluster"):
        start_secrets(config)

    write_private(state / SECRET_FILE, "from-cluster-up\n")
    assert start_secrets(config) == {"spark.authenticate.secret": "from-cluster-up"}
    given = load_config(
        "cluster", conf_dir=PROJECT_DIR / "conf", environ={**environ, "LAKEHOUSE_SPARK_AUTH_SECRET": "given"}
    )
    assert start_secrets(given) == {"spark.authenticate.secret": "given"}
    # pyspark puts session properties on the JVM's command line; runtime ones are set too late for it
    for properties in (session_properties(given), runtime_properties(given)):
        assert "spark.authenticate.secret" not in properties and "given" not in properties.values()
    local = load_config("local", conf_dir=PROJECT_DIR / "conf", environ=environ)
    assert start_secrets(local) == {} and session_properties(local)["spark.driver.bindAddress"] == "127.0.0.1"
