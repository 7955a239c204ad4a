"""The JVM libraries lakehouse adds to Spark: resolve them once, then start offline.

``jars/pom.xml`` declares them (Delta, SynapseML LightGBM with its native jar, hadoop-azure).
``resolve_jars`` asks Maven to copy them and their dependencies from Maven Central into
``jars/lib``, then drops every artifact that Spark already ships (Spark's copy must win), and
writes ``jars/spark-defaults.conf`` so that a plain ``spark-submit`` sees the same classpath.

Run it as ``lakehouse jars resolve`` (``make setup`` does).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pyspark

from lakehouse.errors import JarsNotFoundError

# What a session must be able to load, by the library that provides it.
REQUIRED_CLASSES = {
    "Delta Lake": "io.delta.tables.DeltaTable",
    "SynapseML LightGBM": "com.microsoft.azure.synapse.ml.lightgbm.LightGBMClassifier",
    "LightGBM native library": "com.microsoft.ml.lightgbm.lightgbmlib",
    "SynapseML KNN": "com.microsoft.azure.synapse.ml.nn.KNN",
    "hadoop-azure (abfss://)": "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem",
    "lakehouse catalog": "io.lakehouse.spark.LakehouseCatalog",
    "lakehouse LightGBM batch scorer": "io.lakehouse.spark.LightGBMBatchScorer",
}
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# Our own small catalog (jars/src): resolves <layer>.<table> from storage, see storage/catalog.py
LAKEHOUSE_CATALOG = "io.lakehouse.spark.LakehouseCatalog"
CATALOG_JAR = "lakehouse-catalog.jar"

_POM_NAMESPACE = {"m": "http://maven.apache.org/POM/4.0.0"}
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-[A-Za-z0-9.]+)*)\.jar$")


def spark_home() -> Path:
    """The Spark installation of the pip ``pyspark`` package in use."""
    return Path(pyspark.__file__).resolve().parent


def artifact_of(jar_file: str) -> str:
    """The artifact name of a jar file, without its version (``delta-spark_2.12-3.3.3.jar``)."""
    match = _VERSIONED_JAR.match(jar_file)
    return match.group("artifact") if match else jar_file.removesuffix(".jar")


def local_jars(jars_dir: Path) -> list[str]:
    """The jar files that ``make setup`` resolved, as absolute paths.

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


def maven_coordinates(pom: Path) -> list[str]:
    """``group:artifact:version`` of the pom's direct dependencies that Spark does not provide.

    Used by ``spark.jars: packages``, where Spark resolves them itself at start.
    """
    root = ElementTree.parse(pom).getroot()
    properties = {
        element.tag.split("}")[1]: (element.text or "").strip()
        for element in root.find("m:properties", _POM_NAMESPACE) or []
    }

    def expand(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: properties.get(m.group(1), m.group(0)), text.strip())

    coordinates = []
    for dependency in root.iterfind("m:dependencies/m:dependency", _POM_NAMESPACE):
        scope = dependency.findtext("m:scope", default="compile", namespaces=_POM_NAMESPACE)
        if scope.strip() == "provided":
            continue
        parts = [
            dependency.findtext(f"m:{tag}", namespaces=_POM_NAMESPACE)
            for tag in ("groupId", "artifactId", "version")
        ]
        coordinates.append(":".join(expand(part) for part in parts))
    return coordinates


def resolve_jars(project_dir: Path, maven: str = "mvn") -> list[Path]:
    """Copy the jars of ``jars/pom.xml`` and their dependencies into ``jars/lib``.

    Args:
        project_dir: folder that holds ``jars/pom.xml``.
        maven: the Maven executable.

    Returns:
        The jar files now in ``jars/lib``.

    Raises:
        JarsNotFoundError: Maven is missing or the resolution failed (its output is included).
    """
    jars_dir = project_dir / "jars"
    pom = jars_dir / "pom.xml"
    if shutil.which(maven) is None:
        raise JarsNotFoundError(f"Maven ({maven}) is not on PATH; it is needed once to resolve {pom}")
    local_repository = project_dir / ".cache" / "maven"
    with tempfile.TemporaryDirectory(dir=jars_dir) as staging:
        command = [
            maven,
            "-B",
            "-q",
            "-f",
            str(pom),
            f"-Dmaven.repo.local={local_repository}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise JarsNotFoundError(
                f"Maven could not resolve {pom} (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-4000:]}"
            )
        spark_artifacts = {artifact_of(jar.name) for jar in (spark_home() / "jars").glob("*.jar")}
        target = jars_dir / "lib"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        for jar in sorted(Path(staging).glob("*.jar")):
            if artifact_of(jar.name) not in spark_artifacts:
                shutil.move(str(jar), target / jar.name)
    build_catalog_jar(jars_dir / "src", target)
    jars = sorted(target.glob("*.jar"))
    write_spark_defaults(project_dir, [str(jar.resolve()) for jar in jars])
    return jars


def build_catalog_jar(sources: Path, target: Path) -> Path:
    """Compile the Java sources of ``jars/src`` against Spark's and the resolved jars.

    Returns:
        The jar written into ``target``.

    Raises:
        JarsNotFoundError: no ``javac`` (a JDK, not only a JRE, is needed once) or it failed.
    """
    java_home = os.environ.get("JAVA_HOME")
    javac = str(Path(java_home) / "bin" / "javac") if java_home else shutil.which("javac")
    if not javac or not Path(javac).exists():
        raise JarsNotFoundError("javac is not found (set JAVA_HOME to a JDK 17); it compiles jars/src once")
    classpath = os.pathsep.join([str(spark_home() / "jars" / "*"), str(target / "*")])
    java_files = sorted(str(path) for path in sources.rglob("*.java"))
    if not java_files:
        raise JarsNotFoundError(f"no *.java under {sources}: the lakehouse catalog cannot be built")
    with tempfile.TemporaryDirectory() as classes:
        # Java 8 bytecode, like Spark's own, so the jar also loads on older cluster JVMs
        command = [javac, "--release", "8", "-Xlint:-options", "-cp", classpath, "-d", classes, *java_files]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise JarsNotFoundError(f"javac failed on {sources}:\n{(result.stdout + result.stderr)[-4000:]}")
        jar = target / CATALOG_JAR
        with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: lakehouse\n")
            for class_file in sorted(Path(classes).rglob("*.class")):
                archive.write(class_file, class_file.relative_to(classes).as_posix())
    return jar


def write_spark_defaults(project_dir: Path, jars: list[str]) -> Path:
    """Write ``jars/spark-defaults.conf`` and install it as the pip Spark's defaults.

    A plain ``spark-submit jobs/<name>.py`` starts the driver JVM before any Python runs, so
    the jars must be on its command line or in its defaults file: this puts them there.
    Other Spark installations can use it with ``spark-submit --properties-file``.
    """
    lines = [
        "# Written by `lakehouse jars resolve` (make setup); do not edit.",
        f"spark.jars {','.join(jars)}",
        f"spark.sql.extensions {DELTA_EXTENSION}",
        f"spark.sql.catalog.spark_catalog {LAKEHOUSE_CATALOG}",
        f"spark.pyspark.python {sys.executable}",
        f"spark.pyspark.driver.python {sys.executable}",
    ]
    defaults = project_dir / "jars" / "spark-defaults.conf"
    defaults.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conf_dir = spark_home() / "conf"
    conf_dir.mkdir(exist_ok=True)
    shutil.copyfile(defaults, conf_dir / "spark-defaults.conf")
    return defaults


def missing_jvm_classes(spark, classes: dict[str, str] | None = None) -> dict[str, str]:
    """The required JVM classes that the running session cannot load, by library.

    Args:
        spark: a running SparkSession.
        classes: library -> class name; defaults to :data:`REQUIRED_CLASSES`.
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
    parser = argparse.ArgumentParser(prog="python -m lakehouse.spark.jars", description=__doc__)
    parser.add_argument("command", choices=["resolve", "list", "coordinates"])
    parser.add_argument("--project-dir", type=Path, default=Path(os.getcwd()))
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    try:
        if args.command == "resolve":
            jars = resolve_jars(project_dir)
            size = sum(jar.stat().st_size for jar in jars) / 2**20
            print(f"resolved {len(jars)} jars ({size:.0f} MiB) into {project_dir / 'jars' / 'lib'}")
        elif args.command == "list":
            print("\n".join(local_jars(project_dir / "jars" / "lib")))
        else:
            print("\n".join(maven_coordinates(project_dir / "jars" / "pom.xml")))
    except JarsNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
