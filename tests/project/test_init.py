"""`lakehouse init`: a project of one's own from the package's templates; examples/ is its output."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.errors import ProjectExistsError
from lakehouse.runs.job import find_job
from lakehouse.scaffold import examples, init_project, render_project
from tests.conftest import PROJECT_DIR

EXAMPLES_DIR = PROJECT_DIR / "examples"


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (caches and the lakehouse's data left out) by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not {"__pycache__", ".pytest_cache", "data"} & set(path.relative_to(folder).parts)
    }


@pytest.fixture
def project_modules():
    """Forget the ``jobs`` package a project's job loaded, so that each test imports its own."""
    yield
    for name in [name for name in sys.modules if name == "jobs" or name.startswith("jobs.")]:
        del sys.modules[name]


def test_both_examples_exist():
    assert examples() == ["breast_cancer", "diabetes"]


@pytest.mark.parametrize("example", ["breast_cancer", "diabetes"])
def test_the_committed_example_is_exactly_what_init_writes(tmp_path, example):
    init_project(tmp_path / example, example)

    written, committed = tree(tmp_path / example), tree(EXAMPLES_DIR / example)
    assert sorted(written) == sorted(committed), "run `make examples` to rewrite examples/ from the templates"
    changed = [path for path in written if written[path] != committed[path]]
    assert not changed, f"examples/{example} differs from its template in {changed}: run `make examples`"


def test_a_project_has_conf_jobs_tests_and_a_readme():
    files = render_project("breast_cancer", "shop")

    assert {
        ".gitignore", "README.md", "pyproject.toml", "conf/base/storage.yml", "conf/base/spark.yml",
        "conf/base/sources.yml", "conf/base/silver.yml", "conf/base/models.yml", "conf/base/pipelines.yml",
        "conf/base/jobs.yml", "conf/base/quality/silver.breast_cancer.yml", "conf/local/spark.yml",
        "conf/local/storage.yml", "jobs/__init__.py", "jobs/profile.py", "tests/test_pipeline.py",
    } == set(files)  # fmt: skip
    assert not any("{{" in text or "}}" in text for text in files.values())
    assert files["README.md"].startswith("# shop\n")
    assert 'name = "shop"' in files["pyproject.toml"]
    assert "app_name: shop" in files["conf/base/spark.yml"]
    assert "params: {table: silver.breast_cancer}" in files["conf/base/pipelines.yml"]


def test_init_refuses_a_folder_that_is_not_empty_and_writes_nothing(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "empty").mkdir()

    with pytest.raises(ProjectExistsError, match=r"mine already exists and is not an empty folder"):
        init_project(tmp_path / "mine")

    assert [path.name for path in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    assert init_project(tmp_path / "empty")  # an empty folder is fine
    with pytest.raises(ValueError, match="no example 'iris'; examples: breast_cancer, diabetes"):
        render_project("iris", "x")


def test_lakehouse_init_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_SPARK_CONSOLE", raising=False)
    assert main(["init", str(tmp_path / "sugar"), "--example", "diabetes"]) == 0
    # the command's choice of Spark's terminal lines does not outlive it in its caller's process
    assert "LAKEHOUSE_SPARK_CONSOLE" not in os.environ
    printed = capsys.readouterr().out
    assert f"created project sugar in {tmp_path / 'sugar'}" in printed
    assert "lakehouse pipeline run example" in printed

    assert main(["init", str(tmp_path / "sugar")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "sugar" / "conf" / "base" / "quality" / "silver.diabetes.yml").is_file()


def test_a_new_project_loads_from_its_folder_with_its_own_job(tmp_path, monkeypatch, project_modules):
    init_project(tmp_path / "clinic", "breast_cancer")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path / "clinic")

    config = load_config(environ={"LAKEHOUSE_ROOT": str(tmp_path / "lake")})

    assert config.project_dir == tmp_path / "clinic"
    assert list(config.pipelines["example"].tasks) == [
        "sample_data", "bronze_ingest", "silver_refine", "profile", "train_model", "batch_score",
    ]  # fmt: skip
    job = find_job("jobs.profile:TableProfileJob")
    assert job.__module__ == "jobs.profile"
    assert Path(sys.modules["jobs.profile"].__file__) == tmp_path / "clinic" / "jobs" / "profile.py"
    assert config.jobs["sample_data"].params == {"dataset": "breast_cancer"}
