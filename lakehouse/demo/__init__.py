"""Demo support: the local services (a PostgreSQL server) that the demo pipeline and the tests start."""
