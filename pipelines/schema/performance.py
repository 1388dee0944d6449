"""The performance table group: what `backtests/read` says of a finished backtest beyond its
formatted statistics: its closed trades, LEAN's numeric performance statistics, and the same
statistics over rolling windows (reference-results §2.1-2.2). They load with the statistics,
in the same transaction, from the same reply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from pipelines.schema.columns import Table, column, extra_column, parent_column, wire_struct
from pipelines.schema.enums import EnumMap
from pipelines.schema.values import timespans_from_text

# Lean `Common/Statistics/Trade.cs`: 0 Long, 1 Short; older documentation examples send names.
TRADE_DIRECTION = EnumMap(("Long", "Short"))
# The sections of an AlgorithmPerformance (`totalPerformance`, each rolling window) and their
# `source`; a section nobody knows yet is stored under its own name less "Statistics".
PERFORMANCE_SOURCES = {"tradeStatistics": "trade", "portfolioStatistics": "portfolio"}
# The windows LEAN computes (Lean `StatisticsBuilder.GetRollingPerformances`), in months.
ROLLING_WINDOW_MONTHS = (1, 3, 6, 12)
TRADES_KEY = "closedTrades"


def _symbol_objects(trade: Mapping[str, Any]) -> list[Any]:
    """A trade's symbol objects: its `symbols` list, or the old singular `symbol` (Lean
    `Trade.Symbol`, kept for backward compatibility; reference-results §2.2), in either
    spelling (the trade's keys are not respelled yet)."""
    symbols = trade.get("symbols", trade.get("Symbols"))
    if isinstance(symbols, list):
        return symbols
    single = trade.get("symbol", trade.get("Symbol"))
    return [single] if isinstance(single, Mapping) else []


def _field(symbol: Any, name: str, legacy: str) -> str | None:
    if not isinstance(symbol, Mapping):
        return None
    value = symbol.get(name, symbol.get(legacy))  # the 2023 replies' PascalCase `Value`, `ID`
    return None if value is None else str(value)


def trade_symbol_columns(trades: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The `symbol`, `symbols` and `symbol_ids` columns of closed trades, in one pass."""
    values, ids = [], []
    for trade in trades:
        symbols = _symbol_objects(trade)
        values.append([_field(s, "value", "Value") for s in symbols])
        ids.append([_field(s, "id", "ID") for s in symbols])
    return {
        "symbol": [tickers[0] if tickers else None for tickers in values],
        "symbols": values,
        "symbol_ids": ids,
    }


CLOSED_TRADES = Table(
    name="closed_trades",
    key=("backtest_id", "trade_id"),
    parent="backtests",
    description=(
        "One row per closed trade (round trip) of a finished backtest (`totalPerformance."
        "closedTrades` of `backtests/read`, or `backtests/trades/read`)."
    ),
    columns=(
        parent_column("project_id", "BIGINT", "The backtest's project"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        parent_column("trade_id", "VARCHAR", "The trade's `id`; without one, its ordinal, as text"),
        parent_column("ordinal", "BIGINT", "The trade's position in the backtest's list, from 1"),
        parent_column("symbol", "VARCHAR", "The first symbol's ticker"),
        parent_column("symbols", "VARCHAR[]", "Every symbol's ticker (`trade_symbol_columns`)"),
        parent_column("symbol_ids", "VARCHAR[]", "Every symbol's LEAN id"),
        column(
            "entry_time",
            "TIMESTAMPTZ",
            "entryTime",
            description="When the trade was opened (`entryTime`), UTC",
        ),
        column(
            "exit_time",
            "TIMESTAMPTZ",
            "exitTime",
            description="When the trade was closed (`exitTime`), UTC",
        ),
        column("entry_price", "DOUBLE", "entryPrice", description="Average entry fill price"),
        column("exit_price", "DOUBLE", "exitPrice", description="Average exit fill price"),
        column(
            "direction",
            "VARCHAR",
            "direction",
            parse=TRADE_DIRECTION,
            description="Long or Short",
            wire=pa.int64(),
        ),
        column(
            "quantity",
            "DOUBLE",
            "quantity",
            description="The quantity traded, unsigned (see `direction`)",
        ),
        column(
            "profit_loss",
            "DOUBLE",
            "profitLoss",
            description="Gross profit or loss (before fees), account currency (`profitLoss`)",
        ),
        column("total_fees", "DOUBLE", "totalFees", description="Positive, account currency"),
        column("mae", "DOUBLE", "mae", description="Maximum adverse excursion, account currency"),
        column("mfe", "DOUBLE", "mfe", description="Maximum favorable excursion, account currency"),
        column(
            "end_trade_drawdown",
            "DOUBLE",
            "endTradeDrawdown",
            description="Profit given back before the trade closed, account currency",
        ),
        column(
            "duration",
            "INTERVAL",
            "duration",
            wire=pa.string(),
            parse_array=timespans_from_text,
            description="How long the trade was open (sent as a .NET TimeSpan)",
        ),
        column(
            "is_win",
            "BOOLEAN",
            "isWin",
            description=(
                "A winning trade (`isWin`): not always profit_loss > 0 (option assignments)"
            ),
        ),
        column("order_ids", "BIGINT[]", "orderIds", description="Its orders (`orders.order_id`)"),
        extra_column(),
    ),
    # `symbols`/`symbol` give the symbol columns; `id` gives `trade_id`; `orders` (only from
    # backtests/trades/read) repeats the backtest's orders, which the orders table holds.
    read_keys=("symbols", "symbol", "id", "orders"),
    key_constraint=False,  # bulk rows, as orders: the asset check verifies the key
)


_SYMBOL_FIELDS = [("value", pa.string()), ("id", pa.string()), ("permtick", pa.string())]
# A closed trade as today's API sends it (camelCase, Lean PRs #8989 and #9234): what pyarrow's
# JSON reader expects of each trade. A key or a type outside it (the 2023 PascalCase trades,
# names for `direction`) sends the backtest's trades down the record-by-record path.
TRADE_WIRE = wire_struct(
    CLOSED_TRADES,
    {
        ("id",): pa.string(),
        ("symbols",): pa.list_(
            pa.struct([*_SYMBOL_FIELDS, ("underlying", pa.struct(_SYMBOL_FIELDS))])
        ),
    },
)


def _performance_columns() -> tuple:
    return (
        parent_column("source", "VARCHAR", "trade (tradeStatistics) or portfolio"),
        parent_column("statistic", "VARCHAR", "The API's camelCase name, e.g. sharpeRatio"),
        parent_column("value", "DOUBLE", "The number as the API gives it (fractions, not percent)"),
        parent_column("value_text", "VARCHAR", "The value as sent when not a plain number"),
        parent_column("value_interval", "INTERVAL", "A TimeSpan value as a duration"),
    )


BACKTEST_PERFORMANCE = Table(
    name="backtest_performance",
    key=("backtest_id", "source", "statistic"),
    parent="backtests",
    description=(
        "One row per numeric performance statistic of a finished backtest (`totalPerformance`"
        " of `backtests/read`: tradeStatistics and portfolioStatistics)."
    ),
    columns=(
        parent_column("project_id", "BIGINT", "The backtest's project"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        *_performance_columns(),
    ),
)

BACKTEST_ROLLING_STATISTICS = Table(
    name="backtest_rolling_statistics",
    key=("backtest_id", "window_months", "period_end", "source", "statistic"),
    parent="backtests",
    description=(
        "One row per performance statistic of a rolling window of a finished backtest "
        "(`rollingWindow` of `backtests/read`, keys such as M3_20231231)."
    ),
    columns=(
        parent_column("project_id", "BIGINT", "The backtest's project"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        parent_column("window_months", "BIGINT", "The window's length: 1, 3, 6 or 12 months"),
        parent_column("period_end", "DATE", "The window's last day"),
        *_performance_columns(),
    ),
    key_constraint=False,  # the largest table by far: the asset check verifies the key
)

TABLES = (CLOSED_TRADES, BACKTEST_PERFORMANCE, BACKTEST_ROLLING_STATISTICS)
