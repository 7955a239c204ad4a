"""spark-submit entry point of the `quality_report` job.

spark-submit jobs/quality_report.py --env local
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("quality_report"))
