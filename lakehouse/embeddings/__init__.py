"""Embeddings: documents of lakehouse tables cut into chunks and embedded with sentence-transformers."""
