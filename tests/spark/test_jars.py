"""Where a session's JVM jars come from: the checkout's jars/lib, or the user cache resolved once by Maven."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from lakehouse.errors import JarsNotFoundError
from lakehouse.jvm import CATALOG_JAR, bundled_pom, source_checkout
from lakehouse.jvm.build import compile_jar
from lakehouse.jvm.maven import (
    artifact_of,
    cached_dependencies_dir,
    dependencies_key,
    is_resolved,
    maven_exclusions,
    resolve_dependencies,
    spark_jars_dir,
    user_cache_dir,
)
from lakehouse.spark.jars import ensure_jars, jar_properties, resolve_jars
from tests.conftest import PROJECT_DIR

# Maven answers from the repository's own filled local repository (make setup), as it would from a
# company mirror: offline and fast, through the same resolution code as Maven Central.
FILLED_REPOSITORY = PROJECT_DIR / ".cache" / "maven"
needs_maven = pytest.mark.skipif(
    shutil.which("mvn") is None or not FILLED_REPOSITORY.is_dir(),
    reason="needs mvn and the local Maven repository that `make setup` fills",
)


def mirror_settings(folder: Path) -> Path:
    """A Maven settings file that sends every download to the filled local repository."""
    settings = folder / "settings.xml"
    settings.write_text(
        "<settings><mirrors><mirror><id>filled</id><mirrorOf>*</mirrorOf>"
        f"<url>{FILLED_REPOSITORY.as_uri()}</url></mirror></mirrors></settings>\n",
        encoding="utf-8",
    )
    return settings


def test_a_source_checkout_uses_its_jars_lib():
    assert source_checkout() == PROJECT_DIR
    assert bundled_pom() == PROJECT_DIR / "jars" / "pom.xml"
    jars = jar_properties("local", PROJECT_DIR)["spark.jars"].split(",")
    assert jars and all(jar.startswith(str(PROJECT_DIR / "jars" / "lib")) for jar in jars)
    assert ensure_jars("local", PROJECT_DIR) is None  # make setup's job, never a session's


def test_the_user_cache_follows_the_variables(tmp_path):
    assert user_cache_dir({"LAKEHOUSE_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    assert user_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "lakehouse"
    assert user_cache_dir({"HOME": "/ignored"}) == Path.home().resolve() / ".cache" / "lakehouse"


def test_the_cache_key_follows_the_dependencies_not_the_formatting(tmp_path):
    pom = bundled_pom()
    reformatted = tmp_path / "pom.xml"
    reformatted.write_text(pom.read_text().replace("<dependencies>", "<!-- ours -->\n  <dependencies>"))
    other = tmp_path / "other" / "pom.xml"
    other.parent.mkdir()
    other.write_text(pom.read_text().replace("<delta.version>3.3.3", "<delta.version>3.3.2"))

    assert dependencies_key(reformatted) == dependencies_key(pom)
    assert dependencies_key(other) != dependencies_key(pom)
    assert cached_dependencies_dir(pom, {"LAKEHOUSE_CACHE": "/c"}) == Path("/c/jars") / dependencies_key(pom)
    assert maven_exclusions(pom) == ["org.apache.hadoop:hadoop-common"]


@needs_maven
def test_an_installed_package_resolves_once_into_the_user_cache_then_starts_offline(tmp_path, monkeypatch):
    environ = {
        "LAKEHOUSE_CACHE": str(tmp_path / "cache"),
        "LAKEHOUSE_MAVEN_SETTINGS": str(mirror_settings(tmp_path)),
    }
    folder = cached_dependencies_dir(bundled_pom(), environ)
    with pytest.raises(JarsNotFoundError, match=r"not resolved yet .* run `lakehouse jars resolve` once"):
        jar_properties("local", None, environ)

    assert ensure_jars("local", None, environ) == folder

    assert is_resolved(folder)
    jars = jar_properties("local", None, environ)["spark.jars"].split(",")
    names = {Path(jar).name for jar in jars}
    assert jars[0].endswith(CATALOG_JAR)  # ours first, then the resolved folder
    assert all(jar.startswith(str(folder)) for jar in jars[1:])
    assert {
        "delta-spark_2.12-3.3.3.jar",
        "synapseml-lightgbm_2.12-1.1.3.jar",
        "hadoop-azure-3.3.4.jar",
    } <= names
    assert any(name.startswith("lightgbmlib-") for name in names)
    spark_artifacts = {artifact_of(jar.name) for jar in spark_jars_dir().glob("*.jar")}
    assert not {artifact_of(name) for name in names} & spark_artifacts
    assert not list(folder.parent.glob(".*"))  # no staging folder left behind

    # `lakehouse jars resolve` of an installed package: the same folder, and a defaults file beside it
    # for spark-submit --properties-file (pyspark's own conf/ is left alone)
    assert [str(jar) for jar in resolve_jars(None, environ)] == jars
    defaults = (folder / "spark-defaults.conf").read_text()
    assert f"spark.jars {','.join(jars)}\n" in defaults

    # resolved: no Maven is needed any more
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    assert ensure_jars("local", None, environ) == folder
    assert jar_properties("local", None, environ)["spark.jars"].split(",") == jars


def test_without_maven_spark_resolves_the_coordinates_with_ivy_in_the_user_cache(tmp_path, monkeypatch):
    environ = {"LAKEHOUSE_CACHE": str(tmp_path / "cache")}
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))

    assert ensure_jars("local", None, environ) is None
    properties = jar_properties("local", None, environ)

    assert "io.delta:delta-spark_2.12:3.3.3" in properties["spark.jars.packages"].split(",")
    assert properties["spark.jars.ivy"] == str(tmp_path / "cache" / "ivy")
    assert properties["spark.jars.excludes"] == "org.apache.hadoop:hadoop-common"
    assert properties["spark.jars"].endswith(CATALOG_JAR)
    assert jar_properties("provided", None, environ) == {}


@needs_maven
def test_a_failed_resolution_names_the_pom_and_leaves_no_folder(tmp_path):
    pom = tmp_path / "pom.xml"
    pom.write_text(
        bundled_pom().read_text().replace("<version>${delta.version}</version>", "<version>0.0.404</version>")
    )
    target = tmp_path / "cache" / "jars" / "key"
    environ = {"LAKEHOUSE_MAVEN_SETTINGS": str(mirror_settings(tmp_path))}

    with pytest.raises(JarsNotFoundError, match=rf"Maven could not resolve {pom}"):
        resolve_dependencies(pom, target, tmp_path / "repository", environ)

    assert not target.exists() and not os.listdir(target.parent)


def test_the_java_sources_compile_into_one_jar(tmp_path):
    lib = PROJECT_DIR / "jars" / "lib"
    jar = compile_jar(
        PROJECT_DIR / "jars" / "src", [spark_jars_dir() / "*", lib / "*"], tmp_path / CATALOG_JAR
    )

    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
    assert {
        "io/lakehouse/spark/LakehouseCatalog.class",
        "io/lakehouse/spark/LightGBMBatchScorer.class",
    } <= names
