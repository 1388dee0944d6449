"""What each picture shows, computed from rows: pure functions, no drawing and no storage.

- `equity_curves`: each backtest's cumulative P&L after each closed trade, its running peak
  and its drawdown from that peak;
- `heatmap`: an optimization's target statistic on a grid of two parameters' values;
- `fills_by_hour`: fills per hour of day and order type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

HOURS = 24


class NothingToPlotError(ValueError):
    """There is nothing to draw: an unknown id, no trades or fills yet, an optimization that
    sweeps fewer than two parameters. Its message says which."""


@dataclass(frozen=True)
class EquityCurve:
    """One backtest's cumulative P&L: 0 at its first trade's exit, then after each trade."""

    backtest_id: str
    label: str
    times: list[datetime]
    pnl: list[float]
    peak: list[float]  # the running maximum of `pnl` (0 at the start)

    @property
    def drawdown(self) -> list[float]:
        """How far below its running peak the P&L is after each trade (0 or negative)."""
        return [value - peak for value, peak in zip(self.pnl, self.peak, strict=True)]

    @property
    def final(self) -> float:
        return self.pnl[-1]

    @property
    def max_drawdown(self) -> float:
        return min(self.drawdown)


def equity_curve(
    backtest_id: str, trades: Iterable[tuple[datetime, float]], label: str | None = None
) -> EquityCurve:
    """The cumulative P&L of one backtest's closed trades, `(exit_time, profit_loss)`, in the
    order they closed (trades closing at the same time keep their given order)."""
    ordered = sorted(trades, key=lambda trade: trade[0])
    if not ordered:
        raise NothingToPlotError(f"backtest {backtest_id} has no closed trades")
    times, pnl, peak = [ordered[0][0]], [0.0], [0.0]
    for time, profit_loss in ordered:
        times.append(time)
        pnl.append(pnl[-1] + profit_loss)
        peak.append(max(peak[-1], pnl[-1]))
    return EquityCurve(backtest_id, label or backtest_id, times, pnl, peak)


def equity_curves(
    trades: Iterable[tuple[str, datetime, float]], labels: Mapping[str, str] | None = None
) -> list[EquityCurve]:
    """One curve per backtest of `(backtest_id, exit_time, profit_loss)` rows, in the order of
    first appearance; with `labels`, one per backtest it names (each must have trades), in its
    order."""
    by_backtest: dict[str, list[tuple[datetime, float]]] = {}
    for backtest_id, time, profit_loss in trades:
        by_backtest.setdefault(backtest_id, []).append((time, float(profit_loss)))
    named = labels if labels is not None else {b: b for b in by_backtest}
    return [equity_curve(b, by_backtest.get(b, []), label) for b, label in named.items()]


@dataclass(frozen=True)
class Heatmap:
    """A statistic on a grid: `cells[i][j]` is its value at `y_values[i]` and `x_values[j]`,
    None where no backtest gives one. With more backtests per cell (a third parameter swept),
    a cell holds the best of them."""

    x: str
    y: str
    x_values: list[str]
    y_values: list[str]
    cells: list[list[float | None]]
    statistic: str
    extremum: str  # "max" or "min": which values are better
    backtests_per_cell: int  # at most

    def best(self) -> tuple[str, str, float] | None:
        """The best cell's x value, y value and statistic."""
        found = [
            (value, x, y)
            for y, row in zip(self.y_values, self.cells, strict=True)
            for x, value in zip(self.x_values, row, strict=True)
            if value is not None
        ]
        if not found:
            return None
        pick = min if self.extremum == "min" else max
        value, x, y = pick(found, key=lambda cell: cell[0])
        return x, y, value


def parameter_order(values: Iterable[str]) -> list[str]:
    """Distinct parameter values in order: numerically when every one is a number."""
    distinct = set(values)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def heatmap(
    results: Iterable[tuple[Mapping[str, str], float | None]],
    x: str,
    y: str,
    statistic: str,
    extremum: str = "max",
) -> Heatmap:
    """The grid of `statistic` over parameters `x` and `y` from each backtest's
    `(parameter_set, value)`: one cell per pair of values that some backtest ran."""
    pick = min if extremum == "min" else max
    values: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], int] = {}
    for parameter_set, value in results:
        if x not in parameter_set or y not in parameter_set:
            continue
        pair = (str(parameter_set[x]), str(parameter_set[y]))
        counts[pair] = counts.get(pair, 0) + 1
        values.setdefault(pair, [])
        if value is not None:
            values[pair].append(float(value))
    if not values:
        raise NothingToPlotError(f"no backtest ran with both {x} and {y}")
    x_values = parameter_order(pair[0] for pair in values)
    y_values = parameter_order(pair[1] for pair in values)
    cells = [
        [pick(values[(a, b)]) if values.get((a, b)) else None for a in x_values] for b in y_values
    ]
    return Heatmap(x, y, x_values, y_values, cells, statistic, extremum, max(counts.values()))


@dataclass(frozen=True)
class FillsByHour:
    """Fills per hour of day (0-23) of each order type, the most filled type first."""

    order_types: list[str]
    counts: dict[str, list[int]]  # per order type, 24 hourly counts

    @property
    def total(self) -> int:
        return sum(sum(hours) for hours in self.counts.values())


def fills_by_hour(rows: Iterable[tuple[int, str, int]]) -> FillsByHour:
    """Fills from `(hour, order_type, fills)` rows (several rows of one pair add up)."""
    counts: dict[str, list[int]] = {}
    for hour, order_type, fills in rows:
        if not 0 <= hour < HOURS:
            raise ValueError(f"hour {hour} is not an hour of the day")
        counts.setdefault(order_type, [0] * HOURS)[hour] += int(fills)
    order = sorted(counts, key=lambda order_type: (-sum(counts[order_type]), order_type))
    if not order:
        raise NothingToPlotError("no fills")
    return FillsByHour(order, {order_type: counts[order_type] for order_type in order})


def unique_labels(names: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """A legend label per `(id, name)`: the name, with the id's start when names repeat; the
    id when there is no name."""
    repeats = Counter(name for _, name in names)
    return {
        i: (f"{name} ({i[:8]})" if repeats[name] > 1 else name) if name else i for i, name in names
    }
