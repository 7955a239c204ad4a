"""spark-submit entry point of the `bronze_ingest` job.

spark-submit jobs/bronze_ingest.py --env local [--param source=orders]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("bronze_ingest"))
