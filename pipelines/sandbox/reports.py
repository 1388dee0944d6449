"""A backtest's `Performance` as the API serves it: the `statistics` map (LEAN's
StatisticsBuilder.GetSummary formats), `runtimeStatistics` (BaseResultsHandler's N2 money),
and the numbers of a `backtests/list` entry, which agree with the map (`results` serves
`totalPerformance`). ("ref §N" is section N of `/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.records import Backtest
from pipelines.sandbox.statistics import (
    DRAWDOWN_RECOVERY_ADDED,
    PORTFOLIO_TURNOVER_ADDED,
    SORTINO_ADDED,
    TOTAL_ORDERS_RENAMED,
    Performance,
)


def _double(value: float) -> str:
    """A double rounded to 3 places, written the shortest way: 1.970 -> "1.97", 0 -> "0"."""
    text = repr(round(value, 3) + 0.0)
    return text.removesuffix(".0")


def _decimal(value: float, places: int, suffix: str = "") -> str:
    """A C# decimal rounded to `places` (trailing zeros kept): "2.200%"; an unset zero "0%"."""
    return f"0{suffix}" if value == 0 else f"{value:.{places}f}{suffix}"


def _capacity(value: float, currency: str) -> str:
    """Ref §5: capacity rounded to 2 significant digits, money with no thousands separator."""
    return f"{currency}{float(f'{value:.2g}'):.2f}" if value else f"{currency}0"


def _n2(value: float, currency: str) -> str:
    """Ref §5: runtime statistics use .NET "N2": "$100,670.36", negatives as "$-4.94"."""
    return f"{currency}{value:,.2f}"


def _equity(value: float) -> str:
    """Start and End Equity: Math.Round(decimal, 2), so whole capital prints as "100000"."""
    return str(int(value)) if value == int(value) else f"{value:.2f}"


def statistics(backtest: Backtest, perf: Performance) -> JsonDict:
    """The `statistics` map as Lean's StatisticsBuilder formats it (ref §5)."""
    created, money = backtest.created, backtest.currency
    orders_key = "Total Orders" if created >= TOTAL_ORDERS_RENAMED else "Total Trades"
    stats: JsonDict = {
        orders_key: str(perf.total_orders),
        "Average Win": _decimal(perf.average_win * 100, 2, "%"),
        "Average Loss": _decimal(perf.average_loss * 100, 2, "%"),
        "Compounding Annual Return": _decimal(perf.car * 100, 3, "%"),
        "Drawdown": _decimal(perf.drawdown * 100, 3, "%"),
        "Expectancy": _decimal(perf.expectancy, 3),
    }
    if created >= TOTAL_ORDERS_RENAMED:
        stats["Start Equity"] = _equity(perf.start_equity)
        stats["End Equity"] = f"{perf.end_equity:.2f}"
    stats["Net Profit"] = _decimal(perf.net_profit * 100, 3, "%")
    stats["Sharpe Ratio"] = _double(perf.sharpe)
    if created >= SORTINO_ADDED:
        stats["Sortino Ratio"] = _double(perf.sortino)
    stats.update(
        {
            "Probabilistic Sharpe Ratio": _decimal(perf.psr * 100, 3, "%"),
            "Loss Rate": f"{round(perf.loss_rate * 100):.0f}%",
            "Win Rate": f"{round(perf.win_rate * 100):.0f}%",
            "Profit-Loss Ratio": _decimal(perf.profit_loss_ratio, 2),
            "Alpha": _double(perf.alpha),
            "Beta": _double(perf.beta),
            "Annual Standard Deviation": _double(perf.annual_std),
            "Annual Variance": _double(perf.annual_variance),
            "Information Ratio": _double(perf.information_ratio),
            "Tracking Error": _double(perf.tracking_error),
            "Treynor Ratio": _double(perf.treynor),
            "Total Fees": f"{money}{perf.fees:.2f}",
            "Estimated Strategy Capacity": _capacity(perf.capacity, money),
            "Lowest Capacity Asset": perf.lowest_capacity_asset,
        }
    )
    if created >= PORTFOLIO_TURNOVER_ADDED:
        stats["Portfolio Turnover"] = _decimal(perf.turnover * 100, 2, "%")
    if created >= DRAWDOWN_RECOVERY_ADDED:
        stats["Drawdown Recovery"] = str(perf.recovery)
    if backtest.state == "error":
        # Placeholders for values a crashed run could not compute (ref §5, §9.2).
        stats["Probabilistic Sharpe Ratio"] = "-"
        stats["Information Ratio"] = "-"
    return stats


def runtime_statistics(backtest: Backtest, perf: Performance) -> JsonDict:
    """`runtimeStatistics` with N2 money, "-$" fees and "P" percentages (ref §5), as of the
    last day a running backtest has reached."""
    share = 1.0 if backtest.finished else backtest.progress
    mark = perf.final if backtest.finished else perf.current
    net = mark.equity - perf.start_equity
    money = backtest.currency
    return {
        "Equity": _n2(mark.equity, money),
        "Fees": f"-{_n2(mark.fees, money)}",
        "Holdings": _n2(mark.holdings, money),
        "Net Profit": _n2(net, money),
        "Probabilistic Sharpe Ratio": f"{round(perf.psr * 100 * share):.0f}%",
        "Return": f"{net / perf.start_equity * 100:,.2f} %",
        "Unrealized": _n2(mark.unrealized, money),
        "Volume": _n2(mark.volume, money),
    }


def summary_statistics(backtest: Backtest, perf: Performance | None) -> JsonDict:
    """The numbers a `backtests/list` entry adds with `includeStatistics` (ref §4): the
    statistics map's values as numbers (percent where it prints "%"); 0 while unfinished."""
    names = {
        "sharpeRatio": "Sharpe Ratio",
        "alpha": "Alpha",
        "beta": "Beta",
        "compoundingAnnualReturn": "Compounding Annual Return",
        "drawdown": "Drawdown",
        "lossRate": "Loss Rate",
        "netProfit": "Net Profit",
        "psr": "Probabilistic Sharpe Ratio",
        "sortinoRatio": "Sortino Ratio",
        "treynorRatio": "Treynor Ratio",
        "winRate": "Win Rate",
    }
    numbers = {}
    if backtest.finished and perf is not None:
        printed = statistics(backtest, perf)
        full = {**printed, "Sortino Ratio": _double(perf.sortino)}
        numbers = {key: _number(full.get(name, "0")) for key, name in names.items()}
    summary: JsonDict = {key: numbers.get(key, 0.0) for key in names}
    summary["trades"] = backtest.served_orders
    summary["parameters"] = len(backtest.parameter_set)
    summary["securityTypes"] = perf.security_types if perf is not None else ""
    return summary


def _number(text: str) -> float:
    stripped = text.rstrip("%")
    return float(stripped) if stripped not in ("-", "") else 0.0
