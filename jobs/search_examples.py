"""spark-submit entry point of the `search_examples` job.

spark-submit jobs/search_examples.py --env local
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("search_examples"))
