"""spark-submit entry point of the `batch_score` job.

spark-submit jobs/batch_score.py --env local [--param model=churn]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("batch_score"))
