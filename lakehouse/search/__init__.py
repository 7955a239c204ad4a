"""Vector search over embedding tables: exact with Spark, approximate with a FAISS index, and
similarity joins with SynapseML's KNN."""
