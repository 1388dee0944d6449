"""The performance table group: what `backtests/read` says of a finished backtest beyond its
formatted statistics: its closed trades, LEAN's numeric performance statistics, and the same
statistics over rolling windows (reference-results §2.1-2.2). They load with the statistics,
in the same transaction, from the same reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.schema.columns import Table, column, extra_column, parent_column
from pipelines.schema.enums import EnumMap

# Lean `Common/Statistics/Trade.cs`: 0 Long, 1 Short; older documentation examples send names.
TRADE_DIRECTION = EnumMap(("Long", "Short"))
# The sections of an AlgorithmPerformance (`totalPerformance`, each rolling window) and their
# `source`; a section nobody knows yet is stored under its own name less "Statistics".
PERFORMANCE_SOURCES = {"tradeStatistics": "trade", "portfolioStatistics": "portfolio"}
# The windows LEAN computes (Lean `StatisticsBuilder.GetRollingPerformances`), in months.
ROLLING_WINDOW_MONTHS = (1, 3, 6, 12)
TRADES_KEY = "closedTrades"


def trade_symbols(trade: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A trade's symbol objects: its `symbols` list, or the old singular `symbol` (Lean
    `Trade.Symbol`, kept for backward compatibility; reference-results §2.2)."""
    symbols = trade.get("symbols")
    if isinstance(symbols, list):
        return [s for s in symbols if isinstance(s, Mapping)]
    single = trade.get("symbol")
    return [single] if isinstance(single, Mapping) else []


def _symbol_field(symbol: Mapping[str, Any], name: str) -> str | None:
    value = next((v for k, v in symbol.items() if k.lower() == name), None)
    return None if value is None else str(value)


def symbol_values(trade: Mapping[str, Any]) -> list[str | None]:
    """The tickers of a trade's symbols, in order."""
    return [_symbol_field(s, "value") for s in trade_symbols(trade)]


def symbol_ids(trade: Mapping[str, Any]) -> list[str | None]:
    """The LEAN security ids of a trade's symbols, in order (`orders.symbol_id`)."""
    return [_symbol_field(s, "id") for s in trade_symbols(trade)]


def first_symbol(trade: Mapping[str, Any]) -> str | None:
    """The ticker of a trade's first symbol."""
    values = symbol_values(trade)
    return values[0] if values else None


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
        column("symbol", "VARCHAR", parse=first_symbol, description="The first symbol's ticker"),
        column("symbols", "VARCHAR[]", parse=symbol_values, description="Every symbol's ticker"),
        column("symbol_ids", "VARCHAR[]", parse=symbol_ids, description="Every symbol's LEAN id"),
        column("entry_time", "TIMESTAMPTZ", "entryTime"),
        column("exit_time", "TIMESTAMPTZ", "exitTime"),
        column("entry_price", "DOUBLE", "entryPrice", description="Average entry fill price"),
        column("exit_price", "DOUBLE", "exitPrice", description="Average exit fill price"),
        column(
            "direction", "VARCHAR", "direction", parse=TRADE_DIRECTION, description="Long or Short"
        ),
        column("quantity", "DOUBLE", "quantity", description="Unsigned"),
        column("profit_loss", "DOUBLE", "profitLoss", description="Gross, account currency"),
        column("total_fees", "DOUBLE", "totalFees", description="Positive, account currency"),
        column("mae", "DOUBLE", "mae", description="Maximum adverse excursion, account currency"),
        column("mfe", "DOUBLE", "mfe", description="Maximum favorable excursion"),
        column("end_trade_drawdown", "DOUBLE", "endTradeDrawdown"),
        column("duration", "INTERVAL", "duration", description="Sent as a .NET TimeSpan"),
        column("is_win", "BOOLEAN", "isWin"),
        column("order_ids", "BIGINT[]", "orderIds", description="Its orders (`orders.order_id`)"),
        extra_column(),
    ),
    # `symbols`/`symbol` are read whole above; `id` gives `trade_id`; `orders` (only from
    # backtests/trades/read) repeats the backtest's orders, which the orders table holds.
    read_keys=("symbols", "symbol", "id", "orders"),
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
)

TABLES = (CLOSED_TRADES, BACKTEST_PERFORMANCE, BACKTEST_ROLLING_STATISTICS)
