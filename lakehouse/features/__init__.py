"""Feature tables: windowed aggregates per entity and as-of date, point-in-time training sets, labels."""
