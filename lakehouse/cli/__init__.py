"""The ``lakehouse`` command: create a project, run jobs and pipelines, list tables and jobs, show
configuration, run a local cluster.

Every command that reads configuration finds the project from ``--project DIR`` (or
``--conf-dir``), else ``$LAKEHOUSE_PROJECT`` (or ``$LAKEHOUSE_CONF_DIR``), else the current folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lakehouse import __version__
from lakehouse.cli.commands import (
    _cluster,
    _date,
    _ingest_rejected,
    _init,
    _jars,
    _list_features,
    _list_jobs,
    _list_models,
    _list_tables,
    _pipeline_cron,
    _pipeline_export,
    _pipeline_list,
    _pipeline_run,
    _positive_int,
    _promote_model,
    _quality_report,
    _report,
    _runs,
    _search,
    _serve,
    _service,
    _show_config,
)
from lakehouse.errors import LakehouseError
from lakehouse.log import configure_logging
from lakehouse.runs.runner import add_run_arguments, execute, param_pairs
from lakehouse.scaffold import DEFAULT_EXAMPLE, examples
from lakehouse.spark.session import CONSOLE_VARIABLE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lakehouse`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Spark's own log lines stay in its log file unless asked for; jobs this command launches
    # (spark-submit, a pipeline's tasks) inherit the choice, and a caller in the same process
    # (a test, a notebook) gets its environment back
    before = os.environ.get(CONSOLE_VARIABLE)
    os.environ[CONSOLE_VARIABLE] = "warn" if args.verbose else (before or "off")
    configure_logging()
    try:
        return args.handler(args)
    except LakehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if before is None:
            os.environ.pop(CONSOLE_VARIABLE, None)
        else:
            os.environ[CONSOLE_VARIABLE] = before


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"lakehouse {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Spark's own warnings on the terminal too (they always go to the driver's log file, "
        "files/logs/spark/driver.log)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    init = commands.add_parser(
        "init", help="create a project: configuration, a jobs package, a test, and an example on real data"
    )
    init.add_argument("directory", help="the project folder to create (new or empty)")
    init.add_argument(
        "--example",
        default=DEFAULT_EXAMPLE,
        choices=examples(),
        help=f"the example data set, bundled with scikit-learn (default: {DEFAULT_EXAMPLE})",
    )
    init.set_defaults(handler=_init)

    run = commands.add_parser("run", help="run one job and record it in ops.job_runs")
    run.add_argument("job", help="job name (see `lakehouse jobs`)")
    add_run_arguments(run)
    run.set_defaults(
        handler=lambda args: execute(
            args.job,
            args.env,
            args.conf_dir,
            param_pairs(args),
            args.run_id,
            args.pipeline_run_id,
            project=args.project,
        )
    )

    jobs = commands.add_parser("jobs", help="list the registered jobs")
    jobs.set_defaults(handler=_list_jobs)

    tables = commands.add_parser(
        "tables", help="list the lakehouse's tables by layer, with rows and versions"
    )
    _add_env_arguments(tables)
    tables.add_argument("--layer", action="append", help="only this layer (repeatable)")
    tables.set_defaults(handler=_list_tables)

    quality = commands.add_parser("quality", help="report on the data-quality results")
    quality_commands = quality.add_subparsers(dest="quality_command", required=True, metavar="command")
    report = quality_commands.add_parser(
        "report", help="write a self-contained HTML report of ops.quality_results and pending quarantine"
    )
    _add_env_arguments(report)
    report.add_argument(
        "--output", help="local HTML file to write (default: <lakehouse root>/files/reports/quality.html)"
    )
    report.add_argument(
        "--runs", type=_positive_int, default=30, help="runs per table in the trend (default: 30)"
    )
    report.set_defaults(handler=_quality_report)

    features = commands.add_parser("features", help="the feature tables of features.yml")
    feature_commands = features.add_subparsers(dest="features_command", required=True, metavar="command")
    listing = feature_commands.add_parser(
        "list", help="every feature: table, type, definition, description and latest as-of date"
    )
    _add_env_arguments(listing)
    listing.set_defaults(handler=_list_features)

    models = commands.add_parser(
        "models", help="the registered models (MLflow) and their production versions"
    )
    model_commands = models.add_subparsers(dest="models_command", required=True, metavar="command")
    versions = model_commands.add_parser(
        "list", help="every registered version: test metric, production alias, training data versions"
    )
    versions.add_argument("model", nargs="?", help="only this model")
    _add_env_arguments(versions)
    versions.set_defaults(handler=_list_models)
    promote = model_commands.add_parser("promote", help="make a registered version the production one")
    promote.add_argument("model")
    promote.add_argument("version", type=_positive_int)
    _add_env_arguments(promote)
    promote.set_defaults(handler=_promote_model)

    search = commands.add_parser(
        "search", help="search an embedding table by meaning: document ids, scores and text"
    )
    search.add_argument("text", nargs="+", help="what to look for (several: one search each)")
    search.add_argument("--table", default="tickets", help="a table of embeddings.tables (default: tickets)")
    search.add_argument("-k", type=_positive_int, default=5, help="documents to return (default: 5)")
    search.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="COLUMN<OP>VALUE",
        help="metadata filter, repeatable: channel=email, product_id=7,8, created_at>=2026-01-03",
    )
    search.add_argument(
        "--mode",
        choices=("vector", "keyword", "hybrid"),
        default=None,
        help="by meaning (vector), by words (keyword, BM25) or both fused (hybrid); "
        "default: embeddings.search.mode",
    )
    search.add_argument(
        "--exact", action="store_true", help="score every vector with Spark, not the index (mode vector)"
    )
    search.add_argument("--width", type=_positive_int, default=100, help="characters of text shown per hit")
    _add_env_arguments(search)
    search.set_defaults(handler=_search)

    serve = commands.add_parser(
        "serve", help="the search service: embedding tables over HTTP (search, context, health, metrics)"
    )
    serve.add_argument("--host", help="address to listen on (default: serve.host, 127.0.0.1)")
    serve.add_argument("--port", type=_positive_int, help="port (default: serve.port)")
    serve.add_argument("--workers", type=_positive_int, help="processes (default: serve.workers)")
    serve.add_argument("--tables", nargs="+", metavar="TABLE", help="tables of embeddings.tables to serve")
    _add_env_arguments(serve)
    serve.set_defaults(handler=_serve)

    pipeline = commands.add_parser("pipeline", help="run, schedule or export the pipelines of pipelines.yml")
    pipeline_commands = pipeline.add_subparsers(dest="pipeline_command", required=True, metavar="command")
    pipeline_run = pipeline_commands.add_parser(
        "run", help="run a pipeline's jobs in dependency order (exit 0 ok, 1 failed, 2 bad input, 75 locked)"
    )
    pipeline_run.add_argument("name", help="pipeline name (see `lakehouse pipeline list`)")
    _add_env_arguments(pipeline_run)
    dates = pipeline_run.add_mutually_exclusive_group()
    dates.add_argument(
        "--date", type=_date, metavar="YYYY-MM-DD", help="the logical date (default: the schedule's latest)"
    )
    dates.add_argument(
        "--catch-up", action="store_true", help="every logical date missed since the last success (cron)"
    )
    pipeline_run.add_argument(
        "--start", type=_date, metavar="YYYY-MM-DD", help="backfill from this logical date"
    )
    pipeline_run.add_argument("--end", type=_date, metavar="YYYY-MM-DD", help="backfill to this logical date")
    pipeline_run.add_argument(
        "--from", dest="from_task", metavar="TASK", help="this task and everything after it"
    )
    pipeline_run.add_argument(
        "--only", action="append", default=[], metavar="TASK", help="only these tasks (repeatable or a,b)"
    )
    pipeline_run.add_argument(
        "--resume", action="store_true", help="rerun what the last failed run did not finish"
    )
    pipeline_run.add_argument("--dry-run", action="store_true", help="print the plan and run nothing")
    pipeline_run.add_argument("--mode", choices=["session", "submit"], help="override the pipeline's mode")
    pipeline_run.set_defaults(handler=_pipeline_run)
    pipeline_list = pipeline_commands.add_parser("list", help="the pipelines: schedule, tasks, last run")
    _add_env_arguments(pipeline_list)
    pipeline_list.set_defaults(handler=_pipeline_list)
    export = pipeline_commands.add_parser(
        "export-airflow", help="write an Airflow DAG file: one SparkSubmitOperator per task"
    )
    export.add_argument("name")
    export.add_argument("--output", help="the DAG file (default: dags/lakehouse_<name>.py)")
    export.add_argument(
        "--start-date", type=_date, metavar="YYYY-MM-DD", help="the DAG's start_date (default: today)"
    )
    _add_env_arguments(export)
    export.set_defaults(handler=_pipeline_export)
    cron = pipeline_commands.add_parser(
        "cron", help="print a crontab entry that runs the pipeline on its schedule"
    )
    cron.add_argument("name")
    _add_env_arguments(cron)
    cron.set_defaults(handler=_pipeline_cron)

    runs = commands.add_parser(
        "runs", help="recent pipeline runs (or job runs), and the progress of running ones"
    )
    runs.add_argument("run", nargs="?", help="a pipeline run id (or its first 8 characters): show its tasks")
    runs.add_argument("--pipeline", help="only this pipeline")
    runs.add_argument("--jobs", action="store_true", help="recent job runs (ops.job_runs) instead")
    runs.add_argument("--limit", type=_positive_int, default=15, help="how many (default: 15)")
    _add_env_arguments(runs)
    runs.set_defaults(handler=_runs)

    report = commands.add_parser(
        "report", help="write the HTML report of a pipeline run (default: the latest)"
    )
    report.add_argument("run", nargs="?", help="a pipeline run id (or its first 8 characters)")
    report.add_argument("--pipeline", help="the latest run of this pipeline")
    report.add_argument(
        "--output", help="local HTML file (default: <root>/files/reports/pipelines/<name>/<run>.html)"
    )
    _add_env_arguments(report)
    report.set_defaults(handler=_report)

    ingest = commands.add_parser("ingest", help="the landed files bronze_ingest set aside")
    ingest_commands = ingest.add_subparsers(dest="ingest_command", required=True, metavar="command")
    rejected = ingest_commands.add_parser(
        "rejected", help="list the files set aside in ops.rejected_files, or retry them"
    )
    _add_env_arguments(rejected)
    rejected.add_argument("--source", action="append", help="only this source (repeatable)")
    rejected.add_argument(
        "--retry",
        nargs="*",
        metavar="FILE",
        help="forget these files' rejection (all of --source when none given) and ingest the source again",
    )
    rejected.set_defaults(handler=_ingest_rejected)

    config = commands.add_parser("config", help="print the resolved configuration (secrets masked)")
    _add_env_arguments(config)
    config.set_defaults(handler=_show_config)

    cluster = commands.add_parser("cluster", help="start, stop or inspect the local standalone cluster")
    cluster.add_argument("action", choices=["up", "down", "status"])
    _add_env_arguments(cluster)
    cluster.set_defaults(handler=_cluster)

    service = commands.add_parser(
        "service",
        help="start, stop or inspect a service that pipelines need (entry points lakehouse.services)",
    )
    service.add_argument("action", choices=["up", "down", "status"])
    service.add_argument("name", help="the service, e.g. local_database")
    _add_env_arguments(service)
    service.set_defaults(handler=_service)

    database = commands.add_parser(
        "db", help="the demo's PostgreSQL server (local_database:): `lakehouse service ... local_database`"
    )
    database.add_argument("action", choices=["up", "down", "status"])
    _add_env_arguments(database)
    database.set_defaults(handler=_service, name="local_database")

    jars = commands.add_parser("jars", help="resolve or list the JVM jars (Delta, SynapseML, hadoop-azure)")
    jars.add_argument("action", choices=["resolve", "list", "coordinates"])
    jars.set_defaults(handler=_jars)
    return parser


def _add_env_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="configuration environment (default: $LAKEHOUSE_ENV or local)")
    parser.add_argument(
        "--project", help="the project folder (default: $LAKEHOUSE_PROJECT or the current folder)"
    )
    parser.add_argument("--conf-dir", help="configuration folder (default: $LAKEHOUSE_CONF_DIR or ./conf)")
