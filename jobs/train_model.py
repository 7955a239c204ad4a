"""spark-submit entry point of the `train_model` job.

spark-submit jobs/train_model.py --env local [--param model=churn]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("train_model"))
