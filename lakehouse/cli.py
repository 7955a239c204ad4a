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

import yaml

from lakehouse import __version__
from lakehouse.display import text_table
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


def _init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lakehouse.scaffold import init_project

    folder = Path(args.directory).expanduser().resolve()
    written = init_project(folder, args.example)
    print(f"created project {folder.name} in {folder} ({len(written)} files, example: {args.example})")
    for path in written:
        print(f"  {path.relative_to(folder)}")
    print(
        "next:\n"
        f"  cd {args.directory}\n"
        "  lakehouse pipeline run example   # land the data set, ingest, refine, train and score it\n"
        "  pytest                           # the same pipeline, as a test\n"
        "then replace the example with your own tables: see its README.md"
    )
    return 0


def _list_jobs(args: argparse.Namespace) -> int:
    from lakehouse.runs.job import available_jobs, find_job, param_defaults, params_as_strings

    names = sorted(available_jobs())
    width = max((len(name) for name in names), default=0)
    for name in names:
        job = find_job(name)
        print(f"{name:<{width}}  {job.summary}")
        defaults = params_as_strings(param_defaults(job))
        if defaults:  # declared once, by the job; jobs.yml and --param override them
            print(f"{'':<{width}}  params: {' '.join(f'{key}={value}' for key, value in defaults.items())}")
    return 0


def _list_tables(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.spark.session import build_session
    from lakehouse.storage.layout import StorageLayout

    config = load_config(args.env, args.conf_dir, project=args.project)
    spark = build_session(config, app_name="lakehouse tables")
    try:
        layout = StorageLayout.from_config(config)
        summaries = DeltaStore(spark, layout).summaries(args.layer)
    finally:
        spark.stop()
    print(f"lakehouse {layout.root} (env {config.env})")
    if not summaries:
        print("no tables yet; run a job, e.g. `lakehouse run hello`")
        return 0
    rows = [("layer", "table", "rows", "version", "location")]
    rows += [(s.layer, s.table, str(s.rows), str(s.version), s.location) for s in summaries]
    print(text_table(rows))
    return 0


def _ingest_rejected(args: argparse.Namespace) -> int:
    import uuid

    from lakehouse.config import load_config
    from lakehouse.errors import did_you_mean
    from lakehouse.ingest.ledger import forget_rejections, rejected_files
    from lakehouse.spark.session import build_session
    from lakehouse.storage.layout import StorageLayout

    config = load_config(args.env, args.conf_dir, project=args.project)
    for source in args.source or []:
        if source not in config.sources:
            raise LakehouseError(
                f"unknown source {source!r} (sources.yml); {did_you_mean(source, config.sources)}"
            )
    if args.retry is not None and len(args.source or []) != 1:
        raise LakehouseError("--retry needs exactly one --source: the source whose files to ingest again")
    spark = build_session(config, app_name="lakehouse ingest rejected")
    try:
        layout = StorageLayout.from_config(config)
        if args.retry is None:
            files = rejected_files(spark, layout, args.source)
        else:
            forgotten = forget_rejections(
                spark, layout, args.source[0], args.retry or None, f"retry-{uuid.uuid4()}"
            )
    finally:
        spark.stop()
    if args.retry is not None:
        print(f"{forgotten} rejected files of source {args.source[0]} will be tried again")
        return execute(
            "bronze_ingest", args.env, args.conf_dir, [f"source={args.source[0]}"], project=args.project
        )
    if not files:
        print("no rejected files")
        return 0
    rows = [("source", "file", "bytes", "rejected at", "reason")]
    rows += [
        (f["source"], f["file"], str(f["size"]), f["rejected_at"].isoformat(timespec="seconds"), f["reason"])
        for f in files
    ]
    print(text_table(rows))
    print("after fixing or re-landing a file: lakehouse ingest rejected --source <source> --retry [FILE ...]")
    return 0


def _quality_report(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.errors import TableNotFoundError
    from lakehouse.quality.report import write_quality_report
    from lakehouse.spark.session import build_session

    config = load_config(args.env, args.conf_dir, project=args.project)
    spark = build_session(config, app_name="lakehouse quality report")
    try:
        written = write_quality_report(spark, config, args.output, args.runs)
    except TableNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(written)
    return 0


def _list_features(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.features.catalog import list_features
    from lakehouse.spark.session import build_session

    config = load_config(args.env, args.conf_dir, project=args.project)
    if not config.features.tables:
        print("no feature tables declared (features.tables in conf/base/features.yml)")
        return 0
    spark = build_session(config, app_name="lakehouse features list")
    try:
        entries = list_features(spark, config)
    finally:
        spark.stop()
    rows = [("TABLE", "FEATURE", "TYPE", "DEFINITION", "DESCRIPTION", "LATEST AS-OF")]
    rows += [(e.table, e.feature, e.type, e.definition, e.description, e.latest) for e in entries]
    print(text_table(rows))
    return 0


def _list_models(args: argparse.Namespace) -> int:
    import datetime as dt

    from lakehouse.config import load_config
    from lakehouse.models.registry import ModelRegistry

    config = load_config(args.env, args.conf_dir, project=args.project)
    registry = ModelRegistry(config)
    names = [args.model] if args.model else registry.names()
    rows = [("MODEL", "VERSION", "CREATED (UTC)", "LEARNER", "METRIC", "TEST", "ALIASES", "TRAINED ON")]
    for name in names:
        settings = config.models.models.get(name)
        configured = settings.selection_metric() if settings else "roc_auc"
        for version in registry.versions(name):
            metric = version.tags.get("metric", configured)  # the metric it was chosen by
            created = dt.datetime.fromtimestamp(version.created_at_ms / 1000, dt.UTC).strftime(
                "%Y-%m-%d %H:%M"
            )
            value = version.metrics.get(f"test_{metric}")
            data = ", ".join(f"{table}@v{v}" for table, v in sorted(version.data_versions.items()))
            shown = "" if value is None else f"{value:.4f}"
            learner = version.tags.get("learner", "lightgbm")  # versions before AutoML were all LightGBM
            aliases = ",".join(version.aliases)
            rows.append((name, str(version.version), created, learner, metric, shown, aliases, data))
    if len(rows) == 1:
        print(f"no registered models in {registry.registry_uri}; run `lakehouse run train_model`")
        return 0
    print(text_table(rows))
    return 0


def _promote_model(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.models.registry import ModelRegistry

    registry = ModelRegistry(load_config(args.env, args.conf_dir, project=args.project))
    before = registry.production(args.model)
    promoted = registry.promote(args.model, args.version, "promoted by `lakehouse models promote`")
    was = f"v{before.version}" if before else "none"
    print(f"model {args.model}: production is now v{promoted.version} (was {was})")
    return 0


def _search(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.search.api import Searcher, format_result

    config = load_config(args.env, args.conf_dir, project=args.project)
    # no Spark unless --exact or the table has no index; no model for a keyword search
    searcher = Searcher(config, args.table, preload_model=False)
    try:
        results = searcher.search(args.text, args.k, args.filter, args.exact, args.mode)
    finally:
        searcher.close()
    for result in results:
        print(format_result(result, args.width))
        for note in result.notes:
            print(f"  note: {note}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.serve.server import serve

    config = load_config(args.env, args.conf_dir, project=args.project)
    return serve(config, args.host, args.port, args.tables, args.workers)


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _pipeline_run(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.errors import PipelineLockedError
    from lakehouse.pipelines.records import SUCCEEDED
    from lakehouse.pipelines.runner import RunOptions, plan_run, run_pipeline

    config = load_config(args.env, args.conf_dir, project=args.project)
    only = tuple(task.strip() for value in args.only for task in value.split(",") if task.strip())
    options = RunOptions(
        date=args.date, start=args.start, end=args.end, catch_up=args.catch_up, from_task=args.from_task,
        only=only, resume=args.resume, mode=args.mode,
    )  # fmt: skip
    if args.dry_run:
        if args.resume or args.catch_up:  # they read earlier runs
            from lakehouse.pipelines.executors import bookkeeping_session
            from lakehouse.pipelines.records import PipelineRunStore
            from lakehouse.storage.layout import StorageLayout

            with bookkeeping_session(config, "lakehouse pipeline plan") as spark:
                store = PipelineRunStore(spark, StorageLayout.from_config(config))
                plan = plan_run(config, args.name, options, store)
        else:
            plan = plan_run(config, args.name, options)
        print(plan.describe())
        return 0
    if not (args.resume or args.catch_up):
        plan_run(config, args.name, options)  # a bad task, date or parameter fails before Spark starts
    try:
        run = run_pipeline(config, args.name, options, out=lambda line: print(line, flush=True))
    except PipelineLockedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: cron and orchestrators may try again later
    return 0 if run.status == SUCCEEDED else 1


def _pipeline_list(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config

    config = load_config(args.env, args.conf_dir, project=args.project)
    if not config.pipelines:
        print("no pipelines declared (conf/base/pipelines.yml)")
        return 0
    rows = [("PIPELINE", "SCHEDULE (UTC)", "TASKS", "RETRIES", "DESCRIPTION")]
    for name, settings in config.pipelines.items():
        rows.append(
            (
                name,
                settings.schedule or "-",
                str(len(settings.tasks)),
                str(settings.retries),
                settings.description,
            )
        )
    print(text_table(rows))
    return 0


def _pipeline_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lakehouse.config import load_config
    from lakehouse.pipelines.schedule import airflow_dag

    config = load_config(args.env, args.conf_dir, project=args.project)
    source = airflow_dag(config, args.name, args.start_date)
    output = (
        Path(args.output) if args.output else Path("dags") / f"lakehouse_{args.name.replace('-', '_')}.py"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(source)
    print(
        f"wrote {output}: DAG lakehouse_{args.name.replace('-', '_')}, "
        f"{len(config.pipelines[args.name].tasks)} tasks"
    )
    return 0


def _pipeline_cron(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.pipelines.schedule import crontab_line

    print(crontab_line(load_config(args.env, args.conf_dir, project=args.project), args.name))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.pipelines.executors import bookkeeping_session
    from lakehouse.pipelines.monitor import describe_run, list_job_runs, list_pipeline_runs

    config = load_config(args.env, args.conf_dir, project=args.project)
    with bookkeeping_session(config, "lakehouse runs") as spark:
        if args.run:
            text = describe_run(spark, config, args.run)
        elif args.jobs:
            text = list_job_runs(spark, config, args.limit)
        else:
            text = list_pipeline_runs(spark, config, args.pipeline, args.limit)
    print(text)
    return 0


def _report(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.pipelines.executors import bookkeeping_session
    from lakehouse.pipelines.monitor import find_run
    from lakehouse.pipelines.report import write_report

    config = load_config(args.env, args.conf_dir, project=args.project)
    with bookkeeping_session(config, "lakehouse report") as spark:
        written = write_report(spark, config, find_run(spark, config, args.run, args.pipeline), args.output)
    print(written)
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _show_config(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config

    config = load_config(args.env, args.conf_dir, project=args.project)
    print(yaml.safe_dump(config.masked_dump(), sort_keys=False), end="")
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from lakehouse.cluster.secret import SECRET_FILE
    from lakehouse.cluster.standalone import StandaloneCluster
    from lakehouse.config import load_config
    from lakehouse.processes import descendants, listening_sockets

    config = load_config(args.env, args.conf_dir, project=args.project)
    cluster = StandaloneCluster(config.cluster, config.resolve_path(config.cluster.state_dir))
    if args.action == "up":
        cluster.start()
        auth = (
            f"RPC authentication on, secret in {cluster.state_dir / SECRET_FILE}"
            if config.cluster.authenticate
            else "RPC authentication off (cluster.authenticate: false)"
        )
        print(
            f"Spark standalone cluster up: {cluster.master_url} (web UI {cluster.master_webui}); {auth}; "
            f"run jobs on it with --env {config.env}"
        )
    elif args.action == "down":
        stopped = cluster.stop()
        print(
            "stopped " + (", ".join(f"{p.role} (pid {p.pid})" for p in stopped) or "nothing: no daemon ran")
        )
    else:
        for process in cluster.status():
            state = f"running, pid {process.pid}" if process.running else "stopped"
            listening = (
                ", ".join(
                    f"{address}:{port}" for _, address, port in listening_sockets(descendants(process.pid))
                )
                if process.running
                else ""
            )
            print(
                f"{process.role}: {state}; log {process.log_file}"
                + (f"; listens on {listening}" if listening else "")
            )
        print(f"alive workers: {cluster.alive_workers()} ({cluster.master_url})")
    return 0


def _service(args: argparse.Namespace) -> int:
    from lakehouse.config import load_config
    from lakehouse.pipelines.services import load_service

    service = load_service(args.name, load_config(args.env, args.conf_dir, project=args.project))
    print({"up": service.start, "down": service.stop, "status": service.status}[args.action]())
    return 0


def _jars(args: argparse.Namespace) -> int:
    from lakehouse.spark import jars

    return jars.main([args.action])


if __name__ == "__main__":
    sys.exit(main())
