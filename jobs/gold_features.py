"""spark-submit entry point of the `gold_features` job.

spark-submit jobs/gold_features.py --env local [--param start=2026-01-02 --param end=2026-01-08]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("gold_features"))
