"""spark-submit entry point of the `demo_data` job.

spark-submit jobs/demo_data.py --env local
    [--param scale=0.1 --param days=3 --param history_days=0 --param connection=none]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("demo_data"))
