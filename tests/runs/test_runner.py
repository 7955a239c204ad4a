import dataclasses

import pytest

from lakehouse.config import load_config
from lakehouse.errors import ConfigError, JobNotFoundError, JobParameterError, TableNameError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs import runner
from lakehouse.runs.job import build_params, find_job, param_defaults, params_as_strings, prepare_params
from lakehouse.runs.records import JOB_RUNS_TABLE
from lakehouse.runs.runner import JobFailedError, parse_params, run_job
from lakehouse.storage.layout import StorageLayout


def job_runs(spark, config):
    return DeltaStore(spark, StorageLayout.from_config(config)).read(JOB_RUNS_TABLE)


def test_a_successful_run_is_recorded_with_rows_written(spark, lakehouse_config, lakehouse_session):
    record = run_job("hello", lakehouse_config, {"rows": "25"}, spark)

    assert record.succeeded
    row = job_runs(spark, lakehouse_config).where(f"run_id = '{record.run_id}'").collect()
    assert len(row) == 1
    row = row[0]
    assert (row.job, row.env, row.status) == ("hello", "local", "succeeded")
    assert row.params == {"rows": "25", "table": "bronze.hello"}
    assert row.rows_written == {"bronze.hello": 25}
    assert row.error_class is None and row.error_message is None
    assert row.ended_at >= row.started_at and row.duration_seconds > 0
    assert row.spark_master == spark.sparkContext.master
    assert spark.table("bronze.hello").count() == 25


def test_a_failed_run_is_recorded_and_raises_with_its_cause(spark, lakehouse_config, lakehouse_session):
    with pytest.raises(JobFailedError) as raised:
        run_job("hello", lakehouse_config, {"table": "nowhere.numbers"}, spark)

    assert isinstance(raised.value.__cause__, TableNameError)
    run = raised.value.run
    row = job_runs(spark, lakehouse_config).where(f"run_id = '{run.run_id}'").first()
    assert row.status == "failed"
    assert row.error_class == "TableNameError"
    assert "nowhere" in row.error_message
    assert row.rows_written == {}


def test_each_run_appends_one_row_and_a_rerun_does_not_duplicate_data(
    spark, lakehouse_config, lakehouse_session
):
    first = run_job("hello", lakehouse_config, {"rows": "10"}, spark)
    second = run_job("hello", lakehouse_config, {"rows": "10"}, spark)

    runs = job_runs(spark, lakehouse_config)
    assert {row.run_id for row in runs.collect()} == {first.run_id, second.run_id}
    assert spark.table("bronze.hello").count() == 10


def test_commits_carry_the_run_id(spark, lakehouse_config, lakehouse_session):
    record = run_job("hello", lakehouse_config, {"rows": "3"}, spark)

    location = StorageLayout.from_config(lakehouse_config).table("bronze.hello").location
    metadata = spark.sql(f"DESCRIBE HISTORY delta.`{location}`").first()["userMetadata"]
    assert record.run_id in metadata


def test_an_unknown_job_is_refused_before_anything_runs(lakehouse_config):
    with pytest.raises(JobNotFoundError, match=r"no job named 'helo'.*hello"):
        run_job("helo", lakehouse_config)


def test_parameters_come_from_config_then_command_line():
    job = find_job("hello")
    params = build_params(job, {"rows": 5}, {"table": "silver.numbers"})
    assert (params.rows, params.table) == (5, "silver.numbers")
    assert build_params(job, {"rows": 5}, {"rows": "7"}).rows == 7
    assert params_as_strings(params) == {"rows": "5", "table": "silver.numbers"}


def test_a_jobs_defaults_live_in_its_params_alone():
    # the shipped configuration sets no job parameter to the value its job already defaults to:
    # a default changed in the code must not be masked by a stale copy in jobs.yml
    from tests.conftest import CONF_DIR

    config = load_config("local", conf_dir=CONF_DIR, environ={})
    restated = {
        f"{name}.{key}": value
        for name, settings in config.jobs.items()
        for key, value in settings.params.items()
        if key in param_defaults(find_job(name)) and param_defaults(find_job(name))[key] == value
    }
    assert restated == {}
    assert param_defaults(find_job("hello")) == {"rows": 1000, "table": "bronze.hello"}


def test_bad_parameters_name_the_job_and_parameter():
    job = find_job("hello")
    with pytest.raises(JobParameterError, match=r"job hello: unknown parameter 'row'.*rows, table"):
        build_params(job, {}, {"row": "5"})
    with pytest.raises(JobParameterError, match=r"rows='many' \(from --param\)"):
        build_params(job, {}, {"rows": "many"})
    with pytest.raises(JobParameterError, match=r"conf jobs.hello.params"):
        build_params(job, {"rows": 2.5}, {})


def test_parameter_types_convert_from_strings():
    import datetime as dt

    from lakehouse.runs.job import Job

    @dataclasses.dataclass(frozen=True)
    class Params:
        day: dt.date
        ratio: float = 0.5
        full: bool = False
        limit: int | None = None

    class Typed(Job):
        name = "typed"
        summary = "test job"

        def run(self, context):
            raise NotImplementedError

    Typed.Params = Params
    params = build_params(Typed, {}, {"day": "2026-11-25", "ratio": "0.25", "full": "yes", "limit": "none"})
    assert params == Params(dt.date(2026, 11, 25), 0.25, True, None)
    with pytest.raises(JobParameterError, match="missing 1 required positional argument: 'day'"):
        build_params(Typed, {}, {})
    with pytest.raises(JobParameterError, match="expected a boolean"):
        build_params(Typed, {}, {"day": "2026-11-25", "full": "maybe"})


def test_param_pairs_must_be_key_value():
    assert parse_params(["rows=1", "table=a=b"]) == {"rows": "1", "table": "a=b"}
    with pytest.raises(JobParameterError, match="expected key=value"):
        parse_params(["rows"])


def test_a_job_cannot_write_the_internal_ops_layer(spark, lakehouse_config, lakehouse_session):
    with pytest.raises(JobFailedError) as raised:
        run_job("hello", lakehouse_config, {"table": "ops.job_runs"}, spark)

    assert "written only by the framework" in str(raised.value.__cause__)
    runs = job_runs(spark, lakehouse_config).collect()
    assert [(row.status, row.error_class) for row in runs] == [("failed", "TableNameError")]


UNKNOWN_NAMES = [
    ("bronze_ingest", "source", "ordres", "orders", "sources (sources.yml)"),
    ("silver_refine", "table", "silver.ordrs", "silver.orders", "silver.tables (silver.yml)"),
    ("gold_features", "table", "daily_sale", "daily_sales", "gold.tables (gold.yml)"),
    ("gold_features", "table", "gold.churn_label", "gold.churn_labels", "features.labels"),
    ("train_model", "model", "chrn", "churn", "models.models (models.yml)"),
    ("batch_score", "model", "churn,chrun", "churn", "models.models (models.yml)"),
    ("embed_documents", "table", "tickts", "tickets", "embeddings.tables (embeddings.yml)"),
    ("build_index", "table", "product", "products", "embeddings.tables (embeddings.yml)"),
    ("similar_documents", "join", "similar_ticket", "similar_tickets", "embeddings.similar"),
    ("evaluate_search", "evaluation", "ticket_topic", "ticket_topics", "embeddings.evaluations"),
]


@pytest.fixture
def no_spark_start(monkeypatch):
    """Fail the test if run_job builds a SparkSession (it must refuse the parameters first)."""

    def no_session(*args, **kwargs):
        raise AssertionError("run_job built a SparkSession before checking the parameters")

    monkeypatch.setattr(runner, "build_session", no_session)


@pytest.mark.parametrize(("job", "param", "value", "meant", "declared"), UNKNOWN_NAMES)
def test_an_unknown_name_in_a_param_gets_a_did_you_mean_before_spark_starts(
    lakehouse_config, no_spark_start, job, param, value, meant, declared
):
    with pytest.raises(JobParameterError) as raised:
        run_job(job, lakehouse_config, {param: value})

    message = str(raised.value)
    assert message.startswith(f"job {job}: --param {param}={value}: ")
    assert f"(did you mean {meant!r}?)" in message and declared in message


def test_names_are_picked_in_declared_order_by_name_or_table_and_all_by_the_switches(lakehouse_config):
    gold_features = find_job("gold_features")

    def picked(job, param, **params):
        built = prepare_params(job, lakehouse_config, job.name, params)
        return job.selected(lakehouse_config, built, param)

    assert picked(gold_features, "table") == [
        "gold.daily_sales", "gold.customer_value", "gold.customer_activity", "gold.churn_labels"
    ]  # fmt: skip
    assert picked(gold_features, "table", table="churn, gold.daily_sales") == [
        "gold.daily_sales", "gold.churn_labels"
    ]  # fmt: skip
    assert picked(gold_features, "table", gold="false", labels="false") == ["gold.customer_activity"]
    # the switches thin out all only: a table named is built
    assert picked(gold_features, "table", table="customer_value", gold="false") == ["gold.customer_value"]
    bronze = find_job("bronze_ingest")
    assert picked(bronze, "source", source="bronze.tickets,orders") == ["orders", "tickets"]
    assert picked(find_job("embed_documents"), "table", table="gold.products_embeddings") == ["products"]


def test_bad_dates_are_refused_before_spark_starts(lakehouse_config, no_spark_start):
    with pytest.raises(ConfigError, match=r"--param end=2026-01-01 is before --param start=2026-01-05"):
        run_job("gold_features", lakehouse_config, {"start": "2026-01-05", "end": "2026-01-01"})
