"""The backtests table group: every backtest (`backtests/list`) and the statistics of finished
ones (`backtests/read`), with the one rule for when a backtest is finished."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.schema.columns import Table, column, extra_column, parent_column


def is_backtest_finished(backtest: Mapping[str, Any]) -> bool:
    """True when a backtest's results are final: it completed, or it stopped on an error.

    `backtests/list` has no `completed` flag, so its `status` text is read (reference §4).
    """
    if backtest.get("completed") is True or backtest.get("error"):
        return True
    status = str(backtest.get("status") or "")
    return status.startswith("Completed") or status in {"Runtime Error", "Aborted"}


def has_final_statistics(backtest: Mapping[str, Any]) -> bool:
    """True when `backtests/read` shows a finished backtest's final results (lean-cli's
    `is_complete`, reference §4): one that stopped on an error is final; any other must be
    completed, with runtime statistics, and `statistics` a map (the API sends `[]` while it is
    not ready)."""
    if not is_backtest_finished(backtest):
        return False
    return bool(backtest.get("error")) or (
        backtest.get("completed") is True
        and backtest.get("runtimeStatistics") is not None
        and isinstance(backtest.get("statistics"), Mapping)
    )


BACKTESTS = Table(
    name="backtests",
    key=("backtest_id",),
    parent="projects",
    description="One row per backtest of every project (`backtests/list`), running ones included.",
    columns=(
        parent_column("project_id", "BIGINT", "The project the backtest belongs to"),
        column("backtest_id", "VARCHAR", "backtestId"),
        column("name", "VARCHAR", "name"),
        column("status", "VARCHAR", "status", description='"Completed.", "Running: NN%", …'),
        column("completed", "BOOLEAN", parse=is_backtest_finished, description="Results are final"),
        column("created_at", "TIMESTAMPTZ", "created"),
        column("progress", "DOUBLE", "progress"),
        column("error", "VARCHAR", "error"),
        column("stacktrace", "VARCHAR", "stacktrace"),
        column("tags", "VARCHAR[]", "tags"),
        column("note", "VARCHAR", "note"),
        column("optimization_id", "VARCHAR", "optimizationId"),
        column("snapshot_id", "BIGINT", "snapshotId"),
        column("tradeable_dates", "BIGINT", "tradeableDates"),
        column("parameter_set", "JSON", "parameterSet"),
        column("sharpe_ratio", "DOUBLE", "sharpeRatio"),
        column("alpha", "DOUBLE", "alpha"),
        column("beta", "DOUBLE", "beta"),
        column("compounding_annual_return", "DOUBLE", "compoundingAnnualReturn"),
        column("drawdown", "DOUBLE", "drawdown"),
        column("loss_rate", "DOUBLE", "lossRate"),
        column("net_profit", "DOUBLE", "netProfit"),
        column("psr", "DOUBLE", "psr"),
        column("sortino_ratio", "DOUBLE", "sortinoRatio"),
        column("treynor_ratio", "DOUBLE", "treynorRatio"),
        column("win_rate", "DOUBLE", "winRate"),
        column("trades", "BIGINT", "trades"),
        column("parameters", "BIGINT", "parameters"),
        column("security_types", "VARCHAR", "securityTypes"),
        parent_column(
            "deleted_upstream_at",
            "TIMESTAMPTZ",
            "When a sync found it gone from its project's `backtests/list`, or its project gone"
            " (kept with all its rows, never fetched again); NULL while listed",
        ),
        extra_column(),
    ),
    read_keys=("completed",),  # read by `is_backtest_finished`
)

BACKTEST_STATISTICS = Table(
    name="backtest_statistics",
    key=("backtest_id", "statistic"),
    parent="backtests",
    description="One row per entry of a finished backtest's `statistics` map (`backtests/read`).",
    columns=(
        parent_column("project_id", "BIGINT", "The backtest's project"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        parent_column("statistic", "VARCHAR", 'The statistic\'s name, e.g. "Sharpe Ratio"'),
        parent_column("value_text", "VARCHAR", 'The raw formatted string, e.g. "$100,670.36"'),
        parent_column("value", "DOUBLE", "The parsed number; NULL for '-', '' or non-numbers"),
        parent_column(
            "currency", "VARCHAR", "An amount's currency ($ → USD, € → EUR, BUSD), else NULL"
        ),
    ),
)

TABLES = (BACKTESTS, BACKTEST_STATISTICS)
