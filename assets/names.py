"""The names Dagster, its UI and its users refer to, each defined once."""

# The asset group of every asset here.
GROUP = "quantconnect"
# DuckDB allows one writing process per file: every writer takes a slot in this pool.
WRITER_POOL = "duckdb_writer"
# The job that runs every asset, which the schedule and the sensor start.
SYNC_JOB = "sync_quantconnect"
