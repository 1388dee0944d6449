"""The write-back group: `api_writes`, the audit of every write request sent to the API."""

from pipelines.schema.columns import Table, parent_column

API_WRITES = Table(
    name="api_writes",
    key=("write_id",),
    description=(
        "One row per write request to the API (tags, project updates, deletes): written as an "
        "intent before the request, completed after it. Never holds the token."
    ),
    columns=(
        parent_column("write_id", "VARCHAR", "A unique id of the request"),
        parent_column(
            "sent_at", "TIMESTAMPTZ", "When the intent was recorded, just before sending"
        ),
        parent_column("endpoint", "VARCHAR", "backtests/tags/update, projects/update, …"),
        parent_column("project_id", "BIGINT", "The project written, or the backtest's"),
        parent_column("backtest_id", "VARCHAR", "The backtest written or deleted"),
        parent_column("optimization_id", "VARCHAR", "The optimization deleted"),
        parent_column("change", "JSON", '{"before": …, "after": …}: after is null for a delete'),
        parent_column(
            "outcome", "VARCHAR", "ok, or the API's error text; NULL while the request is in flight"
        ),
        parent_column("origin", "VARCHAR", "The qcw command line, or the Dagster run id"),
        parent_column("completed_at", "TIMESTAMPTZ", "When the outcome was recorded"),
        parent_column(
            "detail",
            "VARCHAR",
            "How the outcome was learned when not from the reply: reconciled from upstream "
            "after an interrupted run, or found already deleted",
        ),
    ),
)

TABLES = (API_WRITES,)
