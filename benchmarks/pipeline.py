"""The demo pipeline run in one SparkSession (``session`` mode) next to one ``spark-submit`` per job
(``submit`` mode, the way ``make demo`` ran the jobs before pipelines, one process each).

Each side runs ``lakehouse pipeline run demo`` in a fresh process, from an empty lakehouse root of its
own, on the embedded ``local[*]`` master; the demo's PostgreSQL is shared (demo_data rewrites it
identically). The wall time of the whole command is measured, and each task's time is read from the
run's record in ``ops.pipeline_runs``.

    python benchmarks/pipeline.py [--quick]

``--quick`` runs the first four tasks (hello, demo_data, bronze_ingest, silver_refine) only.

Goals: session mode takes less time than submit mode (ratio session / submit < 1), and the whole
demo pipeline in session mode takes under 15 minutes on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

QUICK_TASKS = "hello,demo_data,bronze_ingest,silver_refine"
DEMO_LIMIT_S = 15 * 60

# read the run's record back, in a process of the same environment
READ_RUN = """
import json, sys
from lakehouse.config import load_config
from lakehouse.pipelines.runner import bookkeeping_config
from lakehouse.pipelines.records import PipelineRunStore
from lakehouse.spark.session import build_session
from lakehouse.storage.layout import StorageLayout
config = load_config("local")
spark = build_session(bookkeeping_config(config))
[run] = PipelineRunStore(spark, StorageLayout.from_config(config)).recent("demo", limit=1)
print("RUN " + json.dumps({"status": run.status, "seconds": run.duration_seconds,
      "tasks": {t.task: t.duration_seconds for t in run.tasks}}))
spark.stop()
"""


def run_side(mode: str, root: Path, quick: bool) -> dict:
    environ = {**os.environ, "LAKEHOUSE_ROOT": str(root)}
    command = [str(PROJECT_DIR / ".venv" / "bin" / "lakehouse"), "pipeline", "run", "demo", "--mode", mode]
    if quick:
        command += ["--only", QUICK_TASKS]
    clock = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_DIR, env=environ, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - clock
    if done.returncode != 0:
        sys.exit(f"{mode} mode failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    read = subprocess.run(
        [sys.executable, "-c", READ_RUN],
        cwd=PROJECT_DIR,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(next(line for line in read.stdout.splitlines() if line.startswith("RUN "))[4:])
    print(f"{mode}: {wall:.1f} s wall, run {record['seconds']:.1f} s, status {record['status']}", flush=True)
    return {"wall_s": round(wall, 1), "run_s": round(record["seconds"], 1), "tasks_s": record["tasks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_TASKS}")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lakehouse-pipeline-bench-"))
    try:
        sides = {mode: run_side(mode, work / mode, args.quick) for mode in ("session", "submit")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = round(sides["session"]["wall_s"] / sides["submit"]["wall_s"], 3)
    under_limit = args.quick or sides["session"]["wall_s"] < DEMO_LIMIT_S
    print(f"session / submit wall time: {ratio:.3f} (goal < 1); session {sides['session']['wall_s']} s")
    path = write_results(
        "pipeline",
        args.quick,
        {"pipeline": "demo", "scale": 1.0, "days": 7, "tasks": QUICK_TASKS if args.quick else "all 13"},
        sides,
        ratio,
        "session / submit wall time < 1; the whole demo in session mode < 900 s",
        ratio < 1 and under_limit,
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
