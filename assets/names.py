"""The names Dagster, its UI and its users refer to, each defined once, and the pools that
follow from the warehouse's backend."""

import os

# The asset group of every asset here.
GROUP = "quantconnect"
# DuckDB allows one writing process per file: on the file, every writer takes a slot in this
# pool (limit 1, dagster_home/dagster.yaml).
WRITER_POOL = "duckdb_writer"
# On a DuckLake, which takes many writers, the steps that call the API take a slot in this pool
# instead: its limit times each worker's QC_MAX_REQUESTS_PER_SECOND is the account's budget.
API_POOL = "quantconnect_api"
# The job that runs every asset, which the schedule and the sensor start.
SYNC_JOB = "sync_quantconnect"
# One dynamic partition per project, which the projects asset registers.
PROJECT_PARTITIONS = "qc_projects"
# The scale-out location's job of the per-project assets, one partition (project) or several
# per run.
PARTITIONED_JOB = "sync_projects_partitioned"


def on_lake() -> bool:
    """Whether the warehouse is a DuckLake (WAREHOUSE_CATALOG), read when definitions load."""
    return bool(os.environ.get("WAREHOUSE_CATALOG"))


def api_pool() -> str:
    """The pool of a step that calls the API: the writers' on the file, the API's on a lake."""
    return API_POOL if on_lake() else WRITER_POOL


def writer_pool() -> str | None:
    """The pool of a step that only uses the warehouse: the writers' on the file; none on a
    lake, which never makes a writer or reader wait."""
    return None if on_lake() else WRITER_POOL
