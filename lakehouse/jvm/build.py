"""Compile ``jars/src`` into ``lakehouse-catalog.jar``: for ``make setup`` and for the wheel's build hook.

The Java classes (the layer catalog, the LightGBM batch scorer) compile against Spark's jars (the
pip ``pyspark``'s ``jars`` folder) and the resolved Maven dependencies (Delta, SynapseML, the
LightGBM native wrapper). :func:`package_jvm` is what ``setup.py`` runs when it builds a wheel: it
puts the compiled jar and the pom into the package's ``lakehouse/jvm`` folder.

Standard library only (see :mod:`lakehouse.jvm`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lakehouse.errors import JarsNotFoundError
from lakehouse.jvm import CATALOG_JAR, POM
from lakehouse.jvm.maven import (
    cached_dependencies_dir,
    is_resolved,
    resolve_dependencies,
    resolved_jars,
    spark_jars_dir,
    user_cache_dir,
)


def find_javac(environ: Mapping[str, str] | None = None) -> str:
    """The ``javac`` of ``$JAVA_HOME``, else the one on PATH.

    Raises:
        JarsNotFoundError: no JDK (a JRE has no javac), naming the fix.
    """
    environ = os.environ if environ is None else environ
    java_home = environ.get("JAVA_HOME")
    javac = str(Path(java_home) / "bin" / "javac") if java_home else shutil.which("javac")
    if not javac or not Path(javac).exists():
        raise JarsNotFoundError(
            "javac is not found (install a JDK 17, e.g. `apt-get install openjdk-17-jdk-headless`, "
            "or set JAVA_HOME to one); it compiles jars/src once"
        )
    return javac


def compile_jar(sources: Path, classpath: Sequence[Path | str], jar: Path) -> Path:
    """Compile every ``*.java`` under ``sources`` into ``jar`` (Java 8 bytecode, like Spark's own).

    Args:
        sources: the folder of Java sources (``jars/src``).
        classpath: jar files or ``folder/*`` wildcards to compile against.
        jar: the jar file to write (replaced).

    Returns:
        ``jar``.

    Raises:
        JarsNotFoundError: no javac, no sources, or javac failed (its output is included).
    """
    javac = find_javac()
    java_files = sorted(str(path) for path in Path(sources).rglob("*.java"))
    if not java_files:
        raise JarsNotFoundError(f"no *.java under {sources}: the lakehouse catalog cannot be built")
    with tempfile.TemporaryDirectory() as classes:
        # Java 8 bytecode, like Spark's own, so the jar also loads on older cluster JVMs
        command = [javac, "--release", "8", "-Xlint:-options", "-cp", os.pathsep.join(map(str, classpath))]
        result = subprocess.run(
            [*command, "-d", classes, *java_files], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise JarsNotFoundError(f"javac failed on {sources}:\n{(result.stdout + result.stderr)[-4000:]}")
        jar.parent.mkdir(parents=True, exist_ok=True)
        partial = jar.with_name(f".{jar.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: lakehouse\n")
            for class_file in sorted(Path(classes).rglob("*.class")):
                archive.write(class_file, class_file.relative_to(classes).as_posix())
        partial.replace(jar)
    return jar


def dependency_jars_for_build(source_root: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The Maven dependency jars to compile ``jars/src`` against, for a wheel built from ``source_root``.

    A checkout where ``make setup`` ran has them in ``jars/lib``; a fresh one resolves them with
    Maven into the user cache (the same folder a session of the installed wheel then finds).

    Raises:
        JarsNotFoundError: Maven is needed and missing, or failed.
    """
    built = [jar for jar in sorted((source_root / "jars" / "lib").glob("*.jar")) if jar.name != CATALOG_JAR]
    if built:
        return built
    pom = source_root / "jars" / POM
    folder = cached_dependencies_dir(pom, environ)
    if not is_resolved(folder):
        resolve_dependencies(pom, folder, user_cache_dir(environ) / "maven", environ, replace=False)
    return resolved_jars(folder)


def package_jvm(source_root: Path, package_dir: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Put the JVM part into a package being built: the compiled jar and the pom.

    Args:
        source_root: the source tree (``jars/pom.xml``, ``jars/src``).
        package_dir: the ``lakehouse/jvm`` folder of the package being built (``build/lib/...``).
        environ: the environment (user cache, Maven settings).

    Returns:
        The files written: ``pom.xml`` and ``lakehouse-catalog.jar``.

    Raises:
        JarsNotFoundError: no pyspark, javac or Maven where one is needed, or a step failed.
    """
    pom = source_root / "jars" / POM
    if not pom.is_file():
        raise JarsNotFoundError(f"{pom} is missing: a wheel is built from the source tree that holds jars/")
    classpath = [spark_jars_dir() / "*", *dependency_jars_for_build(source_root, environ)]
    package_dir.mkdir(parents=True, exist_ok=True)
    jar = compile_jar(source_root / "jars" / "src", classpath, package_dir / CATALOG_JAR)
    shutil.copyfile(pom, package_dir / POM)
    return [package_dir / POM, jar]
