"""spark-submit entry point of the `hello` job.

spark-submit jobs/hello.py --env local [--param rows=1000]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("hello"))
