"""spark-submit entry point of the `build_index` job.

spark-submit jobs/build_index.py --env local [--param table=tickets]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("build_index"))
