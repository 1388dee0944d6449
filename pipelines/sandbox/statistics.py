"""A backtest's statistics, computed from its simulation as LEAN computes them.

`performance` follows LEAN's `PortfolioStatistics` (QuantConnect/Lean
`Common/Statistics/PortfolioStatistics.cs`, `Statistics.cs`, `StatisticsBuilder.cs`): daily
returns of the equity curve without its first day, 252 trading days a year, the risk-free
rate averaged over the curve's days (LEAN's default model: the Fed's primary credit rate),
win and loss rates from closing fills' profit less twice their fee; the same over each rolling
window of months (`rolling_windows`, StatisticsBuilder.GetRollingPerformances). `reports`
formats one `Performance` for `backtests/read` and `backtests/list`; `results` serves the
numbers themselves. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist

from pipelines.sandbox.orders import Simulation
from pipelines.sandbox.portfolio import Mark
from pipelines.sandbox.prices import DAY
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


def _rate(day: int) -> float:
    """The primary credit rate (a fraction) on an epoch day."""
    return _PRIMARY_CREDIT[max(bisect.bisect_right(_RATE_DAYS, day) - 1, 0)][1] / 100


def risk_free_rate(days: list[int]) -> float:
    """The average primary credit rate (a fraction) over epoch days."""
    return sum(_rate(day) for day in days) / len(days) if days else 0.0


@dataclass(frozen=True)
class PortfolioStatistics:
    """LEAN's PortfolioStatistics of one period (fractions, as LEAN keeps them)."""

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
    turnover: float
    value_at_risk_99: float
    value_at_risk_95: float


@dataclass(frozen=True)
class Performance(PortfolioStatistics):
    """The numbers behind one backtest's statistics: its whole run's portfolio statistics, and
    the portfolio at the end and where a running backtest has got to (for runtime statistics)."""

    fees: float
    capacity: float
    lowest_capacity_asset: str
    total_orders: int
    winners: int
    losers: int
    total_profit_loss: float
    security_types: str
    final: Mark
    current: Mark


def _running(values: Iterable[float]) -> list[float]:
    """Running sums from 0: the sum of `values[a:b]` is `running[b] - running[a]`."""
    return [0.0, *itertools.accumulate(values)]


@dataclass(frozen=True)
class Curve:
    """What portfolio statistics are computed from, one entry per daily mark: its epoch day,
    its date (the first mark, the evening before the start, is dated the start, where LEAN's
    first equity point is) and equity; the closing fills' records with their days; and running
    sums (`_running`) of the daily returns' powers, of the benchmark's, of the risk-free rate
    and of the turnover, so that a period's moments take a few subtractions (rolling windows
    repeat every day 23 times)."""

    days: list[int]
    dates: list[int]
    equity: list[float]
    record_days: list[int]
    records: list[float]
    sums: dict[str, list[float]]

    @classmethod
    def of(cls, simulation: Simulation) -> Curve:
        """The curve of a run simulation."""
        portfolio = simulation.portfolio
        marks = portfolio.marks
        days = [m.day for m in marks]
        equity = [m.equity for m in marks]
        closes = [simulation.benchmark.close(day) for day in days]
        # Each mark's return (and the benchmark's) since the mark before; 0 for the first.
        returns = [0.0, *(b / a - 1 for a, b in itertools.pairwise(equity))]
        benchmark = [0.0, *(b / a - 1 for a, b in itertools.pairwise(closes))]
        turnover = [
            0.0,
            *(
                (m.volume - p.volume) / m.equity if m.equity else 0.0
                for p, m in itertools.pairwise(marks)
            ),
        ]
        losses = [r if r < 0 else 0.0 for r in returns]
        sums = {
            "r": _running(returns),
            "r2": _running(r * r for r in returns),
            "r3": _running(r**3 for r in returns),
            "r4": _running(r**4 for r in returns),
            "b": _running(benchmark),
            "b2": _running(b * b for b in benchmark),
            "rb": _running(r * b for r, b in zip(returns, benchmark, strict=True)),
            "loss": _running(losses),
            "loss2": _running(r * r for r in losses),
            "losses": _running(1.0 if r < 0 else 0.0 for r in returns),
            "rate": _running(_rate(day) for day in days),
            "turnover": _running(turnover),
        }
        return cls(
            days=days,
            dates=[max(day, days[0] + 1) for day in days],
            equity=equity,
            record_days=[int(moment // DAY) for moment in portfolio.record_moments],
            records=list(portfolio.records),
            sums=sums,
        )

    def period(self, first: int, last: int) -> tuple[slice, slice]:
        """The marks and the records dated from epoch day `first` to `last`."""
        marks = slice(bisect.bisect_left(self.dates, first), bisect.bisect_right(self.dates, last))
        records = slice(
            bisect.bisect_left(self.record_days, first),
            bisect.bisect_right(self.record_days, last),
        )
        return marks, records

    def total(self, name: str, first: int, stop: int) -> float:
        """The sum of series `name` over marks `[first, stop)`."""
        sums = self.sums[name]
        return sums[stop] - sums[first]


@dataclass(frozen=True)
class _Moments:
    """Mean, sample variance, and sample skewness and excess kurtosis (bias-corrected, as
    MathNet estimates them) of `n` values from their sums of powers."""

    n: int
    mean: float
    variance: float
    skew: float
    kurtosis: float

    @classmethod
    def of(cls, n: int, s1: float, s2: float, s3: float = 0.0, s4: float = 0.0) -> _Moments:
        """From the sums of the values and of their squares, cubes and fourth powers."""
        mean = s1 / n
        central2 = max(s2 / n - mean * mean, 0.0)
        variance = central2 * n / (n - 1) if n > 1 else 0.0
        skew = kurtosis = 0.0
        if n >= 4 and variance > 0:
            central3 = s3 / n - 3 * mean * s2 / n + 2 * mean**3
            central4 = s4 / n - 4 * mean * s3 / n + 6 * mean**2 * s2 / n - 3 * mean**4
            cubes, fourths = n * central3 / variance**1.5, n * central4 / variance**2
            skew = n / ((n - 1) * (n - 2)) * cubes
            fourth = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * fourths
            kurtosis = fourth - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))
        return cls(n, mean, variance, skew, kurtosis)


def _psr(returns: _Moments, risk_free: float) -> float:
    """LEAN's probabilistic Sharpe ratio against a Sharpe of 1, de-annualized."""
    deviation = math.sqrt(returns.variance)
    if deviation == 0:
        return 0.0
    observed = (returns.mean - risk_free / TRADING_DAYS) / deviation
    spread = (1 - returns.skew * observed + (returns.kurtosis - 1) / 4 * observed**2) / (
        returns.n - 1
    )
    if spread <= 0:
        return 0.0
    value = (observed - 1 / math.sqrt(TRADING_DAYS)) / math.sqrt(spread)
    return 0.5 * (1 + math.erf(value / math.sqrt(2)))


def _values_at_risk(curve: Curve, first: int, stop: int) -> tuple[float, float]:
    """LEAN's parametric values at risk (99% and 95%) of the last year's daily returns of
    marks `[first, stop)`, rounded to 3 places."""
    first = max(first, stop - TRADING_DAYS)
    recent = _Moments.of(stop - first, *(curve.total(k, first, stop) for k in ("r", "r2")))
    if recent.variance == 0:
        return round(recent.mean, 3), round(recent.mean, 3)
    normal = NormalDist(recent.mean, math.sqrt(recent.variance))
    return round(normal.inv_cdf(0.01), 3), round(normal.inv_cdf(0.05), 3)


def _drawdown(equity: list[float], days: list[int]) -> tuple[float, int]:
    """The largest fall from a peak (a fraction, rounded to 3 places as LEAN does) and the
    longest recovery from one, in days."""
    peak, peak_day, started, worst, recovery = equity[0], days[0], None, 0.0, 0
    for value, day in zip(equity, days, strict=True):
        if value >= peak:
            if started is not None:
                recovery, started = max(recovery, day - started), None
            peak, peak_day = value, day
        else:
            fall = value / peak - 1
            if fall < worst:
                worst = fall
            if started is None:
                started = peak_day
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


def _compounding(start: float, end: float, years: float) -> float:
    """Lean `Statistics.CompoundingAnnualPerformance`: 0 when undefined or overflowing."""
    if not years or not start or end <= 0:
        return 0.0
    try:
        return (end / start) ** (1 / years) - 1
    except OverflowError:
        return 0.0


def portfolio_statistics(curve: Curve, marks: slice, records: slice) -> PortfolioStatistics:
    """LEAN's PortfolioStatistics over a period of `curve` (Lean `StatisticsBuilder.
    GetAlgorithmPerformance`): the whole run starts from the starting capital, a shorter period
    from its first day's equity; with fewer than two daily returns only the equities and the
    turnover are set."""
    first, stop, _ = marks.indices(len(curve.equity))
    sampled = stop - max(first, 1)  # the first mark has no turnover
    turnover = curve.total("turnover", max(first, 1), stop) / sampled if sampled > 0 else 0.0
    numbers = dict.fromkeys(_ZEROS, 0.0) | {"recovery": 0, "turnover": turnover}
    if stop <= first:  # LEAN: no equity in the period, no performance
        return PortfolioStatistics(start_equity=0.0, end_equity=0.0, **numbers)
    start = curve.equity[0] if stop - first == len(curve.equity) else curve.equity[first]
    end = curve.equity[stop - 1]
    # LEAN skips the period's first two daily returns (StatisticsBuilder
    # PreprocessPerformanceValues, CreateBenchmarkDifferences): the first is into its first day.
    if stop - (first + 2) < 2 or not start:
        return PortfolioStatistics(start_equity=start, end_equity=end, **numbers)
    equity, days = curve.equity[first:stop], curve.days[first:stop]
    average_win, average_loss, won, lost = _trades(curve.records[records], start)
    profit_loss = average_win / abs(average_loss) if average_loss else 0.0
    win_rate = won / (won + lost) if won + lost else 0.0
    loss_rate = lost / (won + lost) if won + lost else 0.0
    drawdown, recovery = _drawdown(equity, days)
    risk_free = curve.total("rate", first, stop) / (stop - first)
    numbers |= _ratios(curve, first + 2, stop, risk_free)
    return PortfolioStatistics(
        start_equity=start,
        end_equity=end,
        **numbers
        | {
            "net_profit": end / start - 1,
            "car": _compounding(start, end, (days[-1] - days[0]) / 365),
            "drawdown": drawdown,
            "recovery": recovery,
            "win_rate": win_rate,
            "loss_rate": loss_rate,
            "average_win": average_win,
            "average_loss": average_loss,
            "profit_loss_ratio": profit_loss,
            "expectancy": win_rate * profit_loss - loss_rate,
        },
    )


_ZEROS = tuple(
    f.name
    for f in dataclasses.fields(PortfolioStatistics)
    if f.name not in ("start_equity", "end_equity", "recovery", "turnover")
)


def performance(simulation: Simulation) -> Performance:
    """Every statistic of a finished simulation."""
    portfolio, backtest = simulation.portfolio, simulation.backtest
    curve = Curve.of(simulation)
    whole = portfolio_statistics(curve, slice(None), slice(None))
    _, _, won, lost = _trades(portfolio.records, portfolio.capital)
    traded = {line.contracts[0].security_type: line for line in simulation.tradable}
    thinnest = min(traded, key=lambda kind: _LIQUIDITY[kind], default="Equity")
    lowest = traded[thinnest].contracts[0].sid if traded else ""
    marks = portfolio.marks
    return Performance(
        **{f.name: getattr(whole, f.name) for f in dataclasses.fields(PortfolioStatistics)},
        fees=portfolio.fees,
        capacity=_LIQUIDITY[thinnest] * 0.01 / max(whole.turnover, 0.01) if traded else 0.0,
        lowest_capacity_asset=lowest,
        total_orders=backtest.order_count,
        winners=won,
        losers=lost,
        total_profit_loss=whole.end_equity - whole.start_equity,
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
    )


def _ratios(curve: Curve, first: int, stop: int, risk_free: float) -> dict[str, float]:
    """Sharpe, Sortino, PSR, alpha, beta, value at risk and the rest, from the daily returns
    of marks `[first, stop)` (at least two)."""
    n = stop - first
    returns = _Moments.of(n, *(curve.total(k, first, stop) for k in ("r", "r2", "r3", "r4")))
    benchmark = _Moments.of(n, *(curve.total(k, first, stop) for k in ("b", "b2")))
    product = curve.total("rb", first, stop)
    covariance = (product - n * returns.mean * benchmark.mean) / (n - 1)
    losses = round(curve.total("losses", first, stop))
    downside = _Moments.of(
        max(losses, 1), *(curve.total(k, first, stop) for k in ("loss", "loss2"))
    )
    annual = (returns.mean + 1) ** TRADING_DAYS - 1
    variance = returns.variance * TRADING_DAYS
    deviation = math.sqrt(variance)
    downside_deviation = math.sqrt(downside.variance * TRADING_DAYS) if losses > 1 else 0.0
    benchmark_annual = (benchmark.mean + 1) ** TRADING_DAYS - 1
    beta = covariance / benchmark.variance if benchmark.variance else 0.0
    difference = max(returns.variance + benchmark.variance - 2 * covariance, 0.0)
    tracking = math.sqrt(difference * TRADING_DAYS)
    value_at_risk_99, value_at_risk_95 = _values_at_risk(curve, first, stop)
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
        "value_at_risk_99": value_at_risk_99,
        "value_at_risk_95": value_at_risk_95,
    }


# --- Rolling windows ----------------------------------------------------------------------------

ROLLING_MONTHS = (1, 3, 6, 12)


@dataclass(frozen=True)
class Window:
    """One rolling window: its key (`M3_20231231`), its portfolio statistics and the slice of
    the closed trades (in the order they closed) that closed in it."""

    key: str
    statistics: PortfolioStatistics
    trades: slice


def _add_months(day: date, months: int) -> date:
    """`day` moved by whole months (the 1st of a month stays the 1st: all this needs)."""
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


def period_ranges(months: int, first: date, last: date) -> list[tuple[date, date]]:
    """Lean `StatisticsBuilder.GetPeriodRanges`: a period ending at each month end from the
    first date's month on, and one ending at the last date, each `months` long (the first
    periods start no earlier than the first date), oldest first."""
    ends, day = [], last
    while True:
        ends.append(day)
        day = day.replace(day=1) - timedelta(days=1)
        if day < first:
            break
    ranges = [(first, ends[-1])]
    for end in reversed(ends[:-1]):
        start = _add_months(ranges[-1][1] + timedelta(days=1), 1 - months)
        ranges.append((max(start, first), end))
    return ranges


def rolling_windows(curve: Curve, exits: list[int]) -> list[Window]:
    """Lean `StatisticsBuilder.GetRollingPerformances` over the curve's dates; `exits` are the
    closed trades' exit days, in order."""
    epoch = date(1970, 1, 1)
    first, last = (epoch + timedelta(days=curve.dates[i]) for i in (0, -1))
    windows = []
    for months in ROLLING_MONTHS:
        for start, end in period_ranges(months, first, last):
            low, high = (start - epoch).days, (end - epoch).days
            marks, records = curve.period(low, high)
            trades = slice(bisect.bisect_left(exits, low), bisect.bisect_right(exits, high))
            key = f"M{months}_{end:%Y%m%d}"
            windows.append(Window(key, portfolio_statistics(curve, marks, records), trades))
    return windows
