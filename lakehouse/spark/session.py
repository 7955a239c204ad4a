"""Build the SparkSession of an environment: Delta, SynapseML, ABFS auth and the layer catalog."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from lakehouse.cluster.secret import cluster_secret
from lakehouse.config.model import LakehouseConfig
from lakehouse.config.section import is_secret_property
from lakehouse.errors import JarsNotFoundError, SessionError
from lakehouse.jvm import source_checkout
from lakehouse.jvm.maven import user_cache_dir
from lakehouse.spark.jars import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    LAKEHOUSE_CATALOG,
    REQUIRED_CLASSES,
    ensure_jars,
    jar_properties,
    missing_jvm_classes,
    setup_hint,
)
from lakehouse.spark.natives import library_path_properties
from lakehouse.storage.azure import abfs_oauth_settings
from lakehouse.storage.catalog import LAYERS_PROPERTY, TABLES_ROOT_PROPERTY, ensure_layers
from lakehouse.storage.layout import StorageLayout

# the RPC authentication secret: set when the SparkContext starts, never on a command line
AUTH_SECRET = "spark.authenticate.secret"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# the lowest level of the driver's log events shown on the terminal (all of them go to its log
# file): warn by default, off under the `lakehouse` command unless --verbose
CONSOLE_VARIABLE = "LAKEHOUSE_SPARK_CONSOLE"
CONSOLE_LEVELS = ("off", "fatal", "error", "warn", "info", "debug")


def console_level() -> str:
    """The terminal's level for the driver's log, from ``$LAKEHOUSE_SPARK_CONSOLE`` (default warn).

    Raises:
        SessionError: the variable holds something other than a log level.
    """
    level = os.environ.get(CONSOLE_VARIABLE, "warn").strip().lower() or "warn"
    if level not in CONSOLE_LEVELS:
        raise SessionError(f"{CONSOLE_VARIABLE}={level!r}: expected one of {', '.join(CONSOLE_LEVELS)}")
    return level


def session_properties(config: LakehouseConfig) -> dict[str, str]:
    """The Spark properties a session of this environment starts with.

    Pure: reads the configuration and the jar folders, starts nothing. The jars come from
    :func:`lakehouse.spark.jars.jar_properties` (a checkout's ``jars/lib``, else the package's jar and
    the user cache). The user's ``spark.config`` comes last, so it can override any default set
    here. Secrets are left out: pyspark passes these properties on the ``spark-submit`` command
    line, where any process could read them; :func:`runtime_properties` carries them instead.

    Args:
        config: the loaded environment.

    Returns:
        Spark property -> value.

    Raises:
        JarsNotFoundError: ``spark.jars`` is ``local`` and the jars are not resolved (naming the fix).
    """
    settings = config.spark
    layout = StorageLayout.from_config(config)
    from_storage = config.storage.catalog == "storage"
    properties = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": LAKEHOUSE_CATALOG if from_storage else DELTA_CATALOG,
    }
    properties.update(jar_properties(settings.jars, source_checkout()))
    if from_storage:
        # Spark's in-memory catalog holds only the layer databases; tables resolve from storage,
        # so no metastore, no lock, and any number of sessions can share one lakehouse
        properties["spark.sql.catalogImplementation"] = "in-memory"
        properties[TABLES_ROOT_PROPERTY] = layout.tables_root
        properties[LAYERS_PROPERTY] = ",".join(layout.layers)
    if layout.kind == "local":
        properties["spark.sql.warehouse.dir"] = layout.tables_root
    if _runs_python_on_this_machine(settings.master):
        properties["spark.pyspark.python"] = sys.executable
        properties["spark.pyspark.driver.python"] = sys.executable
    user = {key: _spark_value(value) for key, value in settings.config.items() if not is_secret_property(key)}
    # the driver's Java stack traces go to a log file, one line per event to the terminal; a
    # user's own driver options come after ours, so their log4j settings win
    options = (
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG} -Dlakehouse.log.file={driver_log(layout)} "
        f"-Dlakehouse.console.level={console_level()}"
    )
    own = user.get("spark.driver.extraJavaOptions")
    properties["spark.driver.extraJavaOptions"] = f"{options} {own}" if own else options
    properties.update({key: value for key, value in user.items() if key != "spark.driver.extraJavaOptions"})
    return properties


def driver_log(layout: StorageLayout) -> str:
    """Where the Spark driver writes its full log: ``<root>/files/logs/spark/driver.log`` for a
    local lakehouse, else the user cache (a driver cannot append to ``abfss://``)."""
    if layout.kind == "local":
        return str(Path(layout.files_location("logs", "spark", "driver.log")).resolve())
    return str(user_cache_dir() / "logs" / "spark" / "driver.log")


def runtime_properties(config: LakehouseConfig) -> dict[str, str]:
    """Properties set on the running session: storage credentials, secrets, catalog paths.

    ``spark.hadoop.*`` keys go to the Hadoop configuration (which Spark hands to every task),
    the others to the session's SQL configuration. Values may hold secrets: never log them.
    """
    layout = StorageLayout.from_config(config)
    properties = {
        f"spark.hadoop.{key}": value
        for key, value in abfs_oauth_settings(config.storage.auth, layout.account_host).items()
    }
    properties.update(
        {
            key: _spark_value(value)
            for key, value in config.spark.config.items()
            if is_secret_property(key) and key != AUTH_SECRET
        }
    )
    if config.storage.catalog == "storage":
        properties[TABLES_ROOT_PROPERTY] = layout.tables_root
        properties[LAYERS_PROPERTY] = ",".join(layout.layers)
    return properties


def start_secrets(config: LakehouseConfig) -> dict[str, str]:
    """Secrets the SparkContext needs when it starts: the RPC authentication secret.

    With ``spark.authenticate`` on, the secret is ``spark.authenticate.secret`` (from the
    environment), else the one ``lakehouse cluster up`` generated in ``cluster.state_dir``.
    Values are secrets: never log them.

    Raises:
        SessionError: authentication is on and no secret is found, naming where it was looked for.
    """
    if not config.authenticates:
        return {}
    configured = str(config.spark.config.get(AUTH_SECRET) or "")
    if configured:
        return {AUTH_SECRET: configured}
    state_dir = config.resolve_path(config.cluster.state_dir)
    secret = cluster_secret(state_dir)
    if secret is None:
        raise SessionError(
            f"spark.authenticate is on (env {config.env}) but there is no secret: start the local "
            f"cluster with `lakehouse cluster up --env {config.env}` (it writes {state_dir}/auth/secret), "
            "or set LAKEHOUSE_SPARK_AUTH_SECRET to the cluster's secret"
        )
    return {AUTH_SECRET: secret}


def _launch_without_secrets(properties: dict[str, str], master: str | None, app_name: str) -> None:
    """Start the driver JVM with the public properties only.

    pyspark starts the JVM with every builder option on its ``spark-submit`` command line, where
    any process could read them; once the JVM runs, the SparkContext takes its options over py4j,
    so the secrets given to the builder afterwards never reach a command line.
    """
    if SparkContext._gateway is not None:
        return
    public = SparkConf(loadDefaults=False).setAll(list(properties.items())).setAppName(app_name)
    if master:
        public.setMaster(master)
    SparkContext._ensure_initialized(conf=public)


def apply_runtime_properties(spark: SparkSession, properties: dict[str, str]) -> None:
    """Set :func:`runtime_properties` on a running session."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in properties.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key.removeprefix("spark.hadoop."), value)
        else:
            spark.conf.set(key, value)


def build_session(config: LakehouseConfig, app_name: str | None = None) -> SparkSession:
    """Start (or join) the SparkSession of an environment, ready for lakehouse tables.

    Joins the active session when there is one (a notebook, ``spark-submit`` on a platform);
    otherwise starts one with :func:`session_properties`. Then sets
    :func:`runtime_properties`, checks that the JVM can load Delta (and the lakehouse
    catalog) and that the session uses them, and creates a Spark database per layer. Nothing
    is registered: with ``storage.catalog: storage`` a table name resolves from storage on use.

    Args:
        config: the loaded environment.
        app_name: Spark application name; defaults to ``spark.app_name``.

    Returns:
        The session; ``spark.table("silver.orders")`` works on it.

    Raises:
        JarsNotFoundError: the jars are not resolved, or the JVM cannot load Delta or our catalog.
        SessionError: a joined session was started without Delta's extension or our catalog.
    """
    settings = config.spark
    checkout = source_checkout()
    if SparkContext._active_spark_context is None:  # a joined session has its jars already
        ensure_jars(settings.jars, checkout)
    properties = session_properties(config)
    if SparkContext._active_spark_context is None:  # LightGBM's libraries, loaded once per JVM
        cache = checkout / ".cache" if checkout else user_cache_dir()
        properties.update(library_path_properties(properties, cache))
    if _runs_python_on_this_machine(settings.master):
        # Python workers run PYSPARK_PYTHON, else `python3` from PATH, which lacks our packages
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    secrets = start_secrets(config)
    if secrets:
        _launch_without_secrets(properties, settings.master, app_name or settings.app_name)
    builder = SparkSession.builder.appName(app_name or settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in {**properties, **secrets}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    apply_runtime_properties(spark, runtime_properties(config))

    needed = {"Delta Lake": REQUIRED_CLASSES["Delta Lake"]}
    if config.storage.catalog == "storage":
        needed["lakehouse catalog"] = LAKEHOUSE_CATALOG
    missing = missing_jvm_classes(spark, needed)
    if missing:
        raise JarsNotFoundError(
            f"the Spark JVM cannot load {', '.join(missing.values())} (spark.jars: {settings.jars}); "
            f"{setup_hint(checkout)}, or launch spark-submit with the properties of "
            "`lakehouse.spark.session_properties` (--properties-file jars/spark-defaults.conf in a checkout)"
        )
    _check_static_properties(spark, properties)
    ensure_layers(spark, StorageLayout.from_config(config), with_location=config.storage.catalog == "storage")
    return spark


def _check_static_properties(spark: SparkSession, properties: dict[str, str]) -> None:
    """A joined session keeps the catalog and extensions it started with: make sure they are ours.

    Reads the SparkContext's configuration, fixed at start: ``getOrCreate`` copies the builder's
    options into a joined session's SQL configuration, which then no longer tells what runs.
    """
    started_with = spark.sparkContext.getConf()
    for key in ("spark.sql.catalog.spark_catalog", "spark.sql.extensions"):
        actual = started_with.get(key, "")
        if properties[key] not in actual.split(","):
            raise SessionError(
                f"the running SparkSession has {key}={actual or '(unset)'}, but storage.catalog "
                f"'{'storage' if LAKEHOUSE_CATALOG in properties.values() else 'metastore'}' needs "
                f"{properties[key]}; start Spark with --properties-file jars/spark-defaults.conf "
                "(or --conf for this key), or use storage.catalog: metastore on a platform session"
            )


def _runs_python_on_this_machine(master: str | None) -> bool:
    """True for masters whose Python workers run beside this interpreter (local, standalone here)."""
    if master is None:
        return False
    return master.startswith("local") or master.startswith(("spark://127.0.0.1", "spark://localhost"))


def _spark_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
