"""The JVM part of lakehouse: our Java classes compiled into one jar, and the Maven libraries Spark needs.

Where they are depends on how lakehouse is installed:

- **A wheel** (``pip install lakehouse-*.whl``): the jar compiled from ``jars/src``
  (``lakehouse-catalog.jar``: the layer catalog and the LightGBM batch scorer) and the pom that
  lists the Maven dependencies travel inside the package, in this folder. The dependencies
  resolve once into the user cache (:mod:`lakehouse.jvm.maven`); later starts are offline.
- **A source checkout** (``make setup``: ``pip install -e .``): ``jars/pom.xml`` and ``jars/src``;
  ``make setup`` resolves the dependencies and compiles the jar into ``jars/lib``.

This package uses the standard library only: the wheel's build hook (``setup.py``) imports it
before any dependency is installed.
"""

from __future__ import annotations

from pathlib import Path

from lakehouse.errors import JarsNotFoundError

PACKAGE_DIR = Path(__file__).resolve().parent
# Our own classes (jars/src): io.lakehouse.spark.LakehouseCatalog and LightGBMBatchScorer
CATALOG_JAR = "lakehouse-catalog.jar"
POM = "pom.xml"


def source_checkout() -> Path | None:
    """The source checkout this package runs from (an editable install), or None.

    Returns:
        The checkout's root folder (holding ``pyproject.toml``, ``jars/pom.xml`` and ``lakehouse/``)
        when the running ``lakehouse`` package is its ``lakehouse/`` folder; None for an installed
        wheel, whose package folder has no ``jars/`` beside it.
    """
    root = PACKAGE_DIR.parents[1]
    if (root / "jars" / POM).is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def bundled_pom() -> Path:
    """The pom that lists the Maven dependencies: the wheel's copy, else the checkout's ``jars/pom.xml``.

    Returns:
        The pom file.

    Raises:
        JarsNotFoundError: neither exists (a package built without its build hook).
    """
    packaged = PACKAGE_DIR / POM
    if packaged.is_file():
        return packaged
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "jars" / POM
    raise JarsNotFoundError(
        f"{packaged} is missing: this lakehouse package was built without its JVM part; "
        "reinstall it from a wheel built by `pip wheel` (setup.py's build hook adds the pom and the jar)"
    )


def bundled_catalog_jar(checkout: Path | None = None) -> Path:
    """Our compiled jar: the wheel's copy, else the one ``make setup`` built into ``<checkout>/jars/lib``.

    Args:
        checkout: the source checkout to look in when the package holds no jar; default
            :func:`source_checkout`.

    Returns:
        The jar file.

    Raises:
        JarsNotFoundError: no compiled jar, naming the fix.
    """
    packaged = PACKAGE_DIR / CATALOG_JAR
    if packaged.is_file():
        return packaged
    checkout = checkout if checkout is not None else source_checkout()
    if checkout is not None:
        built = checkout / "jars" / "lib" / CATALOG_JAR
        if built.is_file():
            return built
        raise JarsNotFoundError(
            f"{built} is missing: run `make setup` (or `lakehouse jars resolve`) once in {checkout}; "
            "it compiles jars/src with javac"
        )
    raise JarsNotFoundError(
        f"{packaged} is missing: this lakehouse package was built without its JVM part; "
        "reinstall it from a wheel built with a JDK 17 (javac) by `pip wheel`"
    )
