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
        column(
            "backtest_id",
            "VARCHAR",
            "backtestId",
            description="The backtest's id (`backtestId`): 32 hex characters",
        ),
        column("name", "VARCHAR", "name", description="The backtest's name"),
        column(
            "status",
            "VARCHAR",
            "status",
            description=(
                'The status text as sent: "Completed.", "In Queue...", "Running: NN%",'
                ' "Runtime Error"'
            ),
        ),
        column(
            "completed",
            "BOOLEAN",
            parse=is_backtest_finished,
            description=(
                "Its results are final: it completed, or stopped on an error or an abort"
                " (from `completed`, `error` and `status`)"
            ),
        ),
        column(
            "created_at",
            "TIMESTAMPTZ",
            "created",
            description="When the backtest was created (`created`), UTC",
        ),
        column("progress", "DOUBLE", "progress", description="How far it has run, from 0 to 1"),
        column("error", "VARCHAR", "error", description="The error it stopped on; NULL if none"),
        column(
            "stacktrace",
            "VARCHAR",
            "stacktrace",
            description="The error's stack trace; NULL if none",
        ),
        column(
            "tags",
            "VARCHAR[]",
            "tags",
            description="Its tags (only `backtests/list` sends them; `qcw tag` writes them)",
        ),
        column("note", "VARCHAR", "note", description="The backtest's note, when sent"),
        column(
            "optimization_id",
            "VARCHAR",
            "optimizationId",
            description='The optimization that ran it ("O-…"); NULL when none did',
        ),
        column(
            "snapshot_id",
            "BIGINT",
            "snapshotId",
            description="The id of the backtest's snapshot (`snapshotId`)",
        ),
        column(
            "tradeable_dates",
            "BIGINT",
            "tradeableDates",
            description="The number of tradeable days in its period (`tradeableDates`)",
        ),
        column(
            "parameter_set",
            "JSON",
            "parameterSet",
            description="The parameter values it ran with, {name: value}; [] when none",
        ),
        column(
            "sharpe_ratio",
            "DOUBLE",
            "sharpeRatio",
            description="Sharpe ratio, from the list's summary statistics (`sharpeRatio`)",
        ),
        column("alpha", "DOUBLE", "alpha", description="Alpha, from the list's summary statistics"),
        column("beta", "DOUBLE", "beta", description="Beta, from the list's summary statistics"),
        column(
            "compounding_annual_return",
            "DOUBLE",
            "compoundingAnnualReturn",
            description=(
                "Compounding annual return, from the list's summary"
                " (`compoundingAnnualReturn`); unit undocumented, percent like the"
                " statistic"
            ),
        ),
        column(
            "drawdown",
            "DOUBLE",
            "drawdown",
            description=(
                "Maximum drawdown, from the list's summary statistics; unit"
                " undocumented, percent like the statistic"
            ),
        ),
        column(
            "loss_rate",
            "DOUBLE",
            "lossRate",
            description=(
                "Share of losing trades, from the list's summary (`lossRate`); unit"
                " undocumented, percent like the statistic"
            ),
        ),
        column(
            "net_profit",
            "DOUBLE",
            "netProfit",
            description=(
                "Net profit, from the list's summary (`netProfit`); unit undocumented,"
                " percent like the statistic"
            ),
        ),
        column(
            "psr",
            "DOUBLE",
            "psr",
            description=(
                "Probabilistic Sharpe ratio, from the list's summary (`psr`); unit"
                " undocumented, percent like the statistic"
            ),
        ),
        column(
            "sortino_ratio",
            "DOUBLE",
            "sortinoRatio",
            description="Sortino ratio, from the list's summary statistics (`sortinoRatio`)",
        ),
        column(
            "treynor_ratio",
            "DOUBLE",
            "treynorRatio",
            description="Treynor ratio, from the list's summary statistics (`treynorRatio`)",
        ),
        column(
            "win_rate",
            "DOUBLE",
            "winRate",
            description=(
                "Share of winning trades, from the list's summary (`winRate`); unit"
                " undocumented, percent like the statistic"
            ),
        ),
        column(
            "trades",
            "BIGINT",
            "trades",
            description="A count of trades, from the list's summary statistics (`trades`)",
        ),
        column(
            "parameters",
            "BIGINT",
            "parameters",
            description="How many parameters it ran with, from the list's summary (`parameters`)",
        ),
        column(
            "security_types",
            "VARCHAR",
            "securityTypes",
            description="The security types it traded, as text (`securityTypes`)",
        ),
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
        parent_column(
            "value",
            "DOUBLE",
            "The parsed number (\"1.692%\" is 1.692); NULL for '-', '' or non-numbers",
        ),
        parent_column(
            "currency", "VARCHAR", "An amount's currency ($ → USD, € → EUR, BUSD), else NULL"
        ),
    ),
)

TABLES = (BACKTESTS, BACKTEST_STATISTICS)
