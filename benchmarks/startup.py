"""Session start-up: lakehouse's session next to a plain SparkSession with no extra jars.

Each start is a fresh Python process (a JVM cannot be restarted in-process). Both sides are
timed from before ``import pyspark`` to the first answered query (``SELECT 1``), because our
session does its catalog work (layer databases, registering existing tables) during start;
the time to ``getOrCreate`` alone is reported too. Jar caches are warm: ``make setup`` has
resolved the jars, and the baseline reads no ``spark-defaults.conf``.

    python benchmarks/startup.py [--quick] [--runs N] [--tables N]

Goal: ours / plain <= 1.5 on time to first query.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_DIR / "benchmarks" / "results" / "startup.json"
GOAL = 1.5

PLAIN = """
import json, time
start = time.perf_counter()
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[*]").appName("plain").getOrCreate()
created = time.perf_counter()
spark.sql("SELECT 1").collect()
print(json.dumps({"created": created - start, "ready": time.perf_counter() - start}))
"""

OURS = """
import json, time
start = time.perf_counter()
from lakehouse.config import load_config
from lakehouse.spark import build_session
spark = build_session(load_config("local"))
created = time.perf_counter()
spark.sql("SELECT 1").collect()
tables = sum(len(spark.catalog.listTables(layer)) for layer in ("bronze", "silver", "gold", "ops"))
print(json.dumps({"created": created - start, "ready": time.perf_counter() - start, "tables": tables}))
"""

SEED = """
from lakehouse.config import load_config
from lakehouse.io import DeltaStore
from lakehouse.spark import build_session
from lakehouse.storage import StorageLayout
import sys
config = load_config("local")
spark = build_session(config)
store = DeltaStore(spark, StorageLayout.from_config(config))
for index in range(int(sys.argv[1])):
    layer = ("bronze", "silver", "gold")[index % 3]
    store.overwrite(f"{layer}.table_{index}", spark.range(100).selectExpr("id", "id * 2 AS doubled"))
"""


def run_child(code: str, environment: dict[str, str], *arguments: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        env=environment,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr[-3000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def machine() -> dict:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "java": java,
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 starts each, 5 tables (about 2 minutes)")
    parser.add_argument("--runs", type=int, help="starts per side (default 7, quick 3)")
    parser.add_argument(
        "--tables", type=int, help="existing tables our session registers (default 20, quick 5)"
    )
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    tables = args.tables if args.tables is not None else (5 if args.quick else 20)

    with tempfile.TemporaryDirectory() as scratch:
        empty_conf = Path(scratch) / "spark-conf"
        empty_conf.mkdir()
        common = {
            **os.environ,
            "LAKEHOUSE_ROOT": str(Path(scratch) / "lakehouse"),
            "PYSPARK_PYTHON": sys.executable,
        }
        plain_env = {**common, "SPARK_CONF_DIR": str(empty_conf)}  # no spark-defaults.conf: no extra jars
        ours_env = dict(common)
        if tables:
            run_child(SEED, ours_env, str(tables))
        # one unmeasured start each, so both sides meet warm OS file caches
        run_child(PLAIN, plain_env)
        run_child(OURS, ours_env)
        plain, ours = [], []
        for _ in range(runs):  # alternate so that drift on the machine hits both sides alike
            plain.append(run_child(PLAIN, plain_env))
            ours.append(run_child(OURS, ours_env))

    def median(samples: list[dict], key: str) -> float:
        return round(statistics.median(sample[key] for sample in samples), 3)

    figures = {
        "plain_ready_s": median(plain, "ready"),
        "ours_ready_s": median(ours, "ready"),
        "plain_created_s": median(plain, "created"),
        "ours_created_s": median(ours, "created"),
        "plain_ready_all_s": [round(s["ready"], 3) for s in plain],
        "ours_ready_all_s": [round(s["ready"], 3) for s in ours],
    }
    ratio = round(figures["ours_ready_s"] / figures["plain_ready_s"], 3)
    created_ratio = round(figures["ours_created_s"] / figures["plain_created_s"], 3)
    result = {
        "benchmark": "startup",
        "what": "fresh process: import + SparkSession start + first query (SELECT 1), median",
        "figures": figures,
        "ratio": ratio,
        "ratio_created_only": created_ratio,
        "goal": f"ours / plain <= {GOAL}",
        "goal_met": ratio <= GOAL,
        "data_size": {"tables_registered_at_start": ours[0].get("tables"), "runs_per_side": runs},
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"plain SparkSession, no extra jars : {figures['plain_ready_s']:.2f} s to first query "
        f"({figures['plain_created_s']:.2f} s to getOrCreate)"
    )
    print(
        f"lakehouse session ({ours[0].get('tables')} tables)   : {figures['ours_ready_s']:.2f} s to first query "
        f"({figures['ours_created_s']:.2f} s to session ready)"
    )
    print(
        f"ratio {ratio:.2f}x (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'}); "
        f"getOrCreate-only ratio {created_ratio:.2f}x; results in {RESULTS.relative_to(PROJECT_DIR)}"
    )


if __name__ == "__main__":
    main()
