"""spark-submit entry point of the `similar_documents` job.

spark-submit jobs/similar_documents.py --env local [--param join=similar_tickets]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("similar_documents"))
