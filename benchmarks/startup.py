"""Session start-up: lakehouse's session next to a plain SparkSession with no extra jars.

Each start is a fresh Python process (a JVM cannot be restarted in-process). Both sides are
timed from before ``import pyspark`` to the first answered query (``SELECT 1``), because our
session does its catalog work (layer databases, registering existing tables) during start;
the time to ``getOrCreate`` alone is reported too. Jar caches are warm: ``make setup`` has
resolved the jars, and the baseline reads no ``spark-defaults.conf``.

    python benchmarks/startup.py [--quick] [--runs N] [--tables N]

Two of our sides are timed: an empty lakehouse (the cost of the jars, Delta's extension, our
catalog and the layer databases) and one holding ``--tables`` tables. Table names resolve from
storage when a query uses them (``LakehouseCatalog``), so the second should cost no more than
the first; an earlier design that registered every table at start cost 0.38 s per table here.

Goal: ours (empty lakehouse) / plain <= 1.5 on time to first query; the ratio with tables is
reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.machine import machine  # noqa: E402

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
ready = time.perf_counter()
# not timed: how many tables the lakehouse holds, and that their names resolve
from lakehouse.storage import StorageLayout
from lakehouse.storage.catalog import list_tables
tables = list_tables(spark, StorageLayout.from_config(load_config("local")))
assert all(spark.table(str(table.table)).count() == 100 for table in tables[:3])
print(json.dumps({"created": created - start, "ready": ready - start, "tables": len(tables)}))
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 starts per side, 5 tables (about 3 minutes)")
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
        common = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        plain_env = {**common, "SPARK_CONF_DIR": str(empty_conf)}  # no spark-defaults.conf: no extra jars
        empty_env = {**common, "LAKEHOUSE_ROOT": str(Path(scratch) / "empty")}
        ours_env = {**common, "LAKEHOUSE_ROOT": str(Path(scratch) / "lakehouse")}
        if tables:
            run_child(SEED, ours_env, str(tables))
        # one unmeasured start each, so every side meets warm OS file caches
        run_child(PLAIN, plain_env)
        run_child(OURS, empty_env)
        plain, empty, ours = [], [], []
        for _ in range(runs):  # interleave so that drift on the machine hits every side alike
            plain.append(run_child(PLAIN, plain_env))
            empty.append(run_child(OURS, empty_env))
            ours.append(run_child(OURS, ours_env))

    def median(samples: list[dict], key: str) -> float:
        return round(statistics.median(sample[key] for sample in samples), 3)

    figures = {
        "plain_ready_s": median(plain, "ready"),
        "ours_empty_ready_s": median(empty, "ready"),
        "ours_with_tables_ready_s": median(ours, "ready"),
        "plain_created_s": median(plain, "created"),
        "ours_empty_created_s": median(empty, "created"),
        "ours_with_tables_created_s": median(ours, "created"),
        "plain_ready_all_s": [round(s["ready"], 3) for s in plain],
        "ours_empty_ready_all_s": [round(s["ready"], 3) for s in empty],
        "ours_with_tables_ready_all_s": [round(s["ready"], 3) for s in ours],
    }
    ratio = round(figures["ours_empty_ready_s"] / figures["plain_ready_s"], 3)
    tables_ratio = round(figures["ours_with_tables_ready_s"] / figures["plain_ready_s"], 3)
    per_table = (figures["ours_with_tables_ready_s"] - figures["ours_empty_ready_s"]) / max(tables, 1)
    registered = ours[0].get("tables")
    result = {
        "benchmark": "startup",
        "what": "fresh process: import + SparkSession start + first query (SELECT 1), median",
        "figures": figures,
        "ratio": ratio,
        "ratio_with_tables": tables_ratio,
        "seconds_per_table_on_storage": round(per_table, 3),
        "goal": f"ours (empty lakehouse) / plain <= {GOAL}",
        "goal_met": ratio <= GOAL,
        "data_size": {"tables_on_storage": registered, "runs_per_side": runs},
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"plain SparkSession, no extra jars  : {figures['plain_ready_s']:.2f} s to first query")
    print(f"lakehouse session, empty lakehouse : {figures['ours_empty_ready_s']:.2f} s")
    print(
        f"lakehouse session, {registered} tables      : {figures['ours_with_tables_ready_s']:.2f} s "
        f"({per_table:+.2f} s per table on storage)"
    )
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(
        f"ratio {ratio:.2f}x (goal <= {GOAL}x: {verdict}); with {registered} tables {tables_ratio:.2f}x; "
        f"results in {RESULTS.relative_to(PROJECT_DIR)}"
    )


if __name__ == "__main__":
    main()
