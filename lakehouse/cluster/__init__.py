"""A local Spark standalone cluster (master and worker) started from the installed pyspark."""

from lakehouse.cluster.standalone import StandaloneCluster

__all__ = ["StandaloneCluster"]
