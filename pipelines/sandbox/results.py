"""A backtest's results beyond its statistics map, as `backtests/read` and
`backtests/trades/read` serve them: its closed trades, `totalPerformance` and `rollingWindow`
(reference-results §2.1-2.2), encoded once, in the backtest's own shape.

Two shapes, by when a backtest ran:
- the legacy project's backtests from before `CAMEL_CASE_ORDERS` (`Backtest.pascal_orders`)
  serve the real 2023 shape (`real_backtests_read_2023-09`): `TradeStatistics`,
  `PortfolioStatistics` and `ClosedTrades` with PascalCase keys, every decimal a string rounded
  to 4 places (LEAN's JsonRoundingConverter), the portfolio keys of their date
  (`SortinoRatio` from `SORTINO_ADDED`, `StartEquity`/`EndEquity` from `TOTAL_ORDERS_RENAMED`,
  `ValueAtRisk99`/`95` from `VALUE_AT_RISK_ADDED`); trades with the old singular `Symbol`
  (`Value`/`ID`/`Permtick`, as SymbolJsonConverter wrote it) and `Direction` as a name
  ("Long", as older documentation examples show it); and no `rollingWindow` key, as that reply;
- every other backtest serves numbers with camelCase keys (OAS `AlgorithmPerformance`), its
  trades' `symbols` a list, `direction` 0 (Long) or 1 (Short), and `rollingWindow`.

Two trade keys arrived later upstream than the sandbox's fixed `NOW` (2025-10-31): `orderIds`
with Lean PR #8989 (2025-09) and the GUID `id` with Lean PR #9234 (2026-02). So that both
shapes appear in every preset, the sandbox moves them earlier: trades of backtests created
from `ORDER_IDS_ADDED` (2024-09-01) carry `orderIds`, and from `TRADE_IDS_ADDED` (2025-02-01)
an `id`. Trade statistics are computed from the trades as served (their rounded money), so a
consumer recomputing them from `closedTrades` gets the same numbers. `backtests/trades/read`
gives each trade the orders its `orderIds` name (none where it has none).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.orders import Simulation
from pipelines.sandbox.records import Backtest
from pipelines.sandbox.statistics import (
    SORTINO_ADDED,
    TOTAL_ORDERS_RENAMED,
    Curve,
    PortfolioStatistics,
    rolling_windows,
)
from pipelines.sandbox.trades import ClosedTrade, Moment, Ticks, trade_statistics
from pipelines.sandbox.wire import iso_epoch, pascal_symbol

ORDER_IDS_ADDED = datetime(2024, 9, 1, tzinfo=UTC)
"""Trades carry `orderIds` from here on (upstream: Lean PR #8989, 2025-09)."""
TRADE_IDS_ADDED = datetime(2025, 2, 1, tzinfo=UTC)
"""Trades carry a GUID `id` from here on (upstream: Lean PR #9234, 2026-02)."""
VALUE_AT_RISK_ADDED = datetime(2024, 2, 26, tzinfo=UTC)
"""PortfolioStatistics gained `ValueAtRisk99`/`ValueAtRisk95` (Lean PR #7757)."""
_DAY_MICROSECONDS = 86_400_000_000


@dataclass(frozen=True)
class Results:
    """A backtest's encoded results: each closed trade's JSON once (in the order they closed),
    the orders each trade names, and `totalPerformance` and each rolling window as the JSON
    before their trades and the slice of trades they hold."""

    trades: tuple[bytes, ...]
    order_ids: tuple[tuple[int, ...], ...]
    total: bytes
    windows: tuple[tuple[bytes, int, int], ...]

    def total_performance(self) -> bytes:
        """`totalPerformance`."""
        return self.total + b",".join(self.trades) + b"]}"

    def rolling_window(self) -> bytes:
        """`rollingWindow`: every window with its own trades (camelCase backtests only)."""
        parts = (head + b",".join(self.trades[a:b]) + b"]}" for head, a, b in self.windows)
        return b"{" + b",".join(parts) + b"}"


def encode_results(simulation: Simulation, total: PortfolioStatistics) -> Results:
    """Encode a run simulation's closed trades, its `total` performance (its portfolio
    statistics over the whole run) and its rolling windows."""
    backtest = simulation.backtest
    curve = Curve.of(simulation)
    first, last = curve.dates[0], curve.dates[-1]
    closed = [t for t in simulation.trades.closed if first <= t.exit // _DAY_MICROSECONDS <= last]
    trade = _pascal_trade if backtest.pascal_orders else _camel_trade
    trades = tuple(msgspec.json.encode(trade(backtest, i, t)) for i, t in enumerate(closed))
    order_ids = tuple(t.order_ids if backtest.created >= ORDER_IDS_ADDED else () for t in closed)
    head = _head(backtest, _trade_statistics(backtest, closed), total)
    windows: list[tuple[bytes, int, int]] = []
    if not backtest.pascal_orders:  # the legacy shape has no rolling windows
        exits = [t.exit // _DAY_MICROSECONDS for t in closed]
        encoded: dict[tuple[int, int], bytes] = {}  # windows often hold the same trades
        for window in rolling_windows(curve, exits):
            span = (window.trades.start, window.trades.stop)
            if span not in encoded:
                encoded[span] = _trade_statistics(backtest, closed[window.trades])
            key = b'"%s":' % window.key.encode()
            windows.append((key + _head(backtest, encoded[span], window.statistics), *span))
    return Results(trades, order_ids, head, tuple(windows))


def _trade_statistics(backtest: Backtest, trades: Sequence[ClosedTrade]) -> bytes:
    """`tradeStatistics` (or `TradeStatistics`) of trades, encoded."""
    statistics = trade_statistics(trades)
    if backtest.pascal_orders:
        return msgspec.json.encode({_pascal(k): _text(v) for k, v in statistics.items()})
    return msgspec.json.encode({k: _number(v) for k, v in statistics.items()})


def _head(backtest: Backtest, trade_json: bytes, portfolio: PortfolioStatistics) -> bytes:
    """An AlgorithmPerformance's JSON up to the opening of its closed trades."""
    if backtest.pascal_orders:
        served = msgspec.json.encode(_pascal_portfolio(backtest, portfolio))
        return b'{"TradeStatistics":%b,"PortfolioStatistics":%b,"ClosedTrades":[' % (
            trade_json,
            served,
        )
    served = msgspec.json.encode(_camel_portfolio(portfolio))
    return b'{"tradeStatistics":%b,"portfolioStatistics":%b,"closedTrades":[' % (trade_json, served)


# --- values ---------------------------------------------------------------------------------------


def timespan(ticks: int) -> str:
    """A .NET TimeSpan as Json.NET writes it ("c"): `[-][d.]hh:mm:ss[.fffffff]`."""
    sign = "-" if ticks < 0 else ""
    seconds, fraction = divmod(abs(ticks), 10_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}"
    return f"{text}.{fraction:07d}" if fraction else text


def date_time(microseconds: int) -> str:
    """A UTC DateTime as Json.NET writes it: ISO with `Z`, fractions without trailing zeros."""
    seconds, fraction = divmod(microseconds, 1_000_000)
    text = iso_epoch(seconds)
    return f"{text[:-1]}.{fraction:06d}".rstrip("0") + "Z" if fraction else text


def _number(value: object) -> object:
    """A camelCase statistic: decimals rounded to 4 places (LEAN's JsonRoundingConverter)."""
    if isinstance(value, Ticks):
        return timespan(value)
    if isinstance(value, Moment):
        return date_time(value)
    if isinstance(value, float):
        return round(value, 4) + 0.0
    return value


def _text(value: object) -> object:
    """A PascalCase statistic: decimals as strings rounded to 4 places (real 2023 reply)."""
    if isinstance(value, float):
        return _decimal(value)
    return _number(value)


def _decimal(value: float) -> str:
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


# --- portfolio statistics -------------------------------------------------------------------------

_PORTFOLIO = (
    ("averageWinRate", "average_win", 4),
    ("averageLossRate", "average_loss", 4),
    ("profitLossRatio", "profit_loss_ratio", 4),
    ("winRate", "win_rate", 4),
    ("lossRate", "loss_rate", 4),
    ("expectancy", "expectancy", 4),
    ("startEquity", "start_equity", None),
    ("endEquity", "end_equity", 2),
    ("compoundingAnnualReturn", "car", 5),
    ("drawdown", "drawdown", None),
    ("totalNetProfit", "net_profit", 5),
    ("sharpeRatio", "sharpe", 3),
    ("probabilisticSharpeRatio", "psr", 5),
    ("sortinoRatio", "sortino", 3),
    ("alpha", "alpha", 3),
    ("beta", "beta", 3),
    ("annualStandardDeviation", "annual_std", 3),
    ("annualVariance", "annual_variance", 3),
    ("informationRatio", "information_ratio", 3),
    ("trackingError", "tracking_error", 3),
    ("treynorRatio", "treynor", 3),
    ("portfolioTurnover", "turnover", 4),
    ("valueAtRisk99", "value_at_risk_99", None),
    ("valueAtRisk95", "value_at_risk_95", None),
    ("drawdownRecovery", "recovery", None),
)
"""LEAN's PortfolioStatistics keys in its order, their `PortfolioStatistics` attributes and the
places camelCase numbers are rounded to (those of the statistics map where it prints the same
number, so the two agree; None: as computed)."""

_ADDED = {  # portfolio statistics keys newer than the real 2023 reply, and when they came
    "startEquity": TOTAL_ORDERS_RENAMED,
    "endEquity": TOTAL_ORDERS_RENAMED,
    "sortinoRatio": SORTINO_ADDED,
    "valueAtRisk99": VALUE_AT_RISK_ADDED,
    "valueAtRisk95": VALUE_AT_RISK_ADDED,
    "drawdownRecovery": datetime.max.replace(tzinfo=UTC),  # never in the legacy shape
}


def _camel_portfolio(portfolio: PortfolioStatistics) -> JsonDict:
    served = {}
    for key, name, places in _PORTFOLIO:
        value = getattr(portfolio, name)
        served[key] = (value if places is None else round(value, places)) + 0
    return served


def _pascal_portfolio(backtest: Backtest, portfolio: PortfolioStatistics) -> JsonDict:
    return {
        _pascal(key): _decimal(getattr(portfolio, name))
        for key, name, _ in _PORTFOLIO
        if backtest.created >= _ADDED.get(key, backtest.created)
    }


# --- trades ---------------------------------------------------------------------------------------


def _trade_id(backtest: Backtest, index: int) -> str:
    """A deterministic version-4 GUID, as LEAN's `Guid.NewGuid()` looks."""
    digest = hashlib.md5(f"{backtest.backtest_id}:trade:{index}".encode()).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _camel_trade(backtest: Backtest, index: int, trade: ClosedTrade) -> JsonDict:
    """A closed trade (Lean `Trade`, camelCase): `id` and `orderIds` by the backtest's date."""
    served: JsonDict = {}
    if backtest.created >= TRADE_IDS_ADDED:
        served["id"] = _trade_id(backtest, index)
    served |= {
        "symbols": [trade.contract.as_json],
        "entryTime": date_time(trade.entry),
        "entryPrice": trade.entry_price,
        "direction": 0 if trade.long else 1,
        "quantity": trade.quantity,
        "exitTime": date_time(trade.exit),
        "exitPrice": trade.exit_price,
        "profitLoss": trade.profit / 100,
        "totalFees": trade.fees,
        "mae": trade.mae / 100,
        "mfe": trade.mfe / 100,
        "duration": timespan(trade.ticks),
        "endTradeDrawdown": trade.given_back / 100,
        "isWin": trade.win,
    }
    if backtest.created >= ORDER_IDS_ADDED:
        served["orderIds"] = list(trade.order_ids)
    return served


def _pascal_trade(backtest: Backtest, index: int, trade: ClosedTrade) -> JsonDict:
    """A closed trade of the 2023 shape: PascalCase, one `Symbol`, `Direction` by name."""
    return {
        "Symbol": pascal_symbol(trade.contract.as_json),
        "EntryTime": date_time(trade.entry),
        "EntryPrice": trade.entry_price,
        "Direction": "Long" if trade.long else "Short",
        "Quantity": trade.quantity,
        "ExitTime": date_time(trade.exit),
        "ExitPrice": trade.exit_price,
        "ProfitLoss": trade.profit / 100,
        "TotalFees": trade.fees,
        "MAE": trade.mae / 100,
        "MFE": trade.mfe / 100,
        "Duration": timespan(trade.ticks),
        "EndTradeDrawdown": trade.given_back / 100,
        "IsWin": trade.win,
    }
