"""What each ``lakehouse`` command does: one handler per command, given the parsed arguments,
returning the exit code (the parser is in :mod:`lakehouse.cli`)."""

from __future__ import annotations

import argparse
import sys

import yaml

from lakehouse.display import text_table
from lakehouse.errors import LakehouseError
from lakehouse.runs.runner import execute


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
