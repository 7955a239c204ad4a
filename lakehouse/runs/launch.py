"""Generic ``spark-submit`` entry point for any job, including one of your own package:

spark-submit lakehouse/runs/launch.py <job or package.module:JobClass> --env cluster --param k=v
"""

import sys

from lakehouse.runs.runner import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: launch.py <job> [--env ENV] [--param KEY=VALUE ...]")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
