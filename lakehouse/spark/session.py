"""Build the SparkSession of an environment: Delta, SynapseML, ABFS auth and the layer catalog."""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import JarsNotFoundError
from lakehouse.spark.jars import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    REQUIRED_CLASSES,
    local_jars,
    maven_coordinates,
    missing_jvm_classes,
)
from lakehouse.storage.azure import abfs_oauth_settings
from lakehouse.storage.catalog import ensure_layers, register_existing_tables
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)


def session_properties(config: LakehouseConfig) -> dict[str, str]:
    """The Spark properties a session of this environment starts with.

    Pure: reads the configuration and the jar folder, starts nothing. The user's
    ``spark.config`` comes last, so it can override any default set here.

    Raises:
        JarsNotFoundError: ``spark.jars`` is ``local`` and ``make setup`` has not resolved them.
    """
    settings = config.spark
    layout = StorageLayout.from_config(config)
    properties = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    }
    if settings.jars == "local":
        properties["spark.jars"] = ",".join(local_jars(config.project_dir / "jars" / "lib"))
    elif settings.jars == "packages":
        properties["spark.jars.packages"] = ",".join(
            maven_coordinates(config.project_dir / "jars" / "pom.xml")
        )
    if config.storage.catalog == "register":
        # Spark's own in-memory catalog: nothing to lock, so several sessions can share one root
        properties["spark.sql.catalogImplementation"] = "in-memory"
    if layout.kind == "local":
        properties["spark.sql.warehouse.dir"] = layout.tables_root
    for key, value in abfs_oauth_settings(config.storage.auth, layout.account_host).items():
        properties[f"spark.hadoop.{key}"] = value
    if _runs_python_on_this_machine(settings.master):
        properties["spark.pyspark.python"] = sys.executable
        properties["spark.pyspark.driver.python"] = sys.executable
    properties.update({key: _spark_value(value) for key, value in settings.config.items()})
    return properties


def build_session(config: LakehouseConfig, app_name: str | None = None) -> SparkSession:
    """Start (or join) the SparkSession of an environment, ready for lakehouse tables.

    Joins the active session when there is one (a notebook, ``spark-submit`` on a platform);
    otherwise starts one with :func:`session_properties`. Then checks that the JVM can load
    Delta, and creates a Spark database per layer, registering existing tables when
    ``storage.catalog`` is ``register``.

    Args:
        config: the loaded environment.
        app_name: Spark application name; defaults to ``spark.app_name``.

    Returns:
        The session; ``spark.table("silver.orders")`` works on it.

    Raises:
        JarsNotFoundError: the jars are not resolved, or the JVM cannot load Delta.
    """
    settings = config.spark
    properties = session_properties(config)
    if _runs_python_on_this_machine(settings.master):
        # Python workers run PYSPARK_PYTHON, else `python3` from PATH, which lacks our packages
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name or settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in properties.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)

    # A joined session ignores static properties; ABFS settings can still be set at run time.
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in properties.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key.removeprefix("spark.hadoop."), value)

    missing = missing_jvm_classes(spark, {"Delta Lake": REQUIRED_CLASSES["Delta Lake"]})
    if missing:
        raise JarsNotFoundError(
            f"the Spark JVM cannot load {', '.join(missing.values())} (spark.jars: {settings.jars}); "
            "run `make setup`, or launch spark-submit with --properties-file jars/spark-defaults.conf"
        )
    layout = StorageLayout.from_config(config)
    ensure_layers(spark, layout, with_location=config.storage.catalog == "register")
    if config.storage.catalog == "register":
        registered = register_existing_tables(spark, layout)
        log.debug("registered %d existing tables from %s", len(registered), layout.tables_root)
    return spark


def _runs_python_on_this_machine(master: str | None) -> bool:
    """True for masters whose Python workers run beside this interpreter (local, standalone here)."""
    if master is None:
        return False
    return master.startswith("local") or master.startswith(("spark://127.0.0.1", "spark://localhost"))


def _spark_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
