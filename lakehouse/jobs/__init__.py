"""The framework's own jobs; each has a thin ``spark-submit`` entry point in the top-level ``jobs/``."""
