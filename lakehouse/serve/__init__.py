"""The search service (``lakehouse serve``): embedding tables over HTTP, without Spark.

See :mod:`lakehouse.serve.app` for the routes and :mod:`lakehouse.serve.server` for running it.
"""
