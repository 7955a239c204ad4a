"""Keep Spark's catalog in step with the storage layout: one database per layer, one table per folder.

With ``storage.catalog: register`` the session uses Spark's in-memory catalog, which starts
empty; the Delta tables on storage are the truth, and every session registers them at start.
No metastore service or lock is needed, so any number of sessions can share one lakehouse.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import SparkSession

from lakehouse.storage.layout import StorageLayout, TableLocation

_REGISTRATION_THREADS = 4


def ensure_layers(spark: SparkSession, layout: StorageLayout, with_location: bool = True) -> None:
    """Create one Spark database per layer if it does not exist.

    Args:
        with_location: point each database at its layer folder (own catalog); a platform's
            metastore (Fabric, Unity Catalog) places its schemas itself.
    """
    for layer in layout.layers:
        if spark.catalog.databaseExists(layer):
            continue
        location = f" LOCATION '{_quote(layout.layer_location(layer))}'" if with_location else ""
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`{location}")


def register_table(spark: SparkSession, table: TableLocation) -> None:
    """Register a Delta table's location under its catalog name, unless it already is."""
    layer, name = table.table.layer, table.table.name
    if spark.catalog.tableExists(f"{layer}.{name}"):
        return
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS `{layer}`.`{name}` USING DELTA LOCATION '{_quote(table.location)}'"
    )


def register_existing_tables(spark: SparkSession, layout: StorageLayout) -> list[TableLocation]:
    """Register every Delta table found under the layer folders.

    Returns:
        The tables found, whether newly registered or already known.
    """
    found = [
        layout.table(f"{layer}.{name}")
        for layer in layout.layers
        for name in _delta_table_folders(spark, layout.layer_location(layer))
    ]
    # Each registration reads the table's Delta log; the JVM serves several calls at once.
    with ThreadPoolExecutor(max_workers=_REGISTRATION_THREADS) as pool:
        list(pool.map(lambda table: register_table(spark, table), found))
    return found


def _delta_table_folders(spark: SparkSession, location: str) -> list[str]:
    """Names of the sub-folders of ``location`` that hold a Delta log (any Hadoop file system)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)
    file_system = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not file_system.exists(path):
        return []
    names = []
    for status in file_system.listStatus(path):
        if status.isDirectory() and file_system.exists(
            jvm.org.apache.hadoop.fs.Path(status.getPath(), "_delta_log")
        ):
            name = status.getPath().getName()
            if name.isidentifier() and name == name.lower():
                names.append(name)
    return sorted(names)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
