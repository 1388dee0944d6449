"""Optimizations' model: a grid search over a project's parameters, the criterion and
constraints it is judged by, and the backtests it runs (`Run`; the best of them, `best_run`).

An optimization (`Optimization`) runs one backtest per parameter set of its grid (Lean's
`GridSearchOptimizationStrategy`: the first parameter varies slowest, every value a C# decimal
`min + i * step` written as a string), `parallel_nodes` at a time, each taking
`backtest_length`: after `rounds` rounds the first `rounds * parallel_nodes` sets are done, the
next `parallel_nodes` running and the rest queued. Those backtests are ordinary `Backtest`
records of the account (listed by `backtests/list` with `optimizationId` and the parameter set,
with orders and statistics like any other, `Optimization.dress`); the records' states are the
truth (`Run`), and the optimization's `runtimeStatistics` count them. The backtests of one
optimization share its period, node type and snapshot id (a choice: the sources are silent).

An optimization's formats follow its creation date, a sandbox date against the fixed
`records.NOW`, never the wall clock:

- `OBJECT_STATISTICS_FROM` (2025-03-01): an optimization created from then on serves its
  backtests' `statistics` as the object keyed "0"…"24" plus custom names (Lean PR #8984,
  2025-12-22, after the sandbox's NOW; moved to a sandbox date so both formats appear), older
  ones (`legacy`) the legacy positional array; `optimization_replies` writes both.
- `ISO_TIMES_FROM` (2025-08-01, Lean PR #8919): `created` and `requested` in ISO "…Z" from
  then on, "yyyy-MM-dd HH:mm:ss" before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.records import Backtest, format_created, hex_id
from pipelines.sandbox.statistics import Performance

OBJECT_STATISTICS_FROM = datetime(2025, 3, 1, tzinfo=UTC)
ISO_TIMES_FROM = datetime(2025, 8, 1, tzinfo=UTC)
GRID_SEARCH = "QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy"
NODE_TYPES = ("O2-8", "O4-12", "O8-16")
NODE_RATES = {"O2-8": 15, "O4-12": 30, "O8-16": 60}
"""QCC per node hour (the sandbox's rates)."""
TARGET_PREFIX = "TotalPerformance.PortfolioStatistics."
# A target's value: the backtest's portfolio statistic (a fraction, as TotalPerformance has it).
METRICS: dict[str, Callable[[Performance], float]] = {
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


def json_number(value: Decimal) -> int | float:
    """A decimal as a JSON number: an integer when written without a fraction."""
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


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
            "min": json_number(self.minimum),
            "max": json_number(self.maximum),
            "step": json_number(self.step),
        }
        if self.min_step is not None:
            written["minStep"] = json_number(self.min_step)
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
        value = None if self.target_value is None else json_number(self.target_value)
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
            "targetValue": json_number(self.target_value),
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
    found = next((f for name, f in METRICS.items() if name.lower() == field), None)
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
