"""The JSON of optimizations: `optimizations/list` and `create`'s summaries, `optimizations/read`
with its runtime statistics, backtest entries and analysis.

A backtest entry's `statistics` come in the format its optimization's creation date chooses
(`Optimization.legacy`): the object keyed by index in `STATISTICS_INDICES` plus custom names,
or the legacy positional array (the map sorted by name, skipping `LEGACY_SKIPPED` and every
value that fails to parse; Lean c565f4cfd~1:Common/Api/OptimizationBacktestJsonConverter.cs).
Values are `%`-stripped and currency-parsed like Lean's `Currencies.TryParse`; the C#
decimals' trailing zeros ("17.800") are not kept.

Completed optimizations created from `ANALYSIS_FROM` (2025-06-01, a sandbox date against the
fixed `records.NOW`, never the wall clock) on carry `analysis` (Lean PR #9495, 2026-05-28,
after the sandbox's NOW; moved to a sandbox date so replies with and without it appear),
computed from their backtests' Sharpe ratios.

Choices where the sources are silent: a backtest stopped by a runtime error has exit code 1
(Lean's launcher exits 1 unless the algorithm completed) and counts as `Failed`; `Consumed` is
QCC at the sandbox's rates per node hour. ("§N" is a section of
`/work/shared/reference/quantconnect-api-results.md`.)
"""

from __future__ import annotations

import itertools
import re
import statistics as stats
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.optimization_model import (
    GRID_SEARCH,
    NODE_RATES,
    Optimization,
    Run,
    StepParameter,
    best_run,
)
from pipelines.sandbox.records import iso
from pipelines.sandbox.reports import statistics, summary_statistics

ANALYSIS_FROM = datetime(2025, 6, 1, tzinfo=UTC)
STATISTICS_INDICES = (
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
"""Lean's `StatisticsIndices` (OptimizationBacktestJsonConverter, §1.4): name by index."""
_INDEX = frozenset(STATISTICS_INDICES)
LEGACY_SKIPPED = frozenset(
    {"Portfolio Turnover", "Sortino Ratio", "Start Equity", "End Equity", "Drawdown Recovery"}
)


# --- Backtests' statistics -----------------------------------------------------------------------


_CURRENCY_PREFIX = re.compile(r"^[^\d\s\-+]+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_statistic(text: str) -> float | None:
    """A statistic's number as Lean's converter reads it: `%` removed, then
    `Currencies.TryParse` (any leading non-digits stripped, an invariant decimal); None when it
    fails ("-", "", "SPY R735QTJ8XC9X")."""
    stripped = _CURRENCY_PREFIX.sub("", text.replace("%", "")).strip().replace(",", "")
    return float(Decimal(stripped)) if _DECIMAL.fullmatch(stripped) else None


def statistics_object(printed: Mapping[str, str]) -> JsonDict:
    """The current format (Lean PR #8984): numbers keyed by their index in
    `STATISTICS_INDICES`, then custom names (any other statistic) in descending name order."""
    parsed = [(name, parse_statistic(value)) for name, value in printed.items()]
    known = sorted(
        ((STATISTICS_INDICES.index(name), value) for name, value in parsed if name in _INDEX),
    )
    custom = sorted(((n, v) for n, v in parsed if n not in _INDEX), reverse=True)
    ordered = [(str(index), value) for index, value in known] + custom
    return {key: value for key, value in ordered if value is not None}


def statistics_array(printed: Mapping[str, str]) -> list[float]:
    """The legacy format: the map sorted by name, without `LEGACY_SKIPPED` and without values
    that fail to parse (so a "-" shortens the array and shifts what follows)."""
    values = (
        parse_statistic(printed[name]) for name in sorted(printed) if name not in LEGACY_SKIPPED
    )
    return [value for value in values if value is not None]


# --- Replies -------------------------------------------------------------------------------------


def summary_json(optimization: Optimization, runs: Sequence[Run]) -> JsonDict:
    """An OptimizationSummary (`optimizations/list`, `create`; §1.2): the numbers of its best
    backtest as `backtests/list` has them, or null."""
    best = best_run(optimization, runs)
    numbers = summary_statistics(best.backtest, best.perf) if best is not None else {}
    return {
        "optimizationId": optimization.optimization_id,
        "projectId": optimization.project_id,
        "name": optimization.name,
        "status": optimization.status,
        "nodeType": optimization.node_type,
        "criterion": optimization.criterion.as_json(),
        "created": optimization.time(optimization.created),
        "psr": numbers.get("psr"),
        "sharpeRatio": numbers.get("sharpeRatio"),
        "trades": numbers.get("trades"),
        "cloneId": None,
        "outOfSampleDays": optimization.out_of_sample_days,
        "outOfSampleMaxEndDate": _out_of_sample_end(optimization),
        "parameters": [p.as_json() for p in optimization.parameters],
    }


def _out_of_sample_end(optimization: Optimization) -> str | None:
    end = optimization.out_of_sample_max_end
    return None if end is None else optimization.time(datetime(*end.timetuple()[:3], tzinfo=UTC))


def read_json(optimization: Optimization, runs: Sequence[Run]) -> JsonDict:
    """An Optimization (`optimizations/read`; §1.3): empty maps as `[]`."""
    read: JsonDict = {
        "optimizationId": optimization.optimization_id,
        "projectId": optimization.project_id,
        "name": optimization.name,
        "status": optimization.status,
        "nodeType": optimization.node_type,
        "outOfSampleDays": optimization.out_of_sample_days,
        "outOfSampleMaxEndDate": _out_of_sample_end(optimization),
        "parameters": [p.as_json() for p in optimization.parameters],
        "criterion": optimization.criterion.as_json(),
        "snapshotId": optimization.snapshot_id,
        "optimizationTarget": optimization.criterion.target,
        "targetValue": optimization.criterion.as_json()["targetValue"],
        "gridLayout": _grid_layout(optimization),
        "runtimeStatistics": runtime_statistics(optimization, runs) or [],
        "constraints": [c.as_json() for c in optimization.constraints],
        "parallelNodes": optimization.parallel_nodes,
        "backtests": {optimization.key(r.point): backtest_entry(optimization, r) for r in runs}
        or [],
        "strategy": GRID_SEARCH,
        "requested": optimization.time(optimization.created),
    }
    found = analysis(optimization, runs)
    if found is not None:
        read["analysis"] = found
    return read


def _grid_layout(optimization: Optimization) -> list[JsonDict]:
    if optimization.legacy:
        return []
    chart = {"chartName": "Strategy Equity", "width": 12, "height": 6, "row": 0, "column": 0}
    return [chart | {"sort": 0}]


def runtime_statistics(optimization: Optimization, runs: Sequence[Run]) -> dict[str, str]:
    """`Completed`, `Failed`, `Running`, `In Queue` (its backtests' states), `Average Length`
    and `Total Runtime` (Lean's LeanOptimizer: the runtime over the ended backtests), `Total`
    (parameter sets) and `Consumed` (QCC); empty while new."""
    if optimization.status == "new":
        return {}
    states = [run.backtest.state for run in runs]
    ended = states.count("completed") + states.count("error")
    length = optimization.backtest_length.total_seconds()
    runtime = length * optimization.rounds
    if optimization.status == "running":
        runtime += length / 2  # halfway through the running round
    consumed = ended * length / 3600 * NODE_RATES[optimization.node_type]
    return {
        "Completed": str(states.count("completed")),
        "Failed": str(states.count("error")),
        "Running": str(states.count("running")),
        "In Queue": str(states.count("queued")),
        "Average Length": _hms(runtime / ended if ended else 0),
        "Total Runtime": _hms(runtime),
        "Total": str(len(optimization.grid)),
        "Consumed": f"{consumed:.2f}",
    }


def _hms(seconds: float) -> str:
    """A duration as "HH:MM:SS" (hours past 24 written whole)."""
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}:{second:02d}"


def backtest_entry(optimization: Optimization, run: Run) -> JsonDict:
    """An OptimizationBacktest as Lean's OptimizationBacktestJsonConverter writes it (§1.4)."""
    backtest = run.backtest
    entry: JsonDict = {
        "name": backtest.name,
        "id": backtest.backtest_id,
        "progress": backtest.progress,
        "exitCode": 1 if backtest.state == "error" else 0,
    }
    if backtest.state != "queued":  # dates are set once the algorithm initialized
        entry["startDate"] = iso(backtest.start)
        entry["endDate"] = iso(backtest.end)
    if optimization.out_of_sample_max_end is not None:
        entry["outOfSampleMaxEndDate"] = iso(optimization.out_of_sample_max_end)
        entry["outOfSampleDays"] = optimization.out_of_sample_days
    if run.perf is not None:
        printed = statistics(backtest, run.perf)
        entry["statistics"] = (
            statistics_array(printed) if optimization.legacy else statistics_object(printed)
        )
    entry["parameterSet"] = dict(optimization.grid[run.point]) or []
    if optimization.legacy:
        entry["equity"] = []
    return entry


# --- Analysis ------------------------------------------------------------------------------------


def analysis(optimization: Optimization, runs: Sequence[Run]) -> JsonDict | None:
    """Lean's OptimizationAnalysis (PR #9495) of a completed optimization: Sharpe ratios over
    the swept values (clusters and modes left empty); None before `ANALYSIS_FROM`."""
    finished = [r for r in runs if r.perf is not None]
    used = [r for r in finished if r.backtest.state == "completed"]
    if optimization.status != "completed" or optimization.created < ANALYSIS_FROM or not used:
        return None
    sharpes = [_sharpe(r) for r in used]
    best = max(used, key=_sharpe)  # the first of equals
    found: JsonDict = {
        "backtestCountTotal": len(finished),
        "backtestCountUsed": len(used),
        "overallSharpe": {
            "mean": _round(stats.fmean(sharpes)),
            "stdDev": _round(stats.stdev(sharpes)) if len(sharpes) > 1 else 0.0,
            "min": min(sharpes),
            "max": max(sharpes),
            "median": _round(stats.median(sharpes)),
        },
        "best": {"parameters": _numeric(best, optimization), "sharpeRatio": _sharpe(best)},
        "parameters": [
            _parameter_report(p, used, best, optimization)
            for p in optimization.parameters
            if isinstance(p, StepParameter)
        ],
        "clusters": [],
        "modes": [],
    }
    zero = [r for r in used if r.backtest.order_count == 0]
    if zero:
        found["failedBacktests"] = {
            "zeroOrderCount": len(zero),
            "inspectedCount": min(10, len(zero)),
            "analysisNameCounts": {},
        }
    return found


def _round(value: float) -> float:
    return round(value, 6)


def _sharpe(run: Run) -> float:
    assert run.perf is not None
    return round(run.perf.sharpe, 3)


def _numeric(run: Run, optimization: Optimization) -> dict[str, float]:
    """A run's parameter values that are numbers."""
    parameter_set = optimization.grid[run.point]
    return {name: float(text) for name, text in parameter_set.items() if _DECIMAL.fullmatch(text)}


def _parameter_report(
    parameter: StepParameter, runs: Sequence[Run], best: Run, optimization: Optimization
) -> JsonDict:
    """Lean's ParameterReport: one slice per combination of the other parameters' values, each
    a piecewise linear fit of Sharpe over this parameter."""
    slices: dict[tuple[tuple[str, float], ...], list[Run]] = {}
    for run in runs:
        others = tuple(sorted((n, v) for n, v in _numeric(run, optimization).items()))
        slices.setdefault(tuple(p for p in others if p[0] != parameter.name), []).append(run)
    fits = [_slice(parameter.name, key, members, optimization) for key, members in slices.items()]
    step = float(parameter.step)
    best_value = _numeric(best, optimization).get(parameter.name, 0.0)
    minimum, maximum = float(parameter.minimum), float(parameter.maximum)
    tolerance = step / 2 + 1e-9
    return {
        "name": parameter.name,
        "searchedMin": minimum,
        "searchedMax": maximum,
        "step": step,
        "meanWithinSliceSharpeRange": _round(stats.fmean(f["sharpeRange"] for f in fits)),
        "maxWithinSliceSharpeRange": max(f["sharpeRange"] for f in fits),
        "maxAbsDerivativePerStep": _round(max(f["maxAbsDerivative"] for f in fits) * step),
        "bestValue": best_value,
        "bestAtSearchedEdge": min(abs(best_value - minimum), abs(best_value - maximum))
        <= tolerance,
        "slices": fits,
    }


def _slice(
    name: str, fixed: tuple[tuple[str, float], ...], runs: list[Run], optimization: Optimization
) -> JsonDict:
    points = sorted((_numeric(r, optimization)[name], _sharpe(r)) for r in runs)
    sharpes = [y for _, y in points]
    segments = [
        {"xLo": x0, "xHi": x1, "a": y0, "b": _round((y1 - y0) / (x1 - x0))}
        for (x0, y0), (x1, y1) in itertools.pairwise(points)
    ]
    return {
        "fixedParameters": dict(fixed),
        "sharpeRange": _round(max(sharpes) - min(sharpes)),
        "maxAbsDerivative": max((abs(s["b"]) for s in segments), default=0.0),
        "segments": segments,
    }
