"""Bronze ingestion: raw sources (landed files, databases) into bronze Delta tables, incrementally."""
