"""The JVM jars a session loads: where they are found, resolving them once, then starting offline.

With ``spark.jars: local`` (the default) a session's jars are looked up in this order:

1. **A source checkout** (``make setup``, an editable install): ``<checkout>/jars/lib``, which
   ``lakehouse jars resolve`` fills with the Maven dependencies of ``jars/pom.xml`` and the jar
   compiled from ``jars/src``; it also writes ``jars/spark-defaults.conf`` and installs it as the
   pip Spark's defaults, so that a plain ``spark-submit`` sees the same classpath.
2. **An installed wheel**: our jar from the package (``lakehouse/jvm/lakehouse-catalog.jar``) plus
   the dependencies resolved into the user cache (``<cache>/jars/<key>``, see
   :mod:`lakehouse.jvm.maven`). When that folder is not resolved yet, the first session start
   resolves it with Maven (``lakehouse jars resolve`` does it ahead of time); later starts are offline.
3. **No Maven** on PATH and nothing resolved: Spark resolves the pom's coordinates itself
   (``spark.jars.packages``), with Ivy's cache under the user cache (``<cache>/ivy``).

``spark.jars: packages`` always takes the third way; ``provided`` adds no jar (the platform has them).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from lakehouse.errors import JarsNotFoundError
from lakehouse.jvm import CATALOG_JAR, bundled_catalog_jar, bundled_pom, source_checkout
from lakehouse.jvm.build import compile_jar
from lakehouse.jvm.maven import (
    artifact_of,
    cached_dependencies_dir,
    is_resolved,
    maven_coordinates,
    maven_exclusions,
    resolve_dependencies,
    resolved_jars,
    spark_jars_dir,
    user_cache_dir,
)
from lakehouse.spark.natives import library_path_properties

log = logging.getLogger(__name__)

# What a session must be able to load, by the library that provides it.
REQUIRED_CLASSES = {
    "Delta Lake": "io.delta.tables.DeltaTable",
    "SynapseML LightGBM": "com.microsoft.azure.synapse.ml.lightgbm.LightGBMClassifier",
    "LightGBM native library": "com.microsoft.ml.lightgbm.lightgbmlib",
    "hadoop-azure (abfss://)": "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem",
    "lakehouse catalog": "io.lakehouse.spark.LakehouseCatalog",
    "lakehouse LightGBM batch scorer": "io.lakehouse.spark.LightGBMBatchScorer",
}
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# Our own small catalog (jars/src): resolves <layer>.<table> from storage, see storage/catalog.py
LAKEHOUSE_CATALOG = "io.lakehouse.spark.LakehouseCatalog"

__all__ = [
    "CATALOG_JAR",
    "DELTA_CATALOG",
    "DELTA_EXTENSION",
    "LAKEHOUSE_CATALOG",
    "REQUIRED_CLASSES",
    "artifact_of",
    "ensure_jars",
    "jar_properties",
    "local_jars",
    "maven_coordinates",
    "missing_jvm_classes",
    "resolve_jars",
    "setup_hint",
    "spark_home",
]


def spark_home() -> Path:
    """The Spark installation of the pip ``pyspark`` package in use."""
    return spark_jars_dir().resolve().parent


def local_jars(jars_dir: Path) -> list[str]:
    """The jar files that ``make setup`` resolved into a checkout's ``jars/lib``, as absolute paths.

    Args:
        jars_dir: the folder (``<checkout>/jars/lib``).

    Returns:
        The jar files, sorted.

    Raises:
        JarsNotFoundError: the folder is missing or holds no jar.
    """
    jars = sorted(str(path.resolve()) for path in Path(jars_dir).glob("*.jar"))
    if not jars:
        raise JarsNotFoundError(
            f"no JVM jars in {jars_dir} (spark.jars is 'local'); run `make setup` or "
            "`lakehouse jars resolve` once while Maven Central is reachable"
        )
    return jars


def setup_hint(checkout: Path | None) -> str:
    """How to get the jars in place, for messages: ``make setup`` in a checkout, else the command."""
    if checkout is not None:
        return f"run `make setup` (or `lakehouse jars resolve`) in {checkout}"
    return "run `lakehouse jars resolve` once (it needs Maven and Maven Central, or your mirror)"


def jar_properties(
    mode: str, checkout: Path | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The Spark properties that put the JVM jars on a session's classpath.

    Pure: reads folders, starts and downloads nothing (see :func:`ensure_jars` for that).

    Args:
        mode: ``spark.jars``: ``local``, ``packages`` or ``provided``.
        checkout: the source checkout the package runs from (:func:`lakehouse.jvm.source_checkout`),
            or None for an installed wheel.
        environ: the environment (``LAKEHOUSE_CACHE``); default ``os.environ``.

    Returns:
        ``spark.jars`` (and, resolving through Spark, ``spark.jars.packages``, ``spark.jars.ivy``,
        ``spark.jars.excludes``); empty for ``provided``.

    Raises:
        JarsNotFoundError: ``local`` jars are not resolved yet (naming the fix).
    """
    if mode == "provided":
        return {}
    if mode == "packages":
        return _packages_properties(checkout, environ)
    if checkout is not None:
        return {"spark.jars": ",".join(local_jars(checkout / "jars" / "lib"))}
    folder = cached_dependencies_dir(bundled_pom(), environ)
    if is_resolved(folder):
        catalog = bundled_catalog_jar(checkout)
        return {"spark.jars": ",".join(str(jar) for jar in [catalog, *resolved_jars(folder)])}
    if shutil.which("mvn") is None:
        return _packages_properties(checkout, environ)
    raise JarsNotFoundError(f"the JVM jars are not resolved yet in {folder}; {setup_hint(checkout)}")


def _packages_properties(checkout: Path | None, environ: Mapping[str, str] | None) -> dict[str, str]:
    """Spark resolves the pom's coordinates at start (Ivy, cached under the user cache); our own jar,
    which is on no Maven repository, ships as a file."""
    pom = bundled_pom()
    properties = {
        "spark.jars.packages": ",".join(maven_coordinates(pom)),
        "spark.jars.ivy": str(user_cache_dir(environ) / "ivy"),
        "spark.jars": str(bundled_catalog_jar(checkout)),
    }
    excludes = maven_exclusions(pom)
    if excludes:
        properties["spark.jars.excludes"] = ",".join(excludes)
    return properties


def ensure_jars(mode: str, checkout: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Resolve an installed package's Maven dependencies into the user cache, once, if a session needs them.

    Does nothing for a source checkout (``make setup`` resolves ``jars/lib``), for ``packages`` and
    ``provided``, and when the cache is already resolved (then a start needs no network). Without
    Maven it does nothing either: :func:`jar_properties` then lets Spark resolve them through Ivy.

    Args:
        mode: ``spark.jars``.
        checkout: the source checkout, or None for an installed wheel.
        environ: the environment (``LAKEHOUSE_CACHE``, ``LAKEHOUSE_MAVEN_SETTINGS``).

    Returns:
        The resolved folder of the user cache, or None when none is used.

    Raises:
        JarsNotFoundError: Maven failed (its output is included).
    """
    if mode != "local" or checkout is not None:
        return None
    pom = bundled_pom()
    folder = cached_dependencies_dir(pom, environ)
    if is_resolved(folder):
        return folder
    if shutil.which("mvn") is None:
        log.warning(
            "Maven (mvn) is not on PATH: Spark resolves the JVM jars itself (spark.jars.packages), "
            "caching them in %s",
            user_cache_dir(environ) / "ivy",
        )
        return None
    log.info("resolving the JVM jars once with Maven into %s (later starts are offline)", folder)
    resolve_dependencies(pom, folder, user_cache_dir(environ) / "maven", environ, replace=False)
    return folder


def resolve_jars(checkout: Path | None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Resolve the JVM jars: what ``lakehouse jars resolve`` (and ``make setup``) does.

    In a source checkout: the Maven dependencies of ``jars/pom.xml`` and the jar compiled from
    ``jars/src`` into ``jars/lib``, then ``jars/spark-defaults.conf``, also installed as the pip
    Spark's defaults. For an installed wheel: the dependencies into the user cache, with a
    ``spark-defaults.conf`` there (for ``spark-submit --properties-file``).

    Args:
        checkout: the source checkout, or None for an installed wheel.
        environ: the environment (``LAKEHOUSE_CACHE``, ``LAKEHOUSE_MAVEN_SETTINGS``).

    Returns:
        Every jar a session then loads.

    Raises:
        JarsNotFoundError: Maven or javac is missing, or one of them failed.
    """
    if checkout is not None:
        target = checkout / "jars" / "lib"
        resolve_dependencies(checkout / "jars" / "pom.xml", target, checkout / ".cache" / "maven", environ)
        compile_jar(checkout / "jars" / "src", [spark_jars_dir() / "*", target / "*"], target / CATALOG_JAR)
        jars = sorted(target.glob("*.jar"))
        defaults = checkout / "jars" / "spark-defaults.conf"
        write_spark_defaults(defaults, jars, install=True, cache=checkout / ".cache")
        return jars
    pom = bundled_pom()
    folder = cached_dependencies_dir(pom, environ)
    resolve_dependencies(pom, folder, user_cache_dir(environ) / "maven", environ, replace=False)
    jars = [bundled_catalog_jar(checkout), *resolved_jars(folder)]
    write_spark_defaults(folder / "spark-defaults.conf", jars, install=False, cache=user_cache_dir(environ))
    return jars


def write_spark_defaults(defaults: Path, jars: list[Path], install: bool, cache: Path | None = None) -> Path:
    """Write a Spark defaults file naming the jars, the Delta extension and our catalog.

    A plain ``spark-submit jobs/<name>.py`` starts the driver JVM before any Python runs, so the
    jars must be on its command line or in its defaults file. Other Spark installations can use
    the file with ``spark-submit --properties-file``.

    Args:
        defaults: the file to write.
        jars: the jar files.
        install: also copy it to the pip Spark's ``conf/spark-defaults.conf`` (a checkout's own
            venv only: an installed package never rewrites a Spark it may share).
        cache: where LightGBM's native libraries are extracted once, for the library path (see
            :mod:`lakehouse.spark.natives`); None leaves the library path out.

    Returns:
        ``defaults``.
    """
    lines = [
        "# Written by `lakehouse jars resolve` (make setup); do not edit.",
        f"spark.jars {','.join(str(jar.resolve()) for jar in jars)}",
        f"spark.sql.extensions {DELTA_EXTENSION}",
        f"spark.sql.catalog.spark_catalog {LAKEHOUSE_CATALOG}",
        f"spark.pyspark.python {sys.executable}",
        f"spark.pyspark.driver.python {sys.executable}",
    ]
    if cache is not None:
        spark_jars = {"spark.jars": ",".join(str(jar.resolve()) for jar in jars)}
        lines += [f"{key} {value}" for key, value in library_path_properties(spark_jars, cache).items()]
    defaults.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if install:
        conf_dir = spark_home() / "conf"
        conf_dir.mkdir(exist_ok=True)
        shutil.copyfile(defaults, conf_dir / "spark-defaults.conf")
    return defaults


def missing_jvm_classes(spark, classes: dict[str, str] | None = None) -> dict[str, str]:
    """The required JVM classes that the running session cannot load, by library.

    Args:
        spark: a running SparkSession.
        classes: library -> class name; defaults to :data:`REQUIRED_CLASSES`.

    Returns:
        library -> class name of each class that does not load; empty when all do.
    """
    jvm = spark.sparkContext._jvm
    loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
    missing = {}
    for library, class_name in (classes or REQUIRED_CLASSES).items():
        try:
            jvm.java.lang.Class.forName(class_name, False, loader)
        except Exception:  # py4j wraps ClassNotFoundException
            missing[library] = class_name
    return missing


def main(argv: list[str] | None = None) -> int:
    """``lakehouse jars resolve|list|coordinates``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="lakehouse jars", description=__doc__)
    parser.add_argument("command", choices=["resolve", "list", "coordinates"])
    args = parser.parse_args(argv)
    checkout = source_checkout()
    try:
        if args.command == "resolve":
            jars = resolve_jars(checkout, os.environ)
            size = sum(jar.stat().st_size for jar in jars) / 2**20
            where = checkout / "jars" / "lib" if checkout else cached_dependencies_dir(bundled_pom())
            print(f"resolved {len(jars)} jars ({size:.0f} MiB) into {where}")
        elif args.command == "list":
            properties = jar_properties("local", checkout, os.environ)
            if "spark.jars.packages" in properties:
                print(f"not resolved (no Maven): Spark resolves {properties['spark.jars.packages']}")
            print("\n".join(properties["spark.jars"].split(",")))
        else:
            print("\n".join(maven_coordinates(bundled_pom())))
    except JarsNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
