"""The Maven dependencies of lakehouse: read the pom, resolve it once into a folder, key the user cache.

The pom (``jars/pom.xml``, shipped in the wheel as ``lakehouse/jvm/pom.xml``) lists the libraries
Spark needs: Delta, SynapseML LightGBM with its native jar, hadoop-azure, the PostgreSQL driver.
:func:`resolve_dependencies` asks Maven to copy them and their dependencies into a folder, then
drops every artifact that Spark already ships (Spark's copy must win).

An installed package resolves into the user cache, one folder per dependency list::

    ${LAKEHOUSE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/lakehouse}/
        jars/<key>/      the resolved jars and a .resolved stamp (key: the pom and Spark's version)
        maven/           Maven's local repository (its downloads)
        ivy/             Ivy's cache, when Spark resolves spark.jars.packages itself (no Maven)

Standard library only (see :mod:`lakehouse.jvm`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from pathlib import Path

from lakehouse.errors import JarsNotFoundError

CACHE_VARIABLE = "LAKEHOUSE_CACHE"
# A Maven settings file for the one-time resolution (a mirror, a proxy); default: Maven's own
MAVEN_SETTINGS_VARIABLE = "LAKEHOUSE_MAVEN_SETTINGS"
RESOLVED_STAMP = ".resolved"

_POM_NAMESPACE = {"m": "http://maven.apache.org/POM/4.0.0"}
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-[A-Za-z0-9.]+)*)\.jar$")


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user cache of lakehouse: ``$LAKEHOUSE_CACHE``, else ``$XDG_CACHE_HOME/lakehouse``, else
    ``~/.cache/lakehouse``.

    Args:
        environ: the environment to read; default ``os.environ``.

    Returns:
        The folder (not created).
    """
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_VARIABLE):
        return Path(environ[CACHE_VARIABLE]).expanduser().resolve()
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base).expanduser() / "lakehouse").resolve()


def spark_jars_dir() -> Path:
    """The ``jars`` folder of the installed pip ``pyspark``, found without importing it.

    Returns:
        The folder of Spark's own jars (``.../site-packages/pyspark/jars``).

    Raises:
        JarsNotFoundError: pyspark is not installed in this environment.
    """
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise JarsNotFoundError(
            "pyspark is not installed in this Python environment: its jars are needed to resolve "
            "and compile lakehouse's JVM part (build with `pip wheel --no-build-isolation` in an "
            "environment that has pyspark 3.5)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "jars"


def spark_version() -> str:
    """The version of the installed pip ``pyspark`` (``unknown`` when it is missing)."""
    try:
        return importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def artifact_of(jar_file: str) -> str:
    """The artifact name of a jar file, without its version (``delta-spark_2.12-3.3.3.jar``)."""
    match = _VERSIONED_JAR.match(jar_file)
    return match.group("artifact") if match else jar_file.removesuffix(".jar")


def _pom_dependencies(pom: Path) -> list[tuple[str, list[str], list[str]]]:
    """``(scope, [group, artifact, version], ["group:artifact" exclusions])`` per dependency, with
    ``${property}`` references expanded."""
    try:
        root = ElementTree.parse(pom).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise JarsNotFoundError(f"{pom}: cannot read the pom ({error})") from None
    properties = {
        element.tag.split("}")[1]: (element.text or "").strip()
        for element in root.find("m:properties", _POM_NAMESPACE) or []
    }

    def expand(text: str | None) -> str:
        return re.sub(
            r"\$\{([^}]+)\}", lambda m: properties.get(m.group(1), m.group(0)), (text or "").strip()
        )

    dependencies = []
    for dependency in root.iterfind("m:dependencies/m:dependency", _POM_NAMESPACE):
        scope = dependency.findtext("m:scope", default="compile", namespaces=_POM_NAMESPACE).strip()
        parts = [
            expand(dependency.findtext(f"m:{tag}", namespaces=_POM_NAMESPACE))
            for tag in ("groupId", "artifactId", "version")
        ]
        exclusions = [
            ":".join(
                expand(exclusion.findtext(f"m:{tag}", namespaces=_POM_NAMESPACE))
                for tag in ("groupId", "artifactId")
            )
            for exclusion in dependency.iterfind("m:exclusions/m:exclusion", _POM_NAMESPACE)
        ]
        dependencies.append((scope, parts, exclusions))
    return dependencies


def maven_coordinates(pom: Path) -> list[str]:
    """``group:artifact:version`` of the pom's direct dependencies that Spark does not provide.

    Used by ``spark.jars: packages`` (and the fallback without Maven), where Spark resolves them
    itself at start.

    Args:
        pom: the pom file.

    Returns:
        The coordinates, in the pom's order.

    Raises:
        JarsNotFoundError: the pom cannot be read.
    """
    return [":".join(parts) for scope, parts, _ in _pom_dependencies(pom) if scope != "provided"]


def maven_exclusions(pom: Path) -> list[str]:
    """The exclusions of the pom's dependencies, for ``spark.jars.excludes``.

    Args:
        pom: the pom file.

    Returns:
        ``group:artifact`` of each exclusion, once, in the pom's order.

    Raises:
        JarsNotFoundError: the pom cannot be read.
    """
    found = [
        item for scope, _, exclusions in _pom_dependencies(pom) if scope != "provided" for item in exclusions
    ]
    return list(dict.fromkeys(found))


def dependencies_key(pom: Path) -> str:
    """The cache key of a dependency list: a digest of the pom's dependencies and Spark's version.

    Another pom (a new Delta version) or another pyspark (which decides what is dropped) gets a
    folder of its own; comments and formatting of the pom do not count.

    Args:
        pom: the pom file.

    Returns:
        16 hexadecimal digits.

    Raises:
        JarsNotFoundError: the pom cannot be read.
    """
    lines = [f"spark {spark_version()}"]
    lines += [
        f"{scope} {':'.join(parts)} -{','.join(exclusions)}"
        for scope, parts, exclusions in _pom_dependencies(pom)
    ]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def cached_dependencies_dir(pom: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The folder of the user cache that holds (or will hold) the resolved jars of ``pom``.

    Args:
        pom: the pom file.
        environ: the environment (``LAKEHOUSE_CACHE``, ``XDG_CACHE_HOME``); default ``os.environ``.

    Returns:
        ``<user cache>/jars/<key>`` (:func:`dependencies_key`).
    """
    return user_cache_dir(environ) / "jars" / dependencies_key(pom)


def is_resolved(folder: Path) -> bool:
    """True when ``folder`` holds a finished resolution (its stamp is written last)."""
    return (folder / RESOLVED_STAMP).is_file()


def resolved_jars(folder: Path) -> list[Path]:
    """The jar files of a resolved folder, sorted, as absolute paths."""
    return sorted(path.resolve() for path in folder.glob("*.jar"))


def resolve_dependencies(
    pom: Path,
    target: Path,
    local_repository: Path,
    environ: Mapping[str, str] | None = None,
    maven: str = "mvn",
    replace: bool = True,
) -> list[Path]:
    """Copy the jars of ``pom`` and their runtime dependencies into ``target``, minus Spark's own.

    Maven copies into a staging folder beside ``target``, which then replaces ``target`` in one
    rename with its ``.resolved`` stamp already inside: a concurrent session sees either no folder
    or a finished one, and an interrupted resolution leaves no half folder behind.

    Args:
        pom: the pom that lists the dependencies.
        target: the folder to fill (replaced when it exists).
        local_repository: Maven's local repository (its download cache).
        environ: the environment; ``$LAKEHOUSE_MAVEN_SETTINGS`` names a Maven settings file (a
            mirror, a proxy), else Maven reads its own (``~/.m2/settings.xml``).
        maven: the Maven executable.
        replace: replace a ``target`` that is already resolved (a checkout's ``jars/lib`` after
            the pom changed). False for a folder named after its pom (the user cache): when
            another process resolved it meanwhile, its folder is kept, so the jar paths that
            process put in ``spark.jars`` stay valid.

    Returns:
        The jar files now in ``target``.

    Raises:
        JarsNotFoundError: Maven is not on PATH, or the resolution failed (its output is included).
    """
    environ = os.environ if environ is None else environ
    if shutil.which(maven) is None:
        raise JarsNotFoundError(
            f"Maven ({maven}) is not on PATH; it is needed once to resolve {pom} (install Maven, "
            "e.g. `apt-get install maven`, or set spark.jars: packages to let Spark resolve them)"
        )
    spark_artifacts = {artifact_of(jar.name) for jar in spark_jars_dir().glob("*.jar")}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        downloads = staging / "all"
        _copy_dependencies(maven, pom, local_repository, environ, downloads, staging)
        kept = staging / "kept"
        kept.mkdir()
        for jar in sorted(downloads.glob("*.jar")):
            if artifact_of(jar.name) not in spark_artifacts:
                shutil.move(str(jar), kept / jar.name)
        (kept / RESOLVED_STAMP).write_text(f"{pom}\n", encoding="utf-8")
        if replace or not is_resolved(target):
            _replace_folder(kept, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return resolved_jars(target)


def _copy_dependencies(
    maven: str, pom: Path, local_repository: Path, environ: Mapping[str, str], downloads: Path, cwd: Path
) -> None:
    """Run Maven's ``dependency:copy-dependencies`` of ``pom`` (runtime scope) into ``downloads``."""
    command = [maven, "-B", "-q", "-f", str(pom), f"-Dmaven.repo.local={local_repository}"]
    if environ.get(MAVEN_SETTINGS_VARIABLE):
        command += ["-s", environ[MAVEN_SETTINGS_VARIABLE]]
    command += ["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={downloads}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    if result.returncode != 0:
        raise JarsNotFoundError(
            f"Maven could not resolve {pom} (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-4000:]}"
        )


def _replace_folder(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing a previous ``target`` (renames, no copy)."""
    previous = None
    if target.exists():
        previous = target.with_name(f".{target.name}-old-{os.getpid()}")
        target.rename(previous)
    source.rename(target)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
