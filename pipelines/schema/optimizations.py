"""The optimizations table group: parameter sweeps (`optimizations/list` and
`optimizations/read`), their parameters, constraints and backtests, and each backtest's
statistics (reference-results §1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.schema.columns import Table, column, extra_column, parent_column
from pipelines.schema.enums import EnumMap
from pipelines.schema.values import parse_int, parse_statistic_value, parse_timespan

# Lean `Common/Optimizer/OptimizationStatus.cs`, sent camelCase ("completed"); older
# documentation examples show "New": names are read in any case.
OPTIMIZATION_STATUS = EnumMap(("New", "Aborted", "Running", "Completed"))
# An optimization in one of these is never read again.
FINAL_OPTIMIZATION_STATUSES = ("Completed", "Aborted")

# Lean `StatisticsIndices`: the keys "0"…"24" of an optimization backtest's `statistics`
# object (Lean PR #8984). The legacy array holds the first 21, in this (alphabetical) order.
OPTIMIZATION_STATISTICS = (
    "Alpha",
    "Annual Standard Deviation",
    "Annual Variance",
    "Average Loss",
    "Average Win",
    "Beta",
    "Compounding Annual Return",
    "Drawdown",
    "Estimated Strategy Capacity",
    "Expectancy",
    "Information Ratio",
    "Loss Rate",
    "Net Profit",
    "Probabilistic Sharpe Ratio",
    "Profit-Loss Ratio",
    "Sharpe Ratio",
    "Total Fees",
    "Total Orders",
    "Tracking Error",
    "Treynor Ratio",
    "Win Rate",
    "Sortino Ratio",
    "Start Equity",
    "End Equity",
    "Drawdown Recovery",
)
LEGACY_STATISTICS_LENGTH = 21


def runtime_statistic(name: str, parse: Any = parse_int) -> Any:
    """A parser of the whole optimization record that reads one entry of its
    `runtimeStatistics` (strings; `[]` when empty, reference-results §1.3)."""

    def read(record: Mapping[str, Any]) -> Any:
        statistics = record.get("runtimeStatistics")
        if not isinstance(statistics, Mapping) or statistics.get(name) is None:
            return None
        return parse(str(statistics[name]).replace(",", ""))

    return read


def _consumed(text: str) -> float | None:
    return parse_statistic_value(text.removesuffix("QCC").strip())


OPTIMIZATIONS = Table(
    name="optimizations",
    key=("optimization_id",),
    parent="projects",
    description=(
        "One row per optimization (`optimizations/list` and `optimizations/read`): the sweep's"
        " settings, target, state and progress."
    ),
    columns=(
        column(
            "optimization_id",
            "VARCHAR",
            "optimizationId",
            description='The optimization\'s id (`optimizationId`): "O-" and 32 hex characters',
        ),
        parent_column("project_id", "BIGINT", "The project it optimizes"),
        column("name", "VARCHAR", "name", description="The optimization's name"),
        column(
            "status",
            "VARCHAR",
            "status",
            parse=OPTIMIZATION_STATUS,
            description="New, Running, Completed or Aborted (sent camelCase)",
        ),
        column(
            "node_type",
            "VARCHAR",
            "nodeType",
            description="The node type its backtests ran on: O2-8, O4-12 or O8-16",
        ),
        column(
            "parallel_nodes",
            "BIGINT",
            "parallelNodes",
            description="How many nodes ran its backtests at once (`parallelNodes`)",
        ),
        column(
            "strategy",
            "VARCHAR",
            "strategy",
            description=(
                "The search strategy's class, e.g."
                " QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy"
            ),
        ),
        column(
            "target",
            "VARCHAR",
            "criterion",
            "target",
            description=(
                "The target statistic's path (`criterion.target`), e.g."
                " TotalPerformance.PortfolioStatistics.SharpeRatio"
            ),
        ),
        column(
            "extremum",
            "VARCHAR",
            "criterion",
            "extremum",
            description="max or min: which way the target is optimized (`criterion.extremum`)",
        ),
        column(
            "target_value",
            "DOUBLE",
            "criterion",
            "targetValue",
            description="The target's value to reach (`criterion.targetValue`); NULL when none",
        ),
        column(
            "created_at",
            "TIMESTAMPTZ",
            "created",
            description="When the optimization was created (`created`), UTC",
        ),
        column(
            "requested_at",
            "TIMESTAMPTZ",
            "requested",
            description="When the optimization was requested (`requested`), UTC",
        ),
        column(
            "out_of_sample_days",
            "BIGINT",
            "outOfSampleDays",
            description="The length of the out-of-sample period, in days",
        ),
        column(
            "out_of_sample_max_end_date",
            "TIMESTAMPTZ",
            "outOfSampleMaxEndDate",
            description="The out-of-sample period's latest end date, UTC; NULL when none",
        ),
        column(
            "backtests_completed",
            "BIGINT",
            parse=runtime_statistic("Completed"),
            description='Backtests completed (runtime statistic "Completed")',
        ),
        column(
            "backtests_failed",
            "BIGINT",
            parse=runtime_statistic("Failed"),
            description='Backtests failed (runtime statistic "Failed")',
        ),
        column(
            "backtests_running",
            "BIGINT",
            parse=runtime_statistic("Running"),
            description='Backtests running (runtime statistic "Running")',
        ),
        column(
            "backtests_in_queue",
            "BIGINT",
            parse=runtime_statistic("In Queue"),
            description='Backtests waiting to run (runtime statistic "In Queue")',
        ),
        column(
            "backtests_total",
            "BIGINT",
            parse=runtime_statistic("Total"),
            description='Backtests in all (runtime statistic "Total")',
        ),
        column(
            "average_length",
            "INTERVAL",
            parse=runtime_statistic("Average Length", parse_timespan),
            description='A backtest\'s average run time (runtime statistic "Average Length")',
        ),
        column(
            "total_runtime",
            "INTERVAL",
            parse=runtime_statistic("Total Runtime", parse_timespan),
            description='The run time of all its backtests (runtime statistic "Total Runtime")',
        ),
        column(
            "consumed_qcc",
            "DOUBLE",
            parse=runtime_statistic("Consumed", _consumed),
            description='QuantConnect Credit (QCC) spent (runtime statistic "Consumed")',
        ),
        column(
            "runtime_statistics",
            "JSON",
            "runtimeStatistics",
            description="The runtime statistics as sent: text by name, or [] when none",
        ),
        column(
            "psr",
            "DOUBLE",
            "psr",
            description="The best backtest's probabilistic Sharpe ratio (`optimizations/list`)",
        ),
        column(
            "sharpe_ratio",
            "DOUBLE",
            "sharpeRatio",
            description="The best backtest's Sharpe ratio (`optimizations/list`)",
        ),
        column(
            "trades",
            "BIGINT",
            "trades",
            description="The best backtest's trades (`optimizations/list`)",
        ),
        column(
            "clone_id",
            "BIGINT",
            "cloneId",
            description="The `cloneId` `optimizations/list` sends; NULL when none",
        ),
        column(
            "snapshot_id",
            "BIGINT",
            "snapshotId",
            description="The id of the optimization's snapshot (`snapshotId`)",
        ),
        column("analysis", "JSON", "analysis", description="Lean's OptimizationAnalysis, raw"),
        parent_column(
            "deleted_upstream_at",
            "TIMESTAMPTZ",
            "When a sync found it gone from its project's `optimizations/list`, or its project"
            " gone (kept with all its rows, never read again); NULL while listed",
        ),
        extra_column(),
    ),
    # Other tables hold `parameters`, `constraints` and `backtests`; `gridLayout` is the
    # UI's layout; `optimizationTarget` and `targetValue` repeat `criterion`.
    read_keys=(
        "projectId",
        "parameters",
        "constraints",
        "backtests",
        "gridLayout",
        "optimizationTarget",
        "targetValue",
    ),
)

OPTIMIZATION_PARAMETERS = Table(
    name="optimization_parameters",
    key=("optimization_id", "name"),
    parent="optimizations",
    description="One row per parameter an optimization sweeps (or holds static).",
    columns=(
        parent_column("optimization_id", "VARCHAR", "The optimization"),
        column(
            "name",
            "VARCHAR",
            parse=lambda p: p.get("name") if p.get("name") is not None else p.get("key"),
            description="`name` (or the legacy `key`)",
        ),
        column("min", "DOUBLE", "min", description="The lowest value swept"),
        column("max", "DOUBLE", "max", description="The highest value swept"),
        column("step", "DOUBLE", "step", description="The step between values swept"),
        column(
            "min_step", "DOUBLE", "minStep", description="The smallest step (`minStep`), when set"
        ),
        column("value", "VARCHAR", "value", description="A static parameter's value"),
        extra_column(),
    ),
    read_keys=("name", "key"),
)

OPTIMIZATION_CONSTRAINTS = Table(
    name="optimization_constraints",
    key=("optimization_id", "ordinal"),
    parent="optimizations",
    description="One row per constraint on an optimization's backtests.",
    columns=(
        parent_column("optimization_id", "VARCHAR", "The optimization"),
        parent_column("ordinal", "BIGINT", "The constraint's position, from 1"),
        column(
            "target",
            "VARCHAR",
            "target",
            description=(
                "The constrained statistic's path, e.g."
                " TotalPerformance.PortfolioStatistics.SharpeRatio"
            ),
        ),
        column(
            "operator",
            "VARCHAR",
            "operator",
            description="As sent: GreaterOrEqual, Greater, LessOrEqual, Less, Equals or NotEqual",
        ),
        column(
            "target_value",
            "DOUBLE",
            "targetValue",
            description="The value the statistic is compared with (`targetValue`)",
        ),
        extra_column(),
    ),
)

OPTIMIZATION_BACKTESTS = Table(
    name="optimization_backtests",
    key=("optimization_id", "backtest_id"),
    parent="optimizations",
    description="One row per backtest of an optimization: one parameter set each.",
    columns=(
        parent_column("optimization_id", "VARCHAR", "The optimization"),
        column("backtest_id", "VARCHAR", "id", description="The entry's `id`, not its map key"),
        parent_column("entry_key", "VARCHAR", "The entry's key in the `backtests` map"),
        column("name", "VARCHAR", "name", description="The backtest's name"),
        column("progress", "DOUBLE", "progress", description="How far it has run, from 0 to 1"),
        column("exit_code", "BIGINT", "exitCode", description="0 when it succeeded"),
        column(
            "start_date",
            "TIMESTAMPTZ",
            "startDate",
            description="The start of the backtest's period (`startDate`), UTC",
        ),
        column(
            "end_date",
            "TIMESTAMPTZ",
            "endDate",
            description="The end of the backtest's period (`endDate`), UTC",
        ),
        column(
            "out_of_sample_days",
            "BIGINT",
            "outOfSampleDays",
            description="The length of its out-of-sample period, in days",
        ),
        column(
            "out_of_sample_max_end_date",
            "TIMESTAMPTZ",
            "outOfSampleMaxEndDate",
            description="Its out-of-sample period's latest end date, UTC",
        ),
        column(
            "parameter_set",
            "MAP(VARCHAR, VARCHAR)",
            "parameterSet",
            description="The parameter values it ran with, name → value as text (`parameterSet`)",
        ),
        parent_column(
            "statistics_format", "VARCHAR", "object (keys 0…24) or array (legacy), or NULL"
        ),
        column(
            "equity",
            "JSON",
            "equity",
            description="Its equity candlesticks [time, open, high, low, close], when sent",
        ),
        column(
            "host_name",
            "VARCHAR",
            "hostName",
            description="The host that ran it (`hostName`), when sent",
        ),
        extra_column(),
    ),
    read_keys=("statistics",),
)

OPTIMIZATION_BACKTEST_STATISTICS = Table(
    name="optimization_backtest_statistics",
    key=("optimization_id", "backtest_id", "statistic"),
    parent="optimization_backtests",
    description=(
        "One row per statistic of an optimization backtest, under LEAN's statistic names; "
        "values are percentages without % (17.8 is 17.8 %)."
    ),
    columns=(
        parent_column("optimization_id", "VARCHAR", "The optimization"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        parent_column("statistic", "VARCHAR", 'LEAN\'s name, e.g. "Sharpe Ratio"'),
        parent_column("value", "DOUBLE", "The number"),
    ),
)

TABLES = (
    OPTIMIZATIONS,
    OPTIMIZATION_PARAMETERS,
    OPTIMIZATION_CONSTRAINTS,
    OPTIMIZATION_BACKTESTS,
    OPTIMIZATION_BACKTEST_STATISTICS,
)
