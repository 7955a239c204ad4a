"""spark-submit entry point of the `embed_documents` job.

spark-submit jobs/embed_documents.py --env local [--param table=tickets]
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    sys.exit(main("embed_documents"))
