"""The optimizations an account plans per project, with the backtests they started.

`plan_project` plans, in every preset, at least one completed optimization in each statistics
format (`OBJECT_STATISTICS_FROM`; the newer one with an analysis, `ANALYSIS_FROM`), an aborted
one (some backtests done, the rest never run), a running one and a new one (`[]` backtests and
runtime statistics); smaller accounts fewer, none below 3 backtests per project. Their dates
are sandbox dates against the fixed `records.NOW`, never the wall clock. Like planned
backtests, they change only through the admin endpoints (`OptimizationDesk`). ("§N" is a
section of `/work/shared/reference/quantconnect-api-results.md`.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pipelines.sandbox.optimization_model import (
    NODE_TYPES,
    OBJECT_STATISTICS_FROM,
    TARGET_PREFIX,
    Constraint,
    Criterion,
    Optimization,
    Parameter,
    StaticParameter,
    StepParameter,
    grid,
    json_number,
)
from pipelines.sandbox.optimization_replies import ANALYSIS_FROM
from pipelines.sandbox.records import NOW, hex_id

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
    return StaticParameter(name, json_number(Decimal(rng.choice(minimums))))


def _constraints(rng: random.Random, required: bool) -> tuple[Constraint, ...]:
    if not required and rng.random() < 0.35:
        return ()
    chosen = rng.sample(_CONSTRAINTS, rng.choice([1, 1, 2]))
    return tuple(Constraint(TARGET_PREFIX + t, op, Decimal(v)) for t, op, v in chosen)
