"""Optimizations: grid searches over a project's parameters, whose backtests are the account's.

An optimization (`Optimization`) runs one backtest per parameter set of its grid (Lean's
`GridSearchOptimizationStrategy`: the first parameter varies slowest, every value a C# decimal
`min + i * step` written as a string), `parallel_nodes` at a time, each taking
`backtest_length`: after `rounds` rounds the first `rounds * parallel_nodes` sets are done, the
next `parallel_nodes` running and the rest queued. Those backtests are ordinary `Backtest`
records of the account (listed by `backtests/list` with `optimizationId` and the parameter set,
with orders and statistics like any other); the records' states are the truth, and the
optimization's `runtimeStatistics` count them.

The account plans some optimizations per project (`plan_project`): in every preset at least one
completed optimization in each statistics format, an aborted one (some backtests done, the rest
never run), a running one and a new one (`[]` backtests and runtime statistics); smaller
accounts fewer, none below 3 backtests per project. Planned
optimizations change only through the admin endpoints (`complete_running`,
`complete_optimizations`: a running one completes, a new one keeps waiting), as planned
backtests do; one created through `optimizations/create`
starts `new` and advances one step per `optimizations/read` (new -> running with every backtest
launched -> one round of backtests completed per read -> completed). Dates are sandbox dates
against the fixed `records.NOW`, never the wall clock:

- `OBJECT_STATISTICS_FROM` (2025-03-01): an optimization created from then on serves its
  backtests' `statistics` as the object keyed "0"…"24" plus custom names (Lean PR #8984,
  2025-12-22, after the sandbox's NOW; moved to a sandbox date so both formats appear), older
  ones the legacy positional array (the map sorted by name, skipping `LEGACY_SKIPPED` and every
  value that fails to parse; Lean c565f4cfd~1:Common/Api/OptimizationBacktestJsonConverter.cs).
  Values are `%`-stripped and currency-parsed like Lean's `Currencies.TryParse`; the C#
  decimals' trailing zeros ("17.800") are not kept.
- `ANALYSIS_FROM` (2025-06-01): completed optimizations from then on carry `analysis` (Lean
  PR #9495, 2026-05-28, likewise moved), computed from their backtests' Sharpe ratios.
- `ISO_TIMES_FROM` (2025-08-01, Lean PR #8919): `created` and `requested` in ISO "…Z" from
  then on, "yyyy-MM-dd HH:mm:ss" before.

Choices where the sources are silent: a backtest stopped by a runtime error has exit code 1
(Lean's launcher exits 1 unless the algorithm completed) and counts as `Failed`; aborting (or
deleting) a running optimization withdraws its unfinished backtests from `backtests/list`; a
created optimization whose `targetValue` is reached completes early, as Lean's `Target.Reached`
ends it; the backtests of one optimization share its period, node type and snapshot id;
`Consumed` is QCC at the sandbox's rates per node hour. ("§N" is a section of
`/work/shared/reference/quantconnect-api-results.md`.)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
import re
import statistics as stats
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.records import NOW, Backtest, format_created, hex_id, iso
from pipelines.sandbox.reports import statistics, summary_statistics
from pipelines.sandbox.statistics import Performance

if TYPE_CHECKING:
    from pipelines.sandbox.account import SandboxAccount

OBJECT_STATISTICS_FROM = datetime(2025, 3, 1, tzinfo=UTC)
ANALYSIS_FROM = datetime(2025, 6, 1, tzinfo=UTC)
ISO_TIMES_FROM = datetime(2025, 8, 1, tzinfo=UTC)
GRID_SEARCH = "QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy"
NODE_TYPES = ("O2-8", "O4-12", "O8-16")
NODE_RATES = {"O2-8": 15, "O4-12": 30, "O8-16": 60}
"""QCC per node hour (the sandbox's rates)."""
MAX_GRID = 1_000
"""The most parameter sets the sandbox runs in one optimization."""
MAX_PARALLEL_NODES = 24
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
TARGET_PREFIX = "TotalPerformance.PortfolioStatistics."
# A target's value: the backtest's portfolio statistic (a fraction, as TotalPerformance has it).
_METRICS: dict[str, Callable[[Performance], float]] = {
    "SharpeRatio": lambda p: round(p.sharpe, 3),
    "CompoundingAnnualReturn": lambda p: round(p.car, 5),
    "ProbabilisticSharpeRatio": lambda p: round(p.psr, 5),
    "Drawdown": lambda p: round(p.drawdown, 3),
    "SortinoRatio": lambda p: round(p.sortino, 3),
    "TotalNetProfit": lambda p: round(p.net_profit, 5),
    "Alpha": lambda p: round(p.alpha, 3),
    "Beta": lambda p: round(p.beta, 3),
    "WinRate": lambda p: round(p.win_rate, 4),
    "LossRate": lambda p: round(p.loss_rate, 4),
    "Expectancy": lambda p: round(p.expectancy, 4),
}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "less": lambda a, b: a < b,
    "lessorequal": lambda a, b: a <= b,
    "greater": lambda a, b: a > b,
    "greaterorequal": lambda a, b: a >= b,
    "equals": lambda a, b: a == b,
    "notequal": lambda a, b: a != b,
}
"""Lean's ComparisonOperatorTypes, matched case-insensitively ("GreaterOrEqual", the docs'
"greater")."""


class OptimizationError(ValueError):
    """A request the API answers with `success: false` and this message."""


# --- Values --------------------------------------------------------------------------------------


def _json_number(value: Decimal) -> int | float:
    """A decimal as a JSON number: an integer when written without a fraction."""
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def _hms(seconds: float) -> str:
    """A duration as "HH:MM:SS" (hours past 24 written whole)."""
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}:{second:02d}"


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


# --- Parameters, criterion, constraints ----------------------------------------------------------


@dataclass(frozen=True)
class StepParameter:
    """A parameter searched from `minimum` to `maximum` by `step` (OptimizationStepParameter)."""

    name: str
    minimum: Decimal
    maximum: Decimal
    step: Decimal
    min_step: Decimal | None = None

    def values(self) -> list[str]:
        """Lean's `OptimizationStepParameterEnumerator`: `min + i * step` up to `max`."""
        count = int((self.maximum - self.minimum) // self.step) + 1
        return [str(self.minimum + index * self.step) for index in range(count)]

    def as_json(self) -> JsonDict:
        """The parameter as the API writes it."""
        written: JsonDict = {
            "name": self.name,
            "min": _json_number(self.minimum),
            "max": _json_number(self.maximum),
            "step": _json_number(self.step),
        }
        if self.min_step is not None:
            written["minStep"] = _json_number(self.min_step)
        return written


@dataclass(frozen=True)
class StaticParameter:
    """A parameter held at one value (Lean StaticOptimizationParameter)."""

    name: str
    value: str | int | float

    def values(self) -> list[str]:
        """Its one value, as a parameter set holds it."""
        return [str(self.value)]

    def as_json(self) -> JsonDict:
        """The parameter as the API writes it."""
        return {"name": self.name, "value": self.value}


Parameter = StepParameter | StaticParameter


def grid(parameters: Sequence[Parameter]) -> list[dict[str, str]]:
    """Every parameter set, in Lean's order: the first parameter varies slowest, and each set
    lists the last parameter first (`StepBaseOptimizationStrategy.Recursive` adds the outer
    names to the inner sets)."""
    if not parameters:
        return [{}]
    first, rest = parameters[0], parameters[1:]
    return [{**inner, first.name: value} for value in first.values() for inner in grid(rest)]


@dataclass(frozen=True)
class Criterion:
    """What the optimization maximizes or minimizes, and the value that ends it early."""

    target: str
    extremum: str  # "max" | "min"
    target_value: Decimal | None = None

    def as_json(self) -> JsonDict:
        """The criterion as the API writes it."""
        value = None if self.target_value is None else _json_number(self.target_value)
        return {"target": self.target, "extremum": self.extremum, "targetValue": value}

    def better(self, current: float, candidate: float) -> bool:
        """Lean's Extremum.Better."""
        return candidate > current if self.extremum == "max" else candidate < current


@dataclass(frozen=True)
class Constraint:
    """A condition every backtest must meet to count for the criterion."""

    target: str
    operator: str
    target_value: Decimal

    def as_json(self) -> JsonDict:
        """The constraint as the API writes it."""
        return {
            "target": self.target,
            "operator": self.operator,
            "targetValue": _json_number(self.target_value),
        }

    def met(self, perf: Performance) -> bool:
        """Lean's Constraint.IsMet: false when the target has no value."""
        value = metric(self.target, perf)
        compare = OPERATORS[self.operator.lower()]
        return value is not None and compare(value, float(self.target_value))


def metric(target: str, perf: Performance) -> float | None:
    """A backtest's value of a target path ("TotalPerformance.PortfolioStatistics.SharpeRatio",
    Lean's bracketed form too), or None for a path the sandbox does not know."""
    path = target.replace("['", "").replace("']", "").replace("[", "").replace("]", "")
    if not path.lower().startswith(TARGET_PREFIX.lower()):
        return None
    field = path[len(TARGET_PREFIX) :].lower()
    found = next((f for name, f in _METRICS.items() if name.lower() == field), None)
    return None if found is None else found(perf)


# --- The optimization ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Optimization:
    """One optimization and its grid. Replaced, never mutated, so readers see a snapshot."""

    optimization_id: str
    project_id: int
    number: int  # the project's nth optimization (its backtests' names)
    name: str
    status: str  # "new" | "running" | "completed" | "aborted"
    node_type: str
    parallel_nodes: int
    criterion: Criterion
    constraints: tuple[Constraint, ...]
    parameters: tuple[Parameter, ...]
    grid: tuple[dict[str, str], ...]
    created: datetime
    snapshot_id: int
    backtest_length: timedelta
    start: date  # its backtests' period (a Monday) and length
    tradeable_dates: int
    rounds: int = 0  # rounds of `parallel_nodes` backtests finished
    backtest_ids: tuple[str | None, ...] = ()  # per parameter set; None: never run
    failing: frozenset[int] = frozenset()  # parameter sets that stop on a runtime error
    out_of_sample_days: int = 0
    out_of_sample_max_end: date | None = None
    progresses_on_read: bool = False  # created through the API

    @property
    def legacy(self) -> bool:
        """Whether its backtests' statistics are served as the legacy array."""
        return self.created < OBJECT_STATISTICS_FROM

    @property
    def launched(self) -> list[tuple[int, str]]:
        """`(parameter set, backtest id)` of every backtest it has started."""
        return [(point, b) for point, b in enumerate(self.backtest_ids) if b is not None]

    def time(self, moment: datetime) -> str:
        """A moment in the optimization's time format."""
        return format_created(moment, self.created >= ISO_TIMES_FROM)

    def key(self, point: int) -> str:
        """The opaque key of a parameter set's entry in `backtests` (not the backtest id)."""
        return hex_id(self.optimization_id, "key", point)[:12]

    def backtest_name(self, point: int) -> str:
        """The swept values after a prefix: "Optimization 3 - lookback: 20, threshold: 0.5"."""
        swept = ", ".join(
            f"{p.name}: {self.grid[point][p.name]}"
            for p in self.parameters
            if isinstance(p, StepParameter)
        )
        prefix = self.name if self.progresses_on_read else f"Optimization {self.number}"
        return f"{prefix} - {swept}" if swept else prefix

    def dress(self, backtest: Backtest, point: int) -> Backtest:
        """A generated backtest as this optimization's run of a parameter set."""
        return dataclasses.replace(
            backtest,
            name=self.backtest_name(point),
            optimization_id=self.optimization_id,
            parameter_set=dict(self.grid[point]),
            start=self.start,
            tradeable_dates=self.tradeable_dates,
            snapshot_id=self.snapshot_id,
            node_name=self.node_type,
            tags=(),
            note=None,
            out_of_sample_days=self.out_of_sample_days,
            out_of_sample_max_end=self.out_of_sample_max_end,
        )


@dataclass(frozen=True)
class Run:
    """A started backtest of an optimization: its parameter set, record and performance
    (None while unfinished)."""

    point: int
    backtest: Backtest
    perf: Performance | None


def best_run(optimization: Optimization, runs: Sequence[Run]) -> Run | None:
    """The completed backtest that meets every constraint and is best for the criterion (the
    first of equals, as Lean's `Target.MoveAhead` keeps it), or None."""
    best, best_value = None, 0.0
    for run in runs:
        if run.backtest.state != "completed" or run.perf is None:
            continue
        if not all(c.met(run.perf) for c in optimization.constraints):
            continue
        value = metric(optimization.criterion.target, run.perf)
        if value is not None and (best is None or optimization.criterion.better(best_value, value)):
            best, best_value = run, value
    return best


def reached(optimization: Optimization, runs: Sequence[Run]) -> bool:
    """Whether the best value so far reaches `targetValue` (Lean's `Target.IsComplied`)."""
    goal = optimization.criterion.target_value
    best = best_run(optimization, runs)
    if goal is None or best is None or best.perf is None:
        return False
    value = metric(optimization.criterion.target, best.perf)
    assert value is not None
    return value == float(goal) or optimization.criterion.better(float(goal), value)


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


# --- Planning ------------------------------------------------------------------------------------

CORE_KINDS = ("legacy", "running", "object", "aborted")
"""What every preset has at least one of; the nth goes to project n modulo the projects."""
_MIN_BACKTESTS = {"legacy": 2, "object": 2, "extra": 2, "running": 2, "aborted": 1, "new": 0}
_DOMAINS = {  # a numeric parameter's possible minimums and steps
    "lookback": (("10", "20", "30"), ("5", "10", "20")),
    "threshold": (("0.5", "1", "1.5"), ("0.25", "0.5")),
    "universe_size": (("10", "20"), ("10", "20")),
    "stop_loss": (("0.01", "0.02"), ("0.01", "0.005", "0.02")),
}
_STATIC_VALUES = {"rebalance": ("weekly", "daily", "monthly")}
_TARGETS = (
    ("SharpeRatio", "max"),
    ("SharpeRatio", "max"),
    ("SharpeRatio", "max"),
    ("CompoundingAnnualReturn", "max"),
    ("ProbabilisticSharpeRatio", "max"),
    ("Drawdown", "min"),
)
_CONSTRAINTS = (
    ("Drawdown", "LessOrEqual", "0.4"),
    ("SharpeRatio", "GreaterOrEqual", "0"),
    ("SharpeRatio", "greater", "-0.5"),  # the docs' lowercase spelling (§1.3)
    ("ProbabilisticSharpeRatio", "GreaterOrEqual", "0.05"),
)
_CUSTOM_NAMES = ("Lookback sweep", "Grid: thresholds", "Réglage des seuils", "Stops ⚙ v2")


@dataclass(frozen=True)
class PlannedRun:
    """A planned optimization's backtest: its parameter set, state and creation moment."""

    point: int
    state: str  # "completed" | "error" | "running" | "queued"
    created: datetime


@dataclass(frozen=True)
class Plan:
    """A planned optimization (its backtest ids still unset) and the backtests it started."""

    optimization: Optimization
    runs: tuple[PlannedRun, ...]


def optimization_budget(backtests_per_project: int) -> int:
    """How many of a project's backtests may belong to optimizations (the rest are single
    backtests): enough for every planned kind in the presets, and a share of bigger sizes."""
    count = backtests_per_project
    if count < 3:
        return 0
    if count < 8:
        return count // 2
    return count - 4 if count < 12 else max(6, round(count * 0.3))


def project_kinds(project_index: int, projects: int, backtests_per_project: int) -> list[str]:
    """The kinds of optimization a project is planned to own, in priority order: accounts of
    the presets' sizes also have a new one (waiting for ever) and bigger ones extras."""
    kinds = [k for n, k in enumerate(CORE_KINDS) if n % projects == project_index]
    if backtests_per_project >= 8 and CORE_KINDS.index("object") % projects == project_index:
        kinds.append("new")
    if backtests_per_project >= 10:
        kinds += ["extra"] * 4
    return kinds


def plan_project(
    seed: int,
    size_key: str,
    project_id: int,
    kinds: Sequence[str],
    budget: int,
    created: datetime,
    names: Sequence[str],
) -> list[Plan]:
    """A project's planned optimizations (none without a budget), using at most `budget`
    backtests between them, all after the project's first month (its first backtests come
    before them)."""
    if budget == 0:
        return []
    rng = random.Random(f"{seed}:{size_key}:optimizations:{project_id}")
    plans: list[Plan] = []
    for position, kind in enumerate(kinds):
        reserve = sum(_MIN_BACKTESTS[k] for k in kinds[position + 1 :] if k != "extra")
        if budget < max(_MIN_BACKTESTS[kind], 3 if kind == "extra" else 0):
            continue
        cap = max(_MIN_BACKTESTS[kind], budget - reserve)
        number = len(plans) + 1
        identity = f"O-{hex_id(seed, size_key, project_id, 'optimization', number)}"
        plan = _plan(rng, kind, cap, identity, project_id, number, created, names)
        plans.append(plan)
        budget -= len(plan.runs)
    return sorted(plans, key=lambda p: p.optimization.created)


def _plan(
    rng: random.Random,
    kind: str,
    cap: int,
    identity: str,
    project_id: int,
    number: int,
    project_created: datetime,
    names: Sequence[str],
) -> Plan:
    earliest = project_created + timedelta(days=31)
    length = timedelta(seconds=rng.randint(60, 12 * 60))
    parallel = 1
    if kind == "running":
        parallel = 1 if cap < 7 else rng.choice([1, 2])
        size = rng.randint(min(cap, 2 * parallel + 1), min(cap, 9))
        parameters = _parameters(rng, names, size, exact=True, min_step=True)
        total = len(grid(parameters))
        rounds = rng.randint(1, max(1, (total - parallel - 1) // parallel))
        created = NOW - length * rounds - length / 2 - timedelta(seconds=20)
    elif kind == "aborted":
        parameters = _parameters(rng, names, rng.randint(3, 8), exact=False, min_step=True)
        total = len(grid(parameters))
        parallel = 1 if min(cap, total - 1) < 2 else rng.choice([1, 2])
        rounds = rng.randint(1, max(1, min(cap, total - 1) // parallel))
        created = _moment(rng, earliest, NOW - timedelta(days=3))
    elif kind == "new":
        parameters = _parameters(rng, names, rng.randint(2, 12), exact=False, min_step=True)
        total, rounds = len(grid(parameters)), 0
        parallel = rng.choice([2, 4, 6])
        created = NOW - timedelta(minutes=rng.randint(2, 20))
    else:  # completed: legacy, object or extra
        first, last = earliest, NOW - timedelta(days=3)
        if kind == "legacy":
            last = OBJECT_STATISTICS_FROM - timedelta(days=2)
        elif kind == "object":  # with an analysis
            first = max(first, ANALYSIS_FROM)
        created = _moment(rng, first, last)
        target = rng.randint(2, min(cap, 9))
        if kind == "object" and cap >= 4:  # a grid over two parameters where it can be
            target = 4
        parameters = _parameters(
            rng, names, target, exact=False, min_step=created.year >= 2024, square=kind == "object"
        )
        total = len(grid(parameters))
        parallel = rng.choice([1, 2, 3])
        rounds = math.ceil(total / parallel)
    optimization = _optimization(
        rng, kind, identity, project_id, number, created, parameters, parallel, rounds, length
    )
    return Plan(optimization, _planned_runs(optimization, kind))


def _optimization(
    rng: random.Random,
    kind: str,
    identity: str,
    project_id: int,
    number: int,
    created: datetime,
    parameters: tuple[Parameter, ...],
    parallel: int,
    rounds: int,
    length: timedelta,
) -> Optimization:
    target, extremum = rng.choice(_TARGETS)
    # Only a new one has a target value: reaching it ends an optimization (Target.Reached), and
    # planned results are not simulated in advance.
    goal = Decimal(rng.choice(["1.5", "2"])) if kind == "new" else None
    constraints = _constraints(rng, required=kind == "legacy")
    # Out of sample, its backtests end at the max end date (Lean BacktestingSetupHandler).
    out_of_sample = rng.choice([30, 60, 90]) if kind == "object" or rng.random() < 0.2 else 0
    max_end = created.date() - timedelta(days=out_of_sample) if out_of_sample else None
    end = max_end or created.date() - timedelta(days=rng.randint(1, 400))
    tradeable_dates = rng.choice([126, 252, 504, 756])
    weeks, days = divmod(tradeable_dates - 1, 5)
    start = end - timedelta(weeks=weeks, days=days)
    status = {"running": "running", "aborted": "aborted", "new": "new"}.get(kind, "completed")
    return Optimization(
        optimization_id=identity,
        project_id=project_id,
        number=number,
        name=rng.choice(_CUSTOM_NAMES) if rng.random() < 0.3 else f"Optimization {number}",
        status=status,
        node_type=rng.choice(NODE_TYPES),
        parallel_nodes=parallel,
        criterion=Criterion(TARGET_PREFIX + target, extremum, goal),
        constraints=constraints,
        parameters=parameters,
        grid=tuple(grid(parameters)),
        created=created.replace(microsecond=0),
        snapshot_id=13_000_000 + int(identity[2:8], 16) % 9_000_000,
        backtest_length=length,
        start=start - timedelta(days=start.weekday()),
        tradeable_dates=tradeable_dates,
        rounds=rounds,
        failing=_failing(rng, kind, rounds * parallel),
        out_of_sample_days=out_of_sample,
        out_of_sample_max_end=max_end,
    )


def _failing(rng: random.Random, kind: str, done: int) -> frozenset[int]:
    """The legacy one always has a backtest stopped by a runtime error (its array is short)
    when it ran three or more; others sometimes."""
    if done < 3 or (kind != "legacy" and rng.random() < 0.7):
        return frozenset()
    return frozenset({rng.randrange(done)})


def _planned_runs(optimization: Optimization, kind: str) -> tuple[PlannedRun, ...]:
    """The backtests a planned optimization started (aborted: only those that finished)."""
    launched = optimization.created + timedelta(seconds=20)
    parallel, rounds = optimization.parallel_nodes, optimization.rounds
    runs = []
    for point in range(len(optimization.grid)):
        if point < rounds * parallel:
            state = "error" if point in optimization.failing else "completed"
        elif kind == "running":
            state = "running" if point < (rounds + 1) * parallel else "queued"
        else:
            continue  # never run
        runs.append(PlannedRun(point, state, launched + timedelta(seconds=point)))
    return tuple(runs)


def _moment(rng: random.Random, first: datetime, last: datetime) -> datetime:
    if last <= first:
        return first
    return first + timedelta(seconds=rng.randint(0, int((last - first).total_seconds())))


def _parameters(
    rng: random.Random,
    names: Sequence[str],
    size: int,
    exact: bool,
    min_step: bool,
    square: bool = False,
) -> tuple[Parameter, ...]:
    """Step parameters over the project's numeric parameters whose grid has about `size` sets
    (exactly, with `exact`), sometimes with a static one; with `square`, two parameters of two
    values each when the project has two numeric ones and `size` is 4."""
    numeric = [n for n in names if n in _DOMAINS] or ["lookback"]
    rng.shuffle(numeric)
    counts = [size]
    if square and len(numeric) >= 2 and size == 4:
        counts = [2, 2]
    elif not exact and len(numeric) >= 2 and size >= 4 and rng.random() < 0.5:
        first = rng.randint(2, size // 2)
        counts = [first, size // first]
    parameters: list[Parameter] = [
        _step(rng, name, count, min_step) for name, count in zip(numeric, counts, strict=False)
    ]
    unused = [n for n in names if n in _STATIC_VALUES or n in numeric[len(counts) :]]
    if unused and rng.random() < 0.35:
        parameters.append(_static(rng, rng.choice(unused)))
    return tuple(parameters)


def _step(rng: random.Random, name: str, count: int, min_step: bool) -> StepParameter:
    minimums, steps = _DOMAINS[name]
    minimum, step = Decimal(rng.choice(minimums)), Decimal(rng.choice(steps))
    maximum = minimum + (count - 1) * step
    if rng.random() < 0.25:  # a maximum off the grid: the last value is below it
        maximum += step / 2
    return StepParameter(name, minimum, maximum, step, step if min_step else None)


def _static(rng: random.Random, name: str) -> StaticParameter:
    if name in _STATIC_VALUES:
        return StaticParameter(name, rng.choice(_STATIC_VALUES[name]))
    minimums, _ = _DOMAINS[name]
    return StaticParameter(name, _json_number(Decimal(rng.choice(minimums))))


def _constraints(rng: random.Random, required: bool) -> tuple[Constraint, ...]:
    if not required and rng.random() < 0.35:
        return ()
    chosen = rng.sample(_CONSTRAINTS, rng.choice([1, 1, 2]))
    return tuple(Constraint(TARGET_PREFIX + t, op, Decimal(v)) for t, op, v in chosen)


# --- Requests ------------------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def nested_form(params: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields with bracketed names as nested values: lean-cli posts `parameters[0][key]`,
    `constraints[0][target-value]` (lean/components/api/optimization_client.py)."""
    nested: dict[str, Any] = {}
    for key, value in params.items():
        head, bracket, _ = key.partition("[")
        if not bracket:
            nested[key] = value
            continue
        node = nested
        path = [head, *_BRACKETS.findall(key[len(head) :])]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return {key: _as_list(value) for key, value in nested.items()}


def _as_list(value: Any) -> Any:
    """`{"0": a, "1": b}` as `[a, b]`, recursively."""
    if not isinstance(value, dict):
        return value
    items = {key: _as_list(item) for key, item in value.items()}
    if items and all(str(key).isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _required(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "" or value == []:
        raise OptimizationError(f"Missing required parameter: {name}")
    return value


def _decimal(raw: Any, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise OptimizationError(f"Invalid value for {name}: {raw!r}")
    try:
        value = Decimal(repr(raw) if isinstance(raw, float) else str(raw).strip())
    except InvalidOperation:
        raise OptimizationError(f"Invalid value for {name}: {raw!r}") from None
    if not value.is_finite():
        raise OptimizationError(f"Invalid value for {name}: {raw!r}")
    return value


def _integer(raw: Any, name: str) -> int:
    value = _decimal(raw, name)
    if value != value.to_integral_value():
        raise OptimizationError(f"Invalid value for {name}: {raw!r}")
    return int(value)


def _target(raw: Any, name: str) -> str:
    """A target path as written, checked to be one the sandbox can evaluate."""
    if not isinstance(raw, str) or not raw.strip():
        raise OptimizationError(f"Missing required parameter: {name}")
    plain = raw.replace("['", "").replace("']", "").strip()
    field = plain[len(TARGET_PREFIX) :] if plain.startswith(TARGET_PREFIX) else None
    if field not in _METRICS:
        known = ", ".join(TARGET_PREFIX + m for m in _METRICS)
        raise OptimizationError(f"Invalid optimization target {raw!r}; expected one of {known}")
    return plain


def parse_parameter(raw: Any) -> Parameter:
    """One optimization parameter: a step one `{name|key, min, max, step?, minStep|min-step?}`
    or a static one `{name, value}` (Lean OptimizationParameterJsonConverter)."""
    if not isinstance(raw, Mapping):
        raise OptimizationError(f"Invalid optimization parameter: {raw!r}")
    name = raw.get("name") or raw.get("key")
    if not isinstance(name, str) or not name:
        raise OptimizationError("Optimization parameter name is not specified")
    if "min" in raw and "max" in raw:
        minimum, maximum = _decimal(raw["min"], "min"), _decimal(raw["max"], "max")
        if minimum > maximum:
            raise OptimizationError(f"{name}: min ({minimum}) must not exceed max ({maximum})")
        if raw.get("step") in (None, ""):
            raise OptimizationError(f"{name}: a grid search needs a step")
        step = _decimal(raw["step"], "step")
        min_step_raw = raw.get("minStep", raw.get("min-step"))
        min_step = None if min_step_raw in (None, "") else _decimal(min_step_raw, "minStep")
        if step <= 0 or (min_step is not None and min_step <= 0):
            raise OptimizationError(f"{name}: step and minStep must be positive")
        if min_step is not None and step < min_step:
            raise OptimizationError(f"{name}: step must not be less than minStep")
        return StepParameter(name, minimum, maximum, step, min_step)
    if "value" in raw:
        return StaticParameter(name, raw["value"])
    raise OptimizationError(f"{name}: a parameter needs min, max and step, or a value")


def parse_constraint(raw: Any) -> Constraint:
    """One constraint `{target, operator, targetValue}` (`target-value`, Lean's legacy key)."""
    if not isinstance(raw, Mapping):
        raise OptimizationError(f"Invalid optimization constraint: {raw!r}")
    target = _target(raw.get("target"), "constraints.target")
    operator = raw.get("operator")
    if not isinstance(operator, str) or operator.lower() not in OPERATORS:
        raise OptimizationError(f"Invalid constraint operator: {operator!r}")
    value = raw.get("targetValue", raw.get("target-value"))
    if value in (None, ""):
        raise OptimizationError("Constraint target value is not specified")
    return Constraint(target, operator, _decimal(value, "targetValue"))


@dataclass(frozen=True)
class Request:
    """A checked `optimizations/create` or `estimate` request."""

    project_id: int
    name: str
    criterion: Criterion
    constraints: tuple[Constraint, ...]
    parameters: tuple[Parameter, ...]
    node_type: str
    parallel_nodes: int

    @property
    def grid_size(self) -> int:
        """Its parameter sets."""
        return len(grid(self.parameters))


def parse_request(params: Mapping[str, Any], estimate: bool = False) -> Request:
    """The create fields (§1.1), as JSON or lean-cli's form; an estimate needs no
    `estimatedCost`, `nodeType` or `parallelNodes`."""
    params = nested_form(params)
    project_id = _integer(_required(params, "projectId"), "projectId")
    name = _required(params, "name")
    target = _target(_required(params, "target"), "target")
    extremum = str(_required(params, "targetTo")).lower()
    if extremum not in ("min", "max"):
        raise OptimizationError(f"Invalid value for targetTo: {extremum!r}; expected min or max")
    strategy = _required(params, "strategy")
    if strategy != GRID_SEARCH:
        raise OptimizationError(
            f"Invalid optimization strategy {strategy!r}; expected {GRID_SEARCH}"
        )
    _required(params, "compileId")
    goal_raw = params.get("targetValue")
    goal = None if goal_raw in (None, "") else _decimal(goal_raw, "targetValue")
    raw_parameters = _required(params, "parameters")
    if not isinstance(raw_parameters, list):
        raise OptimizationError("parameters must be a list")
    parameters = tuple(parse_parameter(raw) for raw in raw_parameters)
    if len({p.name for p in parameters}) != len(parameters):
        raise OptimizationError("Optimization parameters must have distinct names")
    raw_constraints = params.get("constraints") or []
    if not isinstance(raw_constraints, list):
        raise OptimizationError("constraints must be a list")
    node_type, parallel = NODE_TYPES[0], 1
    if not estimate or params.get("nodeType") is not None:
        node_type = _required(params, "nodeType")
        if node_type not in NODE_TYPES:
            raise OptimizationError(f"Invalid node type {node_type!r}; expected {NODE_TYPES}")
    if not estimate or params.get("parallelNodes") is not None:
        parallel = _integer(_required(params, "parallelNodes"), "parallelNodes")
        if not 1 <= parallel <= MAX_PARALLEL_NODES:
            raise OptimizationError(f"parallelNodes must be within 1..{MAX_PARALLEL_NODES}")
    if not estimate and _decimal(_required(params, "estimatedCost"), "estimatedCost") < 0:
        raise OptimizationError("estimatedCost must not be negative")
    request = Request(
        project_id,
        str(name),
        Criterion(target, extremum, goal),
        tuple(parse_constraint(raw) for raw in raw_constraints),
        parameters,
        node_type,
        parallel,
    )
    if request.grid_size > MAX_GRID:
        raise OptimizationError(
            f"The optimization has {request.grid_size} parameter sets; at most {MAX_GRID} run"
        )
    return request


# --- The account's optimizations -----------------------------------------------------------------


class OptimizationDesk:
    """An account's optimizations: the `optimizations/*` replies and their changes.

    Changes take the account's lock and replace records whole (optimizations here, backtests
    in the account), so readers see consistent snapshots; statistics are computed outside it.
    """

    def __init__(self, account: SandboxAccount) -> None:
        self._account = account
        self._optimizations: dict[str, Optimization] = {}
        self._by_project: dict[int, tuple[str, ...]] = {}
        self._created = 0

    # -- planning --

    def register(self, optimization: Optimization) -> None:
        """Add a planned or created optimization (under the account's lock, or while planning)."""
        self._optimizations[optimization.optimization_id] = optimization
        project = self._by_project.get(optimization.project_id, ())
        self._by_project[optimization.project_id] = (*project, optimization.optimization_id)

    # -- reads --

    def summaries(self, project_id: int) -> list[JsonDict]:
        """`optimizations/list` of a project."""
        self._project(project_id)
        found = (self._optimizations.get(o) for o in self._by_project.get(project_id, ()))
        return [summary_json(o, self._runs(o)) for o in found if o is not None]

    def read(self, optimization_id: str) -> JsonDict:
        """`optimizations/read`: one created through the API advances one step first."""
        optimization = self._get(optimization_id)
        if optimization.progresses_on_read and optimization.status in ("new", "running"):
            self._step(optimization_id)
            optimization = self._get(optimization_id)
        return read_json(optimization, self._runs(optimization))

    def all(self) -> list[Optimization]:
        """Every optimization, in the order they were planned or created."""
        return list(self._optimizations.values())

    def _project(self, project_id: int) -> None:
        if not self._account.has_project(project_id):
            raise OptimizationError(f"Project not found: {project_id}")

    def _get(self, optimization_id: str) -> Optimization:
        found = self._optimizations.get(optimization_id)
        if found is None:
            raise OptimizationError(f"Optimization not found: {optimization_id}")
        return found

    def _runs(self, optimization: Optimization, unfinished_too: bool = False) -> list[Run]:
        """Its started backtests, with the performance of the finished ones (and of the
        unfinished ones too with `unfinished_too`)."""
        runs = []
        for point, backtest_id in optimization.launched:
            backtest = self._account.record(backtest_id)
            wanted = backtest.finished or (unfinished_too and backtest.state == "running")
            perf = self._account.performance(backtest_id) if wanted else None
            runs.append(Run(point, backtest, perf))
        return runs

    # -- changes --

    def create(self, params: Mapping[str, Any]) -> JsonDict:
        """`optimizations/create`: a new optimization of the project, as its summary."""
        request = parse_request(params)
        self._project(request.project_id)
        with self._account.lock:
            sequence = self._created = self._created + 1
            number = len(self._by_project.get(request.project_id, ())) + 1
            optimization = self._new(request, sequence, number)
            self.register(optimization)
        return summary_json(optimization, [])

    def _new(self, request: Request, sequence: int, number: int) -> Optimization:
        account = self._account
        identity = f"O-{hex_id(account.seed, account.size.key, 'created', sequence)}"
        rng = random.Random(f"{account.seed}:{identity}")
        created = NOW + timedelta(minutes=5 * sequence)
        tradeable_dates = rng.choice([126, 252, 504])
        weeks, days = divmod(tradeable_dates - 1, 5)
        end = created.date() - timedelta(days=rng.randint(1, 200))
        start = end - timedelta(weeks=weeks, days=days)
        return Optimization(
            optimization_id=identity,
            project_id=request.project_id,
            number=number,
            name=request.name,
            status="new",
            node_type=request.node_type,
            parallel_nodes=request.parallel_nodes,
            criterion=request.criterion,
            constraints=request.constraints,
            parameters=request.parameters,
            grid=tuple(grid(request.parameters)),
            created=created,
            snapshot_id=13_000_000 + int(identity[2:8], 16) % 9_000_000,
            backtest_length=timedelta(seconds=rng.randint(60, 300)),
            start=start - timedelta(days=start.weekday()),
            tradeable_dates=tradeable_dates,
            backtest_ids=(None,) * request.grid_size,
            progresses_on_read=True,
        )

    def estimate(self, params: Mapping[str, Any]) -> JsonDict:
        """`optimizations/estimate`: its id, seconds and the account's QCC balance."""
        request = parse_request(params, estimate=True)
        self._project(request.project_id)
        canonical = json.dumps(dict(sorted(nested_form(params).items())), default=str)
        rounds = math.ceil(request.grid_size / request.parallel_nodes)
        return {
            "estimateId": hex_id(self._account.seed, "estimate", canonical),
            "time": rounds * 180,
            "balance": 5_000 + int(hex_id(self._account.seed, "balance")[:4], 16) % 5_000,
        }

    def abort(self, optimization_id: str) -> None:
        """A new or running optimization ends `aborted`; its unfinished backtests never run."""
        with self._account.lock:
            optimization = self._get(optimization_id)
            if optimization.status not in ("new", "running"):
                raise OptimizationError(
                    f"Optimization {optimization_id} is {optimization.status}: only a new or"
                    " running optimization can be aborted"
                )
            self._end(optimization, "aborted")

    def update(self, optimization_id: str, name: str) -> None:
        """Rename an optimization."""
        with self._account.lock:
            optimization = self._get(optimization_id)
            self._optimizations[optimization_id] = dataclasses.replace(optimization, name=name)

    def delete(self, optimization_id: str) -> None:
        """Remove an optimization (aborting it first); its finished backtests stay listed."""
        with self._account.lock:
            optimization = self._get(optimization_id)
            if optimization.status in ("new", "running"):
                self._end(optimization, "aborted")
            project = self._by_project[optimization.project_id]
            self._by_project[optimization.project_id] = tuple(
                o for o in project if o != optimization_id
            )
            del self._optimizations[optimization_id]

    def complete_running(self) -> list[str]:
        """Run every running optimization to its end (a new one waits). Returns their ids."""
        running = [o.optimization_id for o in self.all() if o.status == "running"]
        for optimization_id in running:
            while self._running(optimization_id):
                self._step(optimization_id)
        return running

    def _running(self, optimization_id: str) -> bool:
        found = self._optimizations.get(optimization_id)
        return found is not None and found.status == "running"

    def settle(self) -> None:
        """After the account finished every running backtest (under its lock): running
        optimizations whose backtests all finished are completed."""
        for optimization in self.all():
            if optimization.status != "running":
                continue
            states = [self._account.record(b).state for _, b in optimization.launched]
            if all(state in ("completed", "error") for state in states):
                rounds = math.ceil(len(states) / optimization.parallel_nodes)
                self._optimizations[optimization.optimization_id] = dataclasses.replace(
                    optimization, status="completed", rounds=rounds
                )

    def _step(self, optimization_id: str) -> None:
        """One step: a new optimization launches every backtest (the first round running, the
        rest queued); a running one finishes its running round and starts the next, or ends
        (completed, early if `targetValue` is reached)."""
        while True:
            optimization = self._get(optimization_id)
            runs: list[Run] = []
            goal = optimization.criterion.target_value
            if optimization.status == "running" and goal is not None:
                runs = self._runs(optimization, unfinished_too=True)  # outside the lock
            with self._account.lock:
                if self._optimizations.get(optimization_id) is not optimization:
                    continue  # changed meanwhile: look again
                if optimization.status == "new":
                    self._launch(optimization)
                elif optimization.status == "running":
                    self._finish_round(optimization, runs)
                return

    def _launch(self, optimization: Optimization) -> None:
        account, parallel = self._account, optimization.parallel_nodes
        launched = optimization.created + timedelta(seconds=20)
        indices = account.allocate_indices(optimization.project_id, len(optimization.grid))
        records = [
            optimization.dress(
                account.generate_backtest(
                    optimization.project_id,
                    index,
                    launched + timedelta(seconds=point),
                    "running" if point < parallel else "queued",
                ),
                point,
            )
            for point, index in enumerate(indices)
        ]
        account.append_backtests(optimization.project_id, records)
        self._optimizations[optimization.optimization_id] = dataclasses.replace(
            optimization, status="running", backtest_ids=tuple(r.backtest_id for r in records)
        )

    def _finish_round(self, optimization: Optimization, runs: Sequence[Run]) -> None:
        account = self._account
        records = [account.record(b) for _, b in optimization.launched]
        running = [r for r in records if r.state == "running"]
        account.replace_backtests(
            [dataclasses.replace(r, state="completed", progress=1.0) for r in running]
        )
        done = dataclasses.replace(optimization, rounds=optimization.rounds + 1)
        finished = {r.backtest_id for r in running}
        settled = [
            dataclasses.replace(run, backtest=account.record(run.backtest.backtest_id))
            for run in runs
            if run.backtest.finished or run.backtest.backtest_id in finished
        ]
        queued = [r for r in records if r.state == "queued"]
        if not queued or reached(done, settled):
            self._optimizations[done.optimization_id] = done
            self._end(done, "completed")
            return
        account.replace_backtests(
            [
                dataclasses.replace(r, state="running", progress=_progress(account.seed, r))
                for r in queued[: optimization.parallel_nodes]
            ]
        )
        self._optimizations[done.optimization_id] = done

    def _end(self, optimization: Optimization, status: str) -> None:
        """End an optimization (under the lock): its unfinished backtests are withdrawn."""
        account = self._account
        unfinished = {b for _, b in optimization.launched if not account.record(b).finished}
        account.withdraw_backtests(optimization.project_id, unfinished)
        ids = tuple(None if b in unfinished else b for b in optimization.backtest_ids)
        self._optimizations[optimization.optimization_id] = dataclasses.replace(
            optimization, status=status, backtest_ids=ids
        )


def _progress(seed: int, backtest: Backtest) -> float:
    """Where a backtest that just started running is shown to have got to."""
    return round(random.Random(f"{seed}:progress:{backtest.backtest_id}").uniform(0.1, 0.9), 2)
