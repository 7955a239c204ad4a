"""Keep Spark's catalog in step with the storage layout: one database per layer.

With ``storage.catalog: storage`` (local, cluster, ADLS) the session catalog is
``io.lakehouse.spark.LakehouseCatalog`` (``jars/src``): a name ``<layer>.<table>`` that Spark's
in-memory catalog does not hold resolves to the Delta table at its storage location, and the
table's log is read only when a query uses it. Storage is the truth: nothing is registered,
a session starts in the same time however many tables the lakehouse holds, and a table that
another session or job wrote is visible by name at once. No metastore service or lock is
needed, so any number of sessions can share one lakehouse.

With ``storage.catalog: metastore`` (Fabric, Unity Catalog, Hive) the platform's catalog keeps
the tables; :func:`register_table` records each table there when it is first written.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from lakehouse.storage.layout import StorageLayout, TableLocation

# Session properties the lakehouse catalog reads at each lookup (see LakehouseCatalog.java).
TABLES_ROOT_PROPERTY = "spark.lakehouse.tablesRoot"
LAYERS_PROPERTY = "spark.lakehouse.layers"


def ensure_layers(spark: SparkSession, layout: StorageLayout, with_location: bool = True) -> None:
    """Create one Spark database per layer if it does not exist.

    Args:
        with_location: point each database at its layer folder (our own catalog); a platform's
            metastore (Fabric, Unity Catalog) places its schemas itself.
    """
    for layer in layout.layers:
        if spark.catalog.databaseExists(layer):
            continue
        location = f" LOCATION '{_quote(layout.layer_location(layer))}'" if with_location else ""
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`{location}")


def register_table(spark: SparkSession, table: TableLocation) -> None:
    """Record a Delta table's location under its name in a metastore, unless it is already there."""
    layer, name = table.table.layer, table.table.name
    if spark.catalog.tableExists(f"{layer}.{name}"):
        return
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS `{layer}`.`{name}` USING DELTA LOCATION '{_quote(table.location)}'"
    )


def list_tables(
    spark: SparkSession, layout: StorageLayout, layers: list[str] | None = None
) -> list[TableLocation]:
    """Every Delta table on storage under the given layers (all by default), sorted by name.

    Lists folders only (any Hadoop file system, local or ``abfss://``); reads no Delta log.
    """
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    tables = []
    for layer in layers or layout.layers:
        folder = jvm.org.apache.hadoop.fs.Path(layout.layer_location(layer))
        file_system = folder.getFileSystem(hadoop_conf)
        if not file_system.exists(folder):
            continue
        for status in file_system.listStatus(folder):
            name = status.getPath().getName()
            if not (status.isDirectory() and name.isidentifier() and name == name.lower()):
                continue
            if file_system.exists(jvm.org.apache.hadoop.fs.Path(status.getPath(), "_delta_log")):
                tables.append(layout.table(f"{layer}.{name}"))
    return sorted(tables, key=lambda table: str(table.table))


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
