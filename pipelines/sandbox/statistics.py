"""A backtest's performance numbers and the statistics the API formats from them.

`performance` draws one backtest's numbers from the seed; `statistics`,
`runtime_statistics`, `total_performance` (for `backtests/read`) and `summary_statistics`
(for `backtests/list`) format them as Lean and the API do. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.sandbox.market import SECURITY_TYPE_NAMES, JsonDict
from pipelines.sandbox.records import Backtest, iso

# Statistics keys changed over time (ref §5): backtests carry the keys of the Lean that ran them.
PORTFOLIO_TURNOVER_ADDED = datetime(2023, 3, 1, tzinfo=UTC)
SORTINO_ADDED = datetime(2023, 12, 1, tzinfo=UTC)
TOTAL_ORDERS_RENAMED = datetime(2024, 3, 6, tzinfo=UTC)  # "Total Trades" -> "Total Orders"
DRAWDOWN_RECOVERY_ADDED = datetime(2025, 7, 1, tzinfo=UTC)


def _trim(value: float, places: int) -> str:
    """Invariant-culture decimal text without trailing zeros: 1.970 -> "1.97", 0 -> "0"."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pct3(value: float) -> str:
    """Ref §5: "271.453%", "2.200%"; a zero prints as "0%"."""
    return "0%" if value == 0 else f"{value:.3f}%"


def _capacity(value: float, currency: str) -> str:
    """Ref §5: capacity rounded to 2 significant digits, money with no thousands separator."""
    return f"{currency}{float(f'{value:.2g}'):.2f}"


def _n2(value: float, currency: str) -> str:
    """Ref §5: runtime statistics use .NET "N2": "$100,670.36", negatives as "$-4.94"."""
    return f"{currency}{value:,.2f}"


@dataclass(frozen=True)
class _Performance:
    """The numbers behind one backtest's statistics, in the units the API prints (percent)."""

    net_profit: float
    car: float
    drawdown: float
    sharpe: float
    sortino: float
    psr: float
    win_rate: float
    average_win: float
    average_loss: float
    alpha: float
    beta: float
    annual_std: float
    information_ratio: float
    tracking_error: float
    treynor: float
    start_equity: float
    fees: float
    capacity: float
    turnover: float
    recovery: int
    lowest_capacity_asset: str
    holdings: float
    unrealized: float
    volume: float

    @property
    def loss_rate(self) -> float:
        return 0.0 if self.win_rate == 0 else 100.0 - self.win_rate

    @property
    def end_equity(self) -> float:
        return round(self.start_equity * (1 + self.net_profit / 100), 2)

    @property
    def profit_loss_ratio(self) -> float:
        return 0.0 if self.average_loss == 0 else self.average_win / -self.average_loss

    @property
    def expectancy(self) -> float:
        if self.win_rate == 0:
            return 0.0
        return self.win_rate / 100 * self.profit_loss_ratio - self.loss_rate / 100


def performance(seed: int, backtest: Backtest) -> _Performance:
    """A backtest's numbers, drawn from `(seed, backtest id)`; all zero when it has no orders."""
    rng = random.Random(f"{seed}:performance:{backtest.backtest_id}")
    start_equity = rng.choice([100_000.0, 100_000.0, 1_000_000.0, 25_000.0])
    if backtest.order_count == 0:
        zeros = dict.fromkeys((f.name for f in dataclasses.fields(_Performance)), 0.0)
        return _Performance(
            **{**zeros, "start_equity": start_equity, "recovery": 0, "lowest_capacity_asset": ""}
        )
    years = backtest.tradeable_dates / 252
    net_profit = max(-85.0, rng.gauss(7.0, 20.0))
    sharpe = rng.gauss(0.6, 0.9)
    annual_std = rng.uniform(0.05, 0.45)
    beta = rng.gauss(0.8, 0.4)
    lowest = min(backtest.universe, key=lambda s: (s.security_type != 2, s.value))
    return _Performance(
        net_profit=net_profit,
        car=((1 + net_profit / 100) ** (1 / years) - 1) * 100,
        drawdown=abs(rng.gauss(12.0, 8.0)) + 0.4,
        sharpe=sharpe,
        sortino=sharpe * rng.uniform(1.1, 1.6),
        psr=100 / (1 + math.exp(-2.5 * sharpe + 1.0)),
        win_rate=float(rng.randint(25, 75)),
        average_win=rng.uniform(0.05, 3.0),
        average_loss=-rng.uniform(0.05, 2.5),
        alpha=rng.gauss(0.01, 0.06),
        beta=beta,
        annual_std=annual_std,
        information_ratio=rng.gauss(0.0, 0.8),
        tracking_error=rng.uniform(0.02, 0.3),
        treynor=sharpe * annual_std / beta if abs(beta) > 0.05 else 0.0,
        start_equity=start_equity,
        fees=backtest.order_count * rng.uniform(0.9, 4.5),
        capacity=10 ** rng.uniform(4.5, 9.5),
        turnover=rng.uniform(0.5, 80.0),
        recovery=rng.randint(0, 420),
        lowest_capacity_asset=lowest.id,
        holdings=rng.choice([0.0, start_equity * rng.uniform(0.1, 0.9)]),
        unrealized=rng.gauss(0, start_equity * 0.002),
        volume=start_equity * rng.uniform(2, 40),
    )


def statistics(backtest: Backtest, perf: _Performance) -> JsonDict:
    """The `statistics` map as Lean's StatisticsBuilder formats it (ref §5)."""
    created, money = backtest.created, backtest.currency
    orders_key = "Total Orders" if created >= TOTAL_ORDERS_RENAMED else "Total Trades"
    stats: JsonDict = {
        orders_key: str(backtest.order_count),
        "Average Win": f"{_trim(perf.average_win, 2)}%",
        "Average Loss": f"{_trim(perf.average_loss, 2)}%",
        "Compounding Annual Return": _pct3(perf.car),
        "Drawdown": _pct3(perf.drawdown),
        "Expectancy": _trim(perf.expectancy, 3),
    }
    if created >= TOTAL_ORDERS_RENAMED:
        stats["Start Equity"] = _trim(perf.start_equity, 2)
        stats["End Equity"] = _trim(perf.end_equity, 2)
    stats["Net Profit"] = _pct3(perf.net_profit)
    stats["Sharpe Ratio"] = _trim(perf.sharpe, 3)
    if created >= SORTINO_ADDED:
        stats["Sortino Ratio"] = _trim(perf.sortino, 3)
    stats.update(
        {
            "Probabilistic Sharpe Ratio": _pct3(perf.psr),
            "Loss Rate": f"{perf.loss_rate:.0f}%",
            "Win Rate": f"{perf.win_rate:.0f}%",
            "Profit-Loss Ratio": _trim(perf.profit_loss_ratio, 2),
            "Alpha": _trim(perf.alpha, 3),
            "Beta": _trim(perf.beta, 3),
            "Annual Standard Deviation": _trim(perf.annual_std, 3),
            "Annual Variance": _trim(perf.annual_std**2, 3),
            "Information Ratio": _trim(perf.information_ratio, 3),
            "Tracking Error": _trim(perf.tracking_error, 3),
            "Treynor Ratio": _trim(perf.treynor, 3),
            "Total Fees": f"{money}{perf.fees:.2f}",
            "Estimated Strategy Capacity": _capacity(perf.capacity, money),
            "Lowest Capacity Asset": perf.lowest_capacity_asset,
        }
    )
    if created >= PORTFOLIO_TURNOVER_ADDED:
        stats["Portfolio Turnover"] = f"{perf.turnover:.2f}%"
    if created >= DRAWDOWN_RECOVERY_ADDED:
        stats["Drawdown Recovery"] = str(perf.recovery)
    if backtest.state == "error":
        # Placeholders for values a crashed run could not compute (ref §5, §9.2).
        stats["Probabilistic Sharpe Ratio"] = "-"
        stats["Information Ratio"] = "-"
    return stats


def runtime_statistics(backtest: Backtest, perf: _Performance) -> JsonDict:
    """`runtimeStatistics` with N2 money, "-$" fees and "P" percentages (ref §5)."""
    share = 1.0 if backtest.finished else backtest.progress
    net = perf.start_equity * perf.net_profit / 100 * share
    money = backtest.currency
    return {
        "Equity": _n2(perf.start_equity + net, money),
        "Fees": f"-{_n2(perf.fees * share, money)}",
        "Holdings": _n2(perf.holdings, money),
        "Net Profit": _n2(net, money),
        "Probabilistic Sharpe Ratio": f"{perf.psr * share:.0f}%",
        "Return": f"{net / perf.start_equity * 100:,.2f} %",
        "Unrealized": _n2(perf.unrealized, money),
        "Volume": _n2(perf.volume * share, money),
    }


def total_performance(backtest: Backtest, perf: _Performance) -> JsonDict:
    """A small `totalPerformance` (OAS AlgorithmPerformance): fractions, camelCase keys."""
    trades = backtest.order_count // 2
    winners = round(trades * perf.win_rate / 100)
    pnl = perf.end_equity - perf.start_equity
    return {
        "tradeStatistics": {
            "startDateTime": iso(backtest.start),
            "endDateTime": iso(backtest.end),
            "totalNumberOfTrades": trades,
            "numberOfWinningTrades": winners,
            "numberOfLosingTrades": trades - winners,
            "totalProfitLoss": round(pnl, 2),
            "winRate": round(perf.win_rate / 100, 4),
            "lossRate": round(perf.loss_rate / 100, 4),
            "profitLossRatio": round(perf.profit_loss_ratio, 4),
            "totalFees": round(perf.fees, 2),
        },
        "portfolioStatistics": {
            "averageWinRate": round(perf.average_win / 100, 6),
            "averageLossRate": round(perf.average_loss / 100, 6),
            "startEquity": perf.start_equity,
            "endEquity": perf.end_equity,
            "compoundingAnnualReturn": round(perf.car / 100, 6),
            "drawdown": round(perf.drawdown / 100, 4),
            "totalNetProfit": round(perf.net_profit / 100, 6),
            "sharpeRatio": round(perf.sharpe, 4),
            "probabilisticSharpeRatio": round(perf.psr / 100, 6),
            "alpha": round(perf.alpha, 4),
            "beta": round(perf.beta, 4),
            "portfolioTurnover": round(perf.turnover / 100, 4),
        },
        "closedTrades": [],
    }


def summary_statistics(backtest: Backtest, perf: _Performance) -> JsonDict:
    """The numbers a `backtests/list` entry adds with `includeStatistics` (ref §4)."""
    final = backtest.finished
    numbers = {
        "sharpeRatio": perf.sharpe,
        "alpha": perf.alpha,
        "beta": perf.beta,
        "compoundingAnnualReturn": perf.car,
        "drawdown": perf.drawdown,
        "lossRate": perf.loss_rate,
        "netProfit": perf.net_profit,
        "psr": perf.psr,
        "sortinoRatio": perf.sortino,
        "treynorRatio": perf.treynor,
        "winRate": perf.win_rate,
    }
    summary: JsonDict = {key: round(value, 3) if final else 0.0 for key, value in numbers.items()}
    summary["trades"] = backtest.served_orders
    summary["parameters"] = len(backtest.parameter_set)
    types = sorted({s.security_type for s in backtest.universe})
    summary["securityTypes"] = ",".join(SECURITY_TYPE_NAMES[t] for t in types)
    return summary
