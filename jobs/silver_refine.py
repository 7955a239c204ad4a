"""spark-submit entry point of the `silver_refine` job.

spark-submit jobs/silver_refine.py --env local [--param table=orders] [--param replay=true]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("silver_refine"))
