"""spark-submit entry point of the `sample_data` job.

spark-submit jobs/sample_data.py --env local [--param dataset=breast_cancer]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("sample_data"))
