"""What each picture reads from the warehouse: the named statements of `sql/plots/`, their
rows shaped by `series.py`, and a `NothingToPlotError` that says why when there is nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from pipelines.plots.series import (
    EquityCurve,
    FillsByHour,
    Heatmap,
    NothingToPlotError,
    equity_curves,
    fills_by_hour,
    heatmap,
    unique_labels,
)
from pipelines.queries import named_queries
from pipelines.warehouse import Connection

# How many backtests the equity picture shows when none is named: the best by Sharpe ratio.
TOP_BACKTESTS = 5


def _rows(conn: Connection, file: str, name: str, **parameters: Any) -> list[tuple[Any, ...]]:
    statement = named_queries(f"plots/{file}.sql")[name]
    try:
        return conn.execute(statement, parameters).fetchall()
    except duckdb.CatalogException as error:  # a warehouse without today's views
        raise NothingToPlotError(
            f"{error}: `qcw sync` (or materializing analysis_views) creates the views"
        ) from error


def _listed(ids: Sequence[str]) -> str:
    return ", ".join(ids)


@dataclass(frozen=True)
class Equity:
    curves: list[EquityCurve]
    currency: str | None  # the backtests' one account currency; None when they differ


def read_equity(
    conn: Connection, backtest_ids: Sequence[str] | None = None, top: int = TOP_BACKTESTS
) -> Equity:
    """The cumulative P&L of the backtests of `backtest_ids`, in that order; without ids, of the
    `top` backtests by Sharpe ratio that have closed trades."""
    if not backtest_ids:
        backtest_ids = [row[0] for row in _rows(conn, "equity", "top_backtests", limit=top)]
        if not backtest_ids:
            raise NothingToPlotError("no backtest has closed trades and a Sharpe ratio yet")
    ids = list(dict.fromkeys(backtest_ids))
    found = {row[0]: row[1:] for row in _rows(conn, "equity", "backtests", ids=ids)}
    unknown = [b for b in ids if b not in found]
    if unknown:
        raise NothingToPlotError(
            f"no backtest{'s' if len(unknown) > 1 else ''} {_listed(unknown)} in the warehouse"
        )
    empty = [b for b in ids if not found[b][3]]
    if empty:
        have = "have" if len(empty) > 1 else "has"
        raise NothingToPlotError(
            f"backtest{'s' if len(empty) > 1 else ''} {_listed(empty)} {have} no closed trades"
        )
    currencies = {found[b][2] for b in ids}
    labels = unique_labels([(b, found[b][0]) for b in ids])
    if len(currencies) > 1:  # each line says its own
        labels = {b: f"{label} ({found[b][2] or '?'})" for b, label in labels.items()}
    currency = next(iter(currencies)) if len(currencies) == 1 else None
    trades = _rows(conn, "equity", "trades", ids=ids)
    return Equity(equity_curves(trades, labels), currency)


@dataclass(frozen=True)
class OptimizationGrid:
    optimization_id: str
    title: str
    grid: Heatmap


def _axes(optimization_id: str, swept: list[str], x: str | None, y: str | None) -> tuple[str, str]:
    for name in (x, y):
        if name is not None and name not in swept:
            sweeps = f"it sweeps {_listed(swept)}" if swept else "it sweeps no parameter"
            raise NothingToPlotError(
                f"optimization {optimization_id} does not sweep {name}: {sweeps}"
            )
    if len(swept) < 2:
        names = f" ({_listed(swept)})" if swept else ""
        raise NothingToPlotError(
            f"optimization {optimization_id} sweeps {len(swept)} parameter{names}; a heatmap "
            "needs two"
        )
    if x is not None and x == y:
        raise NothingToPlotError(f"x and y are both {x}: give two different parameters")
    x = x or next(name for name in swept if name != y)
    y = y or next(name for name in swept if name != x)
    return x, y


def read_optimization(
    conn: Connection,
    optimization_id: str | None = None,
    x: str | None = None,
    y: str | None = None,
) -> OptimizationGrid:
    """The target statistic of `optimization_id` (else of the latest completed optimization
    that sweeps two parameters) over its parameters `x` and `y` (else the first two it sweeps,
    by name)."""
    if optimization_id is None:
        latest = _rows(conn, "optimization", "latest")
        if not latest:
            raise NothingToPlotError(
                "no completed optimization that sweeps two parameters has results yet"
            )
        optimization_id = latest[0][0]
    found = _rows(conn, "optimization", "optimization", id=optimization_id)
    if not found:
        raise NothingToPlotError(f"no optimization {optimization_id} in the warehouse")
    _, name, status, statistic, extremum = found[0]
    swept = [row[0] for row in _rows(conn, "optimization", "swept_parameters", id=optimization_id)]
    x, y = _axes(optimization_id, swept, x, y)
    results = _rows(conn, "optimization", "results", id=optimization_id)
    if not any(value is not None for _, value in results):
        raise NothingToPlotError(
            f"optimization {optimization_id} ({status}) has no backtest with a value of its "
            f"target, {statistic}, yet"
        )
    grid = heatmap(results, x, y, statistic, extremum or "max")
    return OptimizationGrid(optimization_id, f"{name} ({optimization_id}, {status})", grid)


@dataclass(frozen=True)
class Fills:
    title: str | None  # the backtest's name and id; None for every backtest
    fills: FillsByHour


def read_fills(conn: Connection, backtest_id: str | None = None) -> Fills:
    """Fills by hour of day and order type, of `backtest_id` or of every backtest."""
    title = None
    if backtest_id is not None:
        found = _rows(conn, "fills", "backtest", id=backtest_id)
        if not found:
            raise NothingToPlotError(f"no backtest {backtest_id} in the warehouse")
        title = f"{found[0][0]} ({backtest_id})"
    rows = _rows(conn, "fills", "fills_by_hour", id=backtest_id)
    if not rows:
        raise NothingToPlotError(
            f"backtest {backtest_id} has no fills (are its orders loaded?)"
            if backtest_id is not None
            else "the warehouse holds no fills yet"
        )
    return Fills(title, fills_by_hour(rows))
