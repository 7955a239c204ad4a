"""pipelines.yml mistakes fail at load, naming the file and the key."""

from __future__ import annotations

import sys

import pytest

from lakehouse.config import load_config
from tests.config.test_loader import load_error, write_conf
from tests.conftest import CONF_DIR


def pipelines_yml(tasks: str, extra: str = "") -> dict[str, str]:
    return {"base/pipelines.yml": f"pipelines:\n  nightly:\n{extra}    tasks:\n{tasks}"}


@pytest.mark.parametrize(
    ("tasks", "extra", "key", "message"),
    [
        (
            "      a: {job: hello, after: [c]}\n      b: {job: hello, after: [a]}\n"
            "      c: {job: hello, after: [b]}\n",
            "",
            "pipelines.nightly.tasks.a.after",
            "dependency cycle: a -> c -> b -> a",
        ),
        (
            "      bronze_ingst: {}\n",
            "",
            "pipelines.nightly.tasks.bronze_ingst",
            "unknown job 'bronze_ingst'; did you mean 'bronze_ingest'?",
        ),
        ("      a: {job: helo}\n", "", "pipelines.nightly.tasks.a.job", "unknown job 'helo'"),
        (
            "      hello: {after: [lnad]}\n      land: {job: hello}\n",
            "",
            "pipelines.nightly.tasks.hello.after",
            "no task 'lnad' in pipeline nightly; did you mean 'land'?",
        ),
        (
            "      hello: {params: {start: '{day}'}}\n",
            "",
            "pipelines.nightly.tasks.hello.params.start",
            "unknown placeholder {day}",
        ),
        (
            "      hello: {}\n",
            "    schedule: '0 25 * * *'\n",
            "pipelines.nightly.schedule",
            "hour '25': 25 is outside 0-23",
        ),
        ("      hello: {}\n", "    retries: -1\n", "pipelines.nightly.retries", "greater than or equal to 0"),
        (
            "      hello: {}\n",
            "    landed: [landing/orders, 'landing/tickets/{date}']\n",
            "pipelines.nightly.landed.0",
            "'landing/orders' must hold {date} exactly once",
        ),
        (
            "      hello: {}\n",
            "    services: [local_databse]\n",
            "pipelines.nightly.services.0",
            "unknown service 'local_databse'; registered services: local_database",
        ),
    ],
)
def test_pipeline_mistakes_name_the_file_and_key(tmp_path, tasks, extra, key, message):
    error = load_error(write_conf(tmp_path, pipelines_yml(tasks, extra)))
    text = str(error)
    assert "base/pipelines.yml" in text and key in text and message in text, text


def test_a_valid_pipeline_loads_with_defaults(tmp_path):
    conf = write_conf(
        tmp_path,
        pipelines_yml(
            "      hello: {}\n      later: {job: hello, after: [hello]}\n", "    schedule: '@daily'\n"
        ),
    )
    pipeline = load_config("local", conf_dir=conf, environ={}).pipelines["nightly"]
    assert pipeline.edges() == {"hello": [], "later": ["hello"]}
    assert pipeline.mode == "auto" and pipeline.retries == 0 and pipeline.lock.stale_after_seconds == 600


def test_a_pipeline_names_the_services_it_needs_and_the_older_flag_still_reads(tmp_path):
    conf = write_conf(tmp_path, pipelines_yml("      hello: {}\n", "    local_database: true\n"))
    pipeline = load_config("local", conf_dir=conf, environ={}).pipelines["nightly"]
    assert pipeline.services == ["local_database"]
    shipped = load_config("local", conf_dir=CONF_DIR, environ={})
    assert shipped.pipelines["demo"].services == ["local_database"]


def test_the_shipped_pipelines_load():
    from tests.conftest import CONF_DIR

    config = load_config("local", conf_dir=CONF_DIR, environ={"LAKEHOUSE_ROOT": "/tmp/unused"})
    assert {"demo", "daily"} <= set(config.pipelines)


def test_the_demo_pipeline_and_the_example_projects_cover_every_registered_job(monkeypatch):
    from lakehouse.runs.job import available_jobs
    from tests.conftest import CONF_DIR, PROJECT_DIR

    config = load_config("local", conf_dir=CONF_DIR, environ={"LAKEHOUSE_ROOT": "/tmp/unused"})
    demo = config.pipelines["demo"]
    covered = {task.job_name(name) for name, task in demo.tasks.items()}
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading a project puts it on sys.path
    # sample_data lands the example projects' data sets (`lakehouse init`, examples/*): their pipeline runs it
    for example in sorted((PROJECT_DIR / "examples").iterdir()):
        pipeline = load_config("local", project=example, environ={}).pipelines["example"]
        covered |= {
            task.job_name(name) for name, task in pipeline.tasks.items() if ":" not in task.job_name(name)
        }
    assert covered == set(available_jobs())
