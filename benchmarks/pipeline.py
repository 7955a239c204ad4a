"""The demo pipeline: session mode against submit mode, or (``--scale``) how its cost grows with the data.

Modes (the default): the demo pipeline run in one SparkSession (``session`` mode) next to one
``spark-submit`` per job (``submit`` mode, the way ``make demo`` ran the jobs before pipelines, one
process each). Each side runs ``lakehouse pipeline run demo`` in a fresh process, from an empty
lakehouse root of its own, on the embedded ``local[*]`` master; the demo's PostgreSQL is shared
(demo_data rewrites it identically). The wall time of the whole command is measured, and each task's
time is read from the run's record in ``ops.pipeline_runs``. Goals: session mode takes less time than
submit mode (ratio session / submit < 1), and the whole demo in session mode under 15 minutes.

Scale (``--scale``): the demo pipeline at three scale factors (``--scales``, default 1, 10 and 30:
the whole benchmark takes 34 minutes; at 50, similar_documents and evaluate_search, which grow
faster than their rows, would take it past an hour), each from an empty project of its own (a
copy of ``conf/`` whose ``local`` environment sets demo_data's ``scale``, its own lakehouse root
and its own PostgreSQL). Per stage: seconds (from the
run record), rows in (the rows of the tables the job read, at the Delta versions it read, from
``ops.job_runs``) and rows out (its rows written, bookkeeping excluded). A stage's cost is fitted as
``fixed + b * rows ** k`` through its three points; ``k`` is its growth exponent once the fixed
start-up cost is taken out, which equals log((t3 - fixed) / (t2 - fixed)) / log(r3 / r2) between the
two largest scales. Then the incremental case: at the middle scale, the demo's own job lands day 8
(``demo_data --param days=8 --param day=7``) and ``lakehouse pipeline run daily --date 2026-01-08``
processes it. Goals: no stage grows faster than linearly (k <= 1.1), and the daily run costs <= 20%
of the week's run (both without the landing by demo_data, which is not processing).

    python benchmarks/pipeline.py [--quick]
    python benchmarks/pipeline.py --scale [--scales 1,10,30] [--quick]

``--quick`` runs the first four tasks (hello, demo_data, bronze_ingest, silver_refine) only, on the
demo's week without its history; with ``--scale`` at scales 0.05, 0.1 and 0.2, and the daily run's
bronze_ingest and silver_refine only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

QUICK_TASKS = "hello,demo_data,bronze_ingest,silver_refine"
DEMO_LIMIT_S = 15 * 60
LAKEHOUSE = str(PROJECT_DIR / ".venv" / "bin" / "lakehouse")

SCALES = "1,10,30"
QUICK_SCALES = "0.05,0.1,0.2"
SEARCH_METRICS = (".search_seconds", ".trial_seconds", ".rounds")  # train_model's, per model
WEEK_END = "2026-01-07"  # the demo lands 1 .. 7 January
NEXT_DAY = "2026-01-08"  # day index 7, landed afterwards for the incremental case
QUICK_DAILY_TASKS = "bronze_ingest,silver_refine"
EXPONENT_GOAL = 1.1
INCREMENTAL_GOAL = 0.2
MATERIAL_S = 5.0  # a stage is judged when its time grows by at least this much over the scales
MATERIAL_SHARE = 0.25  # and by this share of its time at the largest scale


class Project(NamedTuple):
    """Where a side runs: its lakehouse root (``LAKEHOUSE_ROOT``) and its ``conf`` folder."""

    root: Path
    conf: Path

    def environment(self) -> dict[str, str]:
        return {**os.environ, "LAKEHOUSE_ROOT": str(self.root)}


def run_side(mode: str, root: Path, quick: bool) -> dict:
    project = Project(root, PROJECT_DIR / "conf")
    if quick:  # the week alone: the four tasks in a few minutes, without the 84 days of history
        project = Project(root, root.parent / f"conf-{mode}")
        shutil.copytree(PROJECT_DIR / "conf", project.conf)
        override = (
            "# benchmarks/pipeline.py --quick\njobs:\n  demo_data:\n    params:\n      history_days: 0\n"
        )
        (project.conf / "local" / "benchmark_quick.yml").write_text(override)
    command = ["pipeline", "run", "demo", "--mode", mode]
    if quick:
        command += ["--only", QUICK_TASKS]
    try:
        wall = lakehouse(project, *command)
    finally:
        stop_database(project)  # each side, and any later run, starts its own on the same port
    record = read_stages(project, "demo")
    print(f"{mode}: {wall:.1f} s wall, run {record['seconds']:.1f} s, status {record['status']}", flush=True)
    tasks = {name: stage["seconds"] for name, stage in record["stages"].items()}
    return {"wall_s": round(wall, 1), "run_s": record["seconds"], "tasks_s": tasks}


def compare_modes(quick: bool) -> None:
    """Session mode against submit mode (the default benchmark)."""
    work = Path(tempfile.mkdtemp(prefix="lakehouse-pipeline-bench-"))
    try:
        sides = {mode: run_side(mode, work / mode, quick) for mode in ("session", "submit")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = round(sides["session"]["wall_s"] / sides["submit"]["wall_s"], 3)
    under_limit = quick or sides["session"]["wall_s"] < DEMO_LIMIT_S
    print(f"session / submit wall time: {ratio:.3f} (goal < 1); session {sides['session']['wall_s']} s")
    path = write_results(
        "pipeline",
        quick,
        {
            "pipeline": "demo",
            "scale": 1.0,
            "days": 7,
            "history_days": 0 if quick else 84,
            "tasks": QUICK_TASKS if quick else "all 13",
        },
        sides,
        ratio,
        "session / submit wall time < 1; the whole demo in session mode < 900 s",
        ratio < 1 and under_limit,
    )
    print(f"results: {path}")


# the stages of the latest run of a pipeline: seconds, rows in (the non-bookkeeping tables its job
# read, counted at the versions it read) and rows out; argv: conf folder, pipeline
READ_STAGES = """
import json, sys
from pyspark.sql import functions as F
from lakehouse.config import load_config
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.executors import bookkeeping_config
from lakehouse.pipelines.records import PipelineRunStore
from lakehouse.spark.session import build_session
from lakehouse.storage.layout import StorageLayout
config = load_config("local", conf_dir=sys.argv[1])
spark = build_session(bookkeeping_config(config))
layout = StorageLayout.from_config(config)
store = DeltaStore(spark, layout)
[run] = PipelineRunStore(spark, layout).recent(sys.argv[2], limit=1)
jobs = store.read("ops.job_runs").where(F.col("run_id").isin(run.job_run_ids())).collect()
tables_read = {row["run_id"]: dict(row["tables_read"] or {}) for row in jobs}
# demo_data lands files and database rows, not tables: its run keeps them as landed_rows.* metrics
metrics = {row["run_id"]: dict(row["metrics"] or {}) for row in jobs}
landed = {run_id: sum(v for k, v in found.items() if k.startswith("landed_rows."))
          for run_id, found in metrics.items()}
counted = {}
def rows(table, version):
    if (table, version) not in counted:
        counted[(table, version)] = store.read(table, version=version).count()
    return counted[(table, version)]
stages = {}
for task in run.tasks:
    last = task.job_run_ids[-1] if task.job_run_ids else None
    read = tables_read.get(last, {})
    read = {table: version for table, version in read.items() if not table.startswith("ops.")}
    stages[task.task] = {
        "seconds": round(task.duration_seconds or 0.0, 1),
        "rows_in": sum(rows(table, version) for table, version in read.items()),
        "rows_out": sum(n for table, n in task.rows_written.items() if not table.startswith("ops."))
        + int(landed.get(last, 0)),
        "tables_read": sorted(read),
        "metrics": {k: v for k, v in metrics.get(last, {}).items() if not k.startswith("landed_rows.")},
    }
seconds = round(run.duration_seconds, 1)
print("RUN " + json.dumps({"status": run.status, "seconds": seconds, "stages": stages}))
spark.stop()
"""


def scale_project(work: Path, scale: float) -> Project:
    """An empty project of its own: the shipped configuration with demo_data at this scale, the
    demo's week alone (no history, so that the rows grow with the scale only) and churn labels
    sized for a week."""
    folder = work / f"scale-{scale:g}"
    project = Project(folder / "lakehouse", folder / "conf")
    shutil.copytree(PROJECT_DIR / "conf", project.conf)
    override = (
        "# benchmarks/pipeline.py --scale\n"
        f"jobs:\n  demo_data:\n    params:\n      scale: {scale}\n      history_days: 0\n"
        "features:\n  labels:\n    churn:\n      active: 2d\n      horizon: 2d\n      every: 1d\n"
    )
    (project.conf / "local" / "benchmark_scale.yml").write_text(override)
    return project


def lakehouse(project: Project, *arguments: str, required: bool = True) -> float:
    """Run one ``lakehouse`` command on the project; its wall seconds. Stops the benchmark when a
    required command fails."""
    command = [LAKEHOUSE, *arguments, "--conf-dir", str(project.conf)]
    clock = time.perf_counter()
    done = subprocess.run(
        command, cwd=PROJECT_DIR, env=project.environment(), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - clock
    if required and done.returncode != 0:
        sys.exit(
            f"{' '.join(arguments)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return wall


def read_stages(project: Project, pipeline: str) -> dict:
    read = subprocess.run(
        [sys.executable, "-c", READ_STAGES, str(project.conf), pipeline],
        cwd=PROJECT_DIR,
        env=project.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if read.returncode != 0:
        sys.exit(f"reading the run of {pipeline} failed:\n{read.stderr[-3000:]}")
    return json.loads(next(line for line in read.stdout.splitlines() if line.startswith("RUN "))[4:])


def stage_rows(stage: dict) -> int:
    """The rows a stage processes: what it read, or what it wrote when it reads no table (landing,
    ingest)."""
    return stage["rows_in"] or stage["rows_out"]


def growth(points: list[tuple[int, float]]) -> dict:
    """Fit ``seconds = fixed + b * rows ** k`` through three (rows, seconds) points of rising rows.

    ``(t3 - t2) / (t2 - t1) = (r3^k - r2^k) / (r2^k - r1^k)`` rises with ``k``, so ``k`` is found by
    bisection; then ``b`` and ``fixed`` follow. Times that do not rise with the rows (a stage that is
    all fixed cost, within noise) get no exponent, and neither do those whose time grew by less than
    ``MATERIAL_S`` seconds or ``MATERIAL_SHARE`` of their largest time: a fit through differences of a
    second or two is noise.
    """
    (r1, t1), (r2, t2), (r3, t3) = points
    plain = math.log(t3 / t2) / math.log(r3 / r2) if r3 > r2 and t2 > 0 else None
    result = {"plain_exponent": None if plain is None else round(plain, 2)}
    if not (r1 < r2 < r3):
        return {**result, "exponent": None, "fixed_s": None, "why": "its rows do not grow with the scale"}
    if not (t1 < t2 < t3) or t3 - t1 < max(MATERIAL_S, MATERIAL_SHARE * t3):
        why = f"mostly fixed cost: {t1:.1f} s at the smallest scale, {t3:.1f} s at the largest"
        return {**result, "exponent": None, "fixed_s": None, "why": why}

    def ratio(k: float) -> float:
        return (r3**k - r2**k) / (r2**k - r1**k)

    target, low, high = (t3 - t2) / (t2 - t1), 0.01, 4.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if ratio(middle) < target else (low, middle)
    k = (low + high) / 2
    b = (t2 - t1) / (r2**k - r1**k)
    return {**result, "exponent": round(k, 2), "fixed_s": round(t1 - b * r1**k, 1), "why": None}


def run_scale(work: Path, scale: float, quick: bool) -> tuple[Project, dict]:
    """The demo pipeline at one scale from an empty project; its stages."""
    project = scale_project(work, scale)
    command = ["pipeline", "run", "demo", "--date", WEEK_END]
    if quick:
        command += ["--only", QUICK_TASKS]
    try:
        wall = lakehouse(project, *command)
    finally:
        stop_database(project)
    run = read_stages(project, "demo")
    print(f"scale {scale:g}: {wall:.1f} s wall, run {run['seconds']} s", flush=True)
    for name, stage in run["stages"].items():
        print(
            f"  {name:<18} {stage['seconds']:>7.1f} s"
            f"  in {stage['rows_in']:>10,}  out {stage['rows_out']:>10,}"
        )
        searched = {k: v for k, v in stage["metrics"].items() if k.endswith(SEARCH_METRICS)}
        if searched:  # train_model: what its search cost, to tell rows from rounds
            print("      " + ", ".join(f"{k} {v:g}" for k, v in sorted(searched.items())))
    return project, {"wall_s": round(wall, 1), **run}


def stop_database(project: Project) -> None:
    """Stop the project's PostgreSQL (the next project starts its own on the same port)."""
    lakehouse(project, "db", "down", required=False)


def run_incremental(project: Project, week: dict, quick: bool) -> dict:
    """Day 8 landed onto the project's week, then the daily pipeline for it; against the week's run."""
    try:
        lakehouse(project, "db", "up")  # the day's database changes land in, and are ingested from, it
        landing = lakehouse(project, "run", "demo_data", "--param", "days=8", "--param", "day=7")
        command = ["pipeline", "run", "daily", "--date", NEXT_DAY]
        if quick:
            command += ["--only", QUICK_DAILY_TASKS]
        wall = lakehouse(project, *command)
    finally:
        stop_database(project)
    daily = read_stages(project, "daily")
    week_s = week["seconds"] - week["stages"]["demo_data"]["seconds"]
    ratio = round(daily["seconds"] / week_s, 3)
    print(
        f"day 8: landing {landing:.1f} s; daily run {daily['seconds']} s"
        f" against the week's {week_s:.1f} s: {ratio}"
    )
    return {
        "landing_s": round(landing, 1),
        "wall_s": round(wall, 1),
        **daily,
        "week_s": round(week_s, 1),
        "ratio": ratio,
    }


def measure_growth(quick: bool, scales: list[float]) -> None:
    """The demo pipeline at each scale, the growth of each stage, and the incremental day."""
    if len(scales) != 3 or sorted(scales) != scales:
        sys.exit(f"--scales: give three rising scale factors, got {scales}")
    work = Path(tempfile.mkdtemp(prefix="lakehouse-scale-bench-"))
    try:
        runs, incremental = {}, None
        for scale in scales:
            project, runs[scale] = run_scale(work, scale, quick)
            if scale == scales[1]:
                incremental = run_incremental(project, runs[scale], quick)
            if scale != scales[-1]:
                shutil.rmtree(project.conf.parent, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    stages = {}
    for name in runs[scales[0]]["stages"]:
        points = [(stage_rows(runs[s]["stages"][name]), runs[s]["stages"][name]["seconds"]) for s in scales]
        stages[name] = {"rows": [p[0] for p in points], "seconds": [p[1] for p in points], **growth(points)}
        fit = stages[name]
        print(
            f"{name:<18} rows {fit['rows']}  s {fit['seconds']}"
            f"  k {fit['exponent']}  fixed {fit['fixed_s']} s" + (f"  ({fit['why']})" if fit["why"] else "")
        )
    faster = sorted(name for name, fit in stages.items() if (fit["exponent"] or 0) > EXPONENT_GOAL)
    ratio = incremental["ratio"]
    met = not faster and ratio <= INCREMENTAL_GOAL
    print(
        f"stages growing faster than rows^{EXPONENT_GOAL}: {', '.join(faster) or 'none'}; "
        f"daily / week: {ratio} (goal <= {INCREMENTAL_GOAL})"
    )
    path = write_results(
        "pipeline_scale",
        quick,
        {
            "pipeline": "demo",
            "scales": scales,
            "days": 7,
            "incremental": f"day 8 ({NEXT_DAY}) at scale {scales[1]:g}",
            "tasks": QUICK_TASKS if quick else "all 13",
        },
        {
            "runs": {f"{s:g}": runs[s] for s in scales},
            "stages": stages,
            "incremental": incremental,
            "faster_than_linear": faster,
        },
        ratio,
        f"every stage's growth exponent after its fixed cost <= {EXPONENT_GOAL}; daily run for day 8 "
        f"<= {INCREMENTAL_GOAL} of the week's run (landing excluded on both sides)",
        met,
    )
    print(f"results: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_TASKS} (and small scales)")
    parser.add_argument("--scale", action="store_true", help="how the cost grows with the scale factor")
    parser.add_argument(
        "--scales", help=f"three rising scale factors (default {SCALES}, quick {QUICK_SCALES})"
    )
    args = parser.parse_args()
    if args.scale:
        scales = args.scales or (QUICK_SCALES if args.quick else SCALES)
        measure_growth(args.quick, [float(value) for value in scales.split(",")])
    else:
        compare_modes(args.quick)


if __name__ == "__main__":
    main()
