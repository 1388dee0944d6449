"""A backtest's statistics, computed from its simulation as LEAN computes them, and formatted as
LEAN and the API format them.

`performance` follows LEAN's `PortfolioStatistics` (QuantConnect/Lean
`Common/Statistics/PortfolioStatistics.cs`, `Statistics.cs`, `StatisticsBuilder.cs`): daily
returns of the equity curve without its first day, 252 trading days a year, the risk-free
rate averaged over the curve's days (LEAN's default model: the Fed's primary credit rate),
win and loss rates from closing fills' profit less twice their fee. `statistics`,
`runtime_statistics`, `total_performance` and `summary_statistics` format one `Performance`
for `backtests/read` and `backtests/list`. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics as stats
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pipelines.sandbox.orders import Simulation
from pipelines.sandbox.portfolio import Mark
from pipelines.sandbox.properties import SECURITY_TYPE_NAMES

TRADING_DAYS = 252  # LEAN's default TradingDaysPerYear
# Statistics keys changed over time (ref §5): backtests carry the keys of the Lean that ran them.
PORTFOLIO_TURNOVER_ADDED = datetime(2023, 3, 1, tzinfo=UTC)
SORTINO_ADDED = datetime(2023, 12, 1, tzinfo=UTC)
TOTAL_ORDERS_RENAMED = datetime(2024, 3, 6, tzinfo=UTC)  # "Total Trades" -> "Total Orders"
DRAWDOWN_RECOVERY_ADDED = datetime(2025, 7, 1, tzinfo=UTC)

# The Fed's primary credit rate (percent) from each change on: what LEAN's default risk-free
# model (InterestRateProvider) averages. Public Federal Reserve announcements, 2015-2025.
_PRIMARY_CREDIT = (
    (date(2015, 12, 17), 1.00),
    (date(2016, 12, 15), 1.25),
    (date(2017, 3, 16), 1.50),
    (date(2017, 6, 15), 1.75),
    (date(2017, 12, 14), 2.00),
    (date(2018, 3, 22), 2.25),
    (date(2018, 6, 14), 2.50),
    (date(2018, 9, 27), 2.75),
    (date(2018, 12, 20), 3.00),
    (date(2019, 8, 1), 2.75),
    (date(2019, 9, 19), 2.50),
    (date(2019, 10, 31), 2.25),
    (date(2020, 3, 4), 1.75),
    (date(2020, 3, 16), 0.25),
    (date(2022, 3, 17), 0.50),
    (date(2022, 5, 5), 1.00),
    (date(2022, 6, 16), 1.75),
    (date(2022, 7, 28), 2.50),
    (date(2022, 9, 22), 3.25),
    (date(2022, 11, 3), 4.00),
    (date(2022, 12, 15), 4.50),
    (date(2023, 2, 2), 4.75),
    (date(2023, 3, 23), 5.00),
    (date(2023, 5, 4), 5.25),
    (date(2023, 7, 27), 5.50),
    (date(2024, 9, 19), 5.00),
    (date(2024, 11, 8), 4.75),
    (date(2024, 12, 19), 4.50),
    (date(2025, 9, 18), 4.25),
    (date(2025, 10, 30), 4.00),
)
_RATE_DAYS = [(d - date(1970, 1, 1)).days for d, _ in _PRIMARY_CREDIT]
# A rough daily dollar volume per security type, for the capacity estimate.
_LIQUIDITY = {
    "Option": 2e6,
    "FutureOption": 5e6,
    "IndexOption": 5e7,
    "Cfd": 1e8,
    "Crypto": 1e9,
    "CryptoFuture": 5e9,
    "Equity": 5e9,
    "Future": 2e10,
    "Forex": 1e11,
}


def risk_free_rate(days: list[int]) -> float:
    """The average primary credit rate (a fraction) over epoch days."""
    rates = [_PRIMARY_CREDIT[max(bisect.bisect_right(_RATE_DAYS, d) - 1, 0)][1] for d in days]
    return sum(rates) / len(rates) / 100 if rates else 0.0


@dataclass(frozen=True)
class Performance:
    """The numbers behind one backtest's statistics (fractions, as LEAN keeps them), and the
    portfolio at the end and where a running backtest has got to (for runtime statistics)."""

    start_equity: float
    end_equity: float
    net_profit: float
    car: float
    drawdown: float
    recovery: int
    sharpe: float
    sortino: float
    psr: float
    alpha: float
    beta: float
    annual_std: float
    annual_variance: float
    information_ratio: float
    tracking_error: float
    treynor: float
    win_rate: float
    loss_rate: float
    average_win: float
    average_loss: float
    profit_loss_ratio: float
    expectancy: float
    fees: float
    turnover: float
    capacity: float
    lowest_capacity_asset: str
    total_orders: int
    winners: int
    losers: int
    total_profit_loss: float
    security_types: str
    final: Mark
    current: Mark


def _moments(values: list[float]) -> tuple[float, float]:
    """Sample skewness and excess kurtosis, bias-corrected (MathNet's estimators)."""
    n = len(values)
    if n < 4:
        return 0.0, 0.0
    mean, deviation = stats.fmean(values), stats.stdev(values)
    standard = [(v - mean) / deviation for v in values]
    skew = n / ((n - 1) * (n - 2)) * sum(z**3 for z in standard)
    fourth = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * sum(z**4 for z in standard)
    return skew, fourth - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))


def _psr(returns: list[float], risk_free: float) -> float:
    """LEAN's probabilistic Sharpe ratio against a Sharpe of 1, de-annualized."""
    deviation = stats.stdev(returns)
    if deviation == 0:
        return 0.0
    observed = (stats.fmean(returns) - risk_free / TRADING_DAYS) / deviation
    skew, kurtosis = _moments(returns)
    spread = (1 - skew * observed + (kurtosis - 1) / 4 * observed**2) / (len(returns) - 1)
    if spread <= 0:
        return 0.0
    value = (observed - 1 / math.sqrt(TRADING_DAYS)) / math.sqrt(spread)
    return 0.5 * (1 + math.erf(value / math.sqrt(2)))


def _drawdown(equity: list[float], days: list[int]) -> tuple[float, int]:
    """The largest fall from a peak (a fraction, rounded to 3 places as LEAN does) and the
    longest recovery from one, in days."""
    peak, peak_day, started, worst, recovery = equity[0], days[0], None, 0.0, 0
    for value, day in zip(equity, days, strict=True):
        if value >= peak:
            if started is not None:
                recovery, started = max(recovery, day - started), None
            peak, peak_day = value, day
        fall = value / peak - 1
        if fall < 0:
            worst = min(worst, fall)
            started = peak_day if started is None else started
    return round(abs(worst), 3), recovery


def _trades(records: list[float], capital: float) -> tuple[float, float, int, int]:
    """Average win and loss rates (of the running capital) and the counts of each."""
    running, wins, losses, won, lost = capital, 0.0, 0.0, 0, 0
    for profit in records:
        if profit > 0:
            wins, won = wins + profit / running, won + 1
        else:
            losses, lost = losses + profit / running, lost + 1
        running += profit
    return (wins / won if won else 0.0), (losses / lost if lost else 0.0), won, lost


def performance(simulation: Simulation) -> Performance:
    """Every statistic of a finished simulation."""
    portfolio, backtest = simulation.portfolio, simulation.backtest
    marks = portfolio.marks
    equity, days = [m.equity for m in marks], [m.day for m in marks]
    returns = [b / a - 1 for a, b in itertools.pairwise(equity)][1:]
    closes = [simulation.benchmark.close(day) for day in days]
    benchmark = [b / a - 1 for a, b in itertools.pairwise(closes)][1:]
    start, end = portfolio.capital, equity[-1]
    average_win, average_loss, won, lost = _trades(portfolio.records, start)
    profit_loss = average_win / abs(average_loss) if average_loss else 0.0
    win_rate = won / (won + lost) if won + lost else 0.0
    loss_rate = lost / (won + lost) if won + lost else 0.0
    samples = [(m.volume - p.volume) / m.equity for p, m in itertools.pairwise(marks) if m.equity]
    turnover = stats.fmean(samples) if samples else 0.0
    traded = {line.contracts[0].security_type: line for line in simulation.tradable}
    thinnest = min(traded, key=lambda kind: _LIQUIDITY[kind], default="Equity")
    lowest = traded[thinnest].contracts[0].sid if traded else ""
    numbers = dict.fromkeys(
        (
            "car",
            "sharpe",
            "sortino",
            "psr",
            "alpha",
            "beta",
            "annual_std",
            "annual_variance",
            "information_ratio",
            "tracking_error",
            "treynor",
        ),
        0.0,
    )
    if len(returns) >= 2 and start:
        numbers |= _ratios(returns, benchmark, risk_free_rate(days))
        years = (days[-1] - days[0]) / 365
        numbers["car"] = (end / start) ** (1 / years) - 1 if years and end > 0 else 0.0
    drawdown, recovery = _drawdown(equity, days)
    return Performance(
        start_equity=start,
        end_equity=end,
        net_profit=end / start - 1 if start else 0.0,
        drawdown=drawdown,
        recovery=recovery,
        win_rate=win_rate,
        loss_rate=loss_rate,
        average_win=average_win,
        average_loss=average_loss,
        profit_loss_ratio=profit_loss,
        expectancy=win_rate * profit_loss - loss_rate,
        fees=portfolio.fees,
        turnover=turnover,
        capacity=_LIQUIDITY[thinnest] * 0.01 / max(turnover, 0.01) if traded else 0.0,
        lowest_capacity_asset=lowest,
        total_orders=backtest.order_count,
        winners=won,
        losers=lost,
        total_profit_loss=end - start,
        security_types=",".join(
            sorted(
                {
                    SECURITY_TYPE_NAMES[c.type_code]
                    for line in simulation.lines
                    for c in line.contracts[:1]
                }
            )
        ),
        final=marks[-1],
        current=marks[round(backtest.progress * (len(marks) - 1))],
        **numbers,
    )


def _ratios(returns: list[float], benchmark: list[float], risk_free: float) -> dict[str, float]:
    """Sharpe, Sortino, PSR, alpha, beta and the rest, from daily returns."""
    annual = (stats.fmean(returns) + 1) ** TRADING_DAYS - 1
    variance = stats.variance(returns) * TRADING_DAYS
    deviation = math.sqrt(variance)
    downside = [r for r in returns if r < 0]
    downside_deviation = (
        math.sqrt(stats.variance(downside) * TRADING_DAYS) if len(downside) > 1 else 0.0
    )
    benchmark_annual = (stats.fmean(benchmark) + 1) ** TRADING_DAYS - 1
    benchmark_variance = stats.variance(benchmark)
    beta = stats.covariance(returns, benchmark) / benchmark_variance if benchmark_variance else 0.0
    tracking = math.sqrt(
        stats.variance([r - b for r, b in zip(returns, benchmark, strict=True)]) * TRADING_DAYS
    )
    return {
        "sharpe": (annual - risk_free) / deviation if deviation else 0.0,
        "sortino": (annual - risk_free) / downside_deviation if downside_deviation else 0.0,
        "psr": _psr(returns, risk_free),
        "alpha": annual - (risk_free + beta * (benchmark_annual - risk_free)) if beta else 0.0,
        "beta": beta,
        "annual_std": deviation,
        "annual_variance": variance,
        "information_ratio": (annual - benchmark_annual) / tracking if tracking else 0.0,
        "tracking_error": tracking,
        "treynor": (annual - risk_free) / beta if beta else 0.0,
    }
