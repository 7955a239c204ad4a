"""Vector search over embedding tables: exact with Spark, approximate with a FAISS index, and
similarity joins (exact within small groups, HNSW graphs for large ones)."""
