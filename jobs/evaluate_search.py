"""spark-submit entry point of the `evaluate_search` job.

spark-submit jobs/evaluate_search.py --env local
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("evaluate_search"))
