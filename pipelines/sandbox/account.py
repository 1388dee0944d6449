"""The sandbox's account: its size, its projects and backtests, and the API replies they make.

Everything derives from `(seed, identity)` through `random.Random` (string seeds hash with
SHA-512, so they are stable across processes) and a fixed `NOW`, never the wall clock: the same
seed gives byte-identical API responses in any process. A backtest's orders are generated only
when asked for, and their serialized JSON sits in a bounded LRU cache (its results, the closed
trades and performance `backtests/read` serves, in another, each encoded once), so even the
`large` size (about a million orders) never has to be in memory at once; a `backtests/read`
reply is serialized once per backtest state into an LRU cache of its own. `SandboxAccount.warm`
instead generates every backtest's orders and results up front and keeps them all, for
benchmarks that must not measure the generator.

Each backtest is a simulation (`orders.Simulation`: its market, orders, fills and portfolio);
its statistics are computed from it (`statistics`) and formatted (`reports`), its closed trades
(`trades`) and performance encoded (`results`); project and backtest records live in
`records`. This module ties them together. Backtest ids derive from
the seed and the account's size, and a backtest's data from its id and the seed alone.
Optimizations (`optimizations`, `SandboxAccount.optimizations`) own some of each project's
backtests: one per parameter set of their grids. The write endpoints (`update_tags`,
`update_project`, `delete_backtest`) check their requests in `writes`. Shapes follow
`/work/shared/reference/quantconnect-api.md` (cited below as "ref §N").
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import random
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import msgspec

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.optimization_plans import optimization_budget, plan_project, project_kinds
from pipelines.sandbox.optimizations import OptimizationDesk
from pipelines.sandbox.orders import Simulation
from pipelines.sandbox.records import (
    LEGACY_PROJECT,
    NOW,
    PARAMETER_NAMES,
    Backtest,
    format_created,
    hex_id,
    new_backtest,
    project_json,
    runtime_error,
)
from pipelines.sandbox.reports import runtime_statistics, statistics, summary_statistics
from pipelines.sandbox.results import Results, encode_results
from pipelines.sandbox.statistics import Performance, performance
from pipelines.sandbox.wire import encode, to_2024_dialect
from pipelines.sandbox.writes import ProjectChanges, clean_tags, updated_project

ORDER_CACHE_BACKTESTS = 48
"""How many backtests' serialized orders the LRU cache keeps (about 1.5 MB per 1,000 orders),
and as many backtests' encoded results (their trades once, each window's statistics)."""
READ_CACHE_BACKTESTS = 8
"""How many `backtests/read` replies the LRU cache keeps whole (each rolling window repeats its
trades: 5.5 MB each on the `medium` preset, at most 17 MB)."""


@dataclass(frozen=True)
class SandboxSize:
    """How much data the sandbox account holds."""

    projects: int = 4
    backtests_per_project: int = 8
    orders_per_backtest: int = 150

    def __post_init__(self) -> None:
        if min(self.projects, self.backtests_per_project, self.orders_per_backtest) < 0:
            raise ValueError("sandbox sizes must not be negative")

    @property
    def key(self) -> str:
        """What backtest ids derive from besides the seed: `projects x backtests x orders`."""
        return f"{self.projects}x{self.backtests_per_project}x{self.orders_per_backtest}"

    @property
    def approximate_orders(self) -> int:
        """The expected order count of the whole account (per-backtest counts vary 0.3x-1.7x)."""
        return self.projects * self.backtests_per_project * self.orders_per_backtest


SIZES: dict[str, SandboxSize] = {
    "demo": SandboxSize(4, 8, 150),
    "small": SandboxSize(5, 10, 200),
    "medium": SandboxSize(10, 20, 1_000),
    "large": SandboxSize(20, 50, 1_000),
}
"""Named presets: demo ~4.8k orders, small ~10k, medium ~200k, large ~1M."""


class Generated(NamedTuple):
    """What simulating a backtest gives."""

    orders: tuple[bytes, ...]  # compact JSON, in the backtest's dialect
    performance: Performance
    results: Results  # closed trades, totalPerformance and rollingWindow, encoded


def simulate(backtest: Backtest, seed: int) -> Generated:
    """A backtest's orders, performance and results."""
    simulation = Simulation(backtest, seed).run()
    dialect = to_2024_dialect if backtest.pascal_orders else None
    blobs = tuple(encode(dialect(o) if dialect else o) for o in simulation.orders)
    perf = performance(simulation)
    return Generated(blobs, perf, encode_results(simulation, perf))


def _random_moment(rng: random.Random, first: datetime, last: datetime) -> datetime:
    return first + timedelta(seconds=rng.randint(0, int((last - first).total_seconds())))


class SandboxAccount:
    """A QuantConnect account's projects, backtests and orders, generated from a seed.

    Mutations (`complete_running`, `add_backtests`, the write endpoints', the optimizations')
    are thread-safe; reads see consistent snapshots because backtest records are immutable,
    and records and project objects are replaced whole. A deleted backtest's record stays
    (its optimization still serves it), but `_deleted` hides it from every backtest endpoint.
    """

    def __init__(self, size: SandboxSize = SandboxSize(), seed: int = 7) -> None:
        self.size = size
        self.seed = seed
        self.organization_id = hex_id(seed, "organization")
        # backtests/read writes the organization as a number (real_backtests_read_2023-09).
        self.organization_number = 90_000 + int(self.organization_id[:6], 16) % 9_000
        self._lock = threading.Lock()
        self._projects: dict[int, JsonDict] = {}
        self._project_backtests: dict[int, tuple[str, ...]] = {}
        self._backtests: dict[str, Backtest] = {}
        self._deleted: set[str] = set()  # backtests/delete: records kept, never served
        self._project_updates = 0  # dates each projects/update after NOW
        self._order_json = functools.lru_cache(maxsize=ORDER_CACHE_BACKTESTS)(self._serialize)
        self._kept_orders: dict[str, tuple[bytes, ...]] = {}  # filled by `warm`, never evicted
        self._performance: dict[str, Performance] = {}
        self._results: OrderedDict[str, Results] = OrderedDict()  # the newest generated
        self._kept_results: dict[str, Results] = {}  # filled by `warm`, never evicted
        self._cache_lock = threading.Lock()
        self._reads: OrderedDict[str, tuple[Backtest, bytes]] = OrderedDict()  # the newest read
        self._next_index: dict[int, int] = {}  # per project: the next backtest's index
        self.optimizations = OptimizationDesk(self)
        for index in range(self.size.projects):
            self._add_project(index)

    # -- reads --

    def projects(self) -> list[JsonDict]:
        """Every project object, as `projects/read` serves them."""
        return [dict(project) for project in self._projects.values()]

    def backtests(self, project_id: int, include_statistics: bool = False) -> list[JsonDict]:
        """The `backtests/list` summaries of a project; KeyError for an unknown project."""
        return [
            self._summary(self._backtests[b], include_statistics)
            for b in self._project_backtests[project_id]
        ]

    def backtest(self, project_id: int, backtest_id: str) -> JsonDict:
        """The `backtests/read` object; KeyError when the project has no such backtest."""
        return json.loads(self.read_reply(project_id, backtest_id))["backtest"]

    def read_reply(self, project_id: int, backtest_id: str) -> bytes:
        """The whole `backtests/read` reply, serialized once per backtest record (records are
        replaced whole when they change) into a bounded LRU cache; KeyError when the project
        has no such backtest."""
        backtest = self._record(project_id, backtest_id)
        with self._cache_lock:
            cached = self._reads.get(backtest_id)
            if cached is not None and cached[0] is backtest:
                self._reads.move_to_end(backtest_id)
                return cached[1]
        reply = self._encode_read(backtest)
        with self._cache_lock:
            self._reads[backtest_id] = (backtest, reply)
            self._reads.move_to_end(backtest_id)
            while len(self._reads) > READ_CACHE_BACKTESTS:
                self._reads.popitem(last=False)
        return reply

    def trade_page(self, backtest_id: str, start: int, end: int) -> tuple[list[bytes], int]:
        """Serialized closed trades `[start, end)` of a finished backtest, each with its
        orders (`backtests/trades/read`), and the total; none while unfinished."""
        if not self._backtests[backtest_id].finished:
            return [], 0
        encoded = self.results(backtest_id)
        orders = self._kept_orders.get(backtest_id)
        orders = self._order_json(backtest_id) if orders is None else orders
        page = [
            trade[:-1] + b',"orders":[' + b",".join(orders[i - 1] for i in ids) + b"]}"
            for trade, ids in zip(
                encoded.trades[start:end], encoded.order_ids[start:end], strict=True
            )
        ]
        return page, len(encoded.trades)

    def orders(self, backtest_id: str) -> list[JsonDict]:
        """Every order the API serves for a backtest now (a running one: its orders so far)."""
        page, _ = self.order_page(backtest_id, 0, self.total_orders(backtest_id))
        return [json.loads(blob) for blob in page]

    def total_orders(self, backtest_id: str) -> int:
        """The number of orders served now, across all pages (`length` of orders/read)."""
        return self._backtests[backtest_id].served_orders

    def order_page(self, backtest_id: str, start: int, end: int) -> tuple[list[bytes], int]:
        """Serialized orders `[start, end)` of what is served now, and the served total."""
        served = self._backtests[backtest_id].served_orders
        if start >= served:
            return [], served
        kept = self._kept_orders.get(backtest_id)
        blobs = kept if kept is not None else self._order_json(backtest_id)
        return list(blobs[start : min(end, served)]), served

    def project_of(self, backtest_id: str) -> int:
        """The project a backtest belongs to; KeyError for an unknown or deleted backtest."""
        if backtest_id in self._deleted:
            raise KeyError(backtest_id)
        return self._backtests[backtest_id].project_id

    # -- warming --

    def warm(self, processes: int = 1) -> int:
        """Generate every backtest's orders now, on `processes` processes, and keep them all.

        Pages are then served from memory from the first request on (about 1.7 kB per order),
        instead of being generated on first request into the bounded LRU cache. Call it before
        serving. Returns the number of orders kept.
        """
        pending = [b for b in self._backtests.values() if b.backtest_id not in self._kept_orders]
        seeds = itertools.repeat(self.seed)
        with ProcessPoolExecutor(max(1, processes)) as pool:
            generated = pool.map(simulate, pending, seeds, chunksize=4)
            for backtest, (blobs, perf, encoded) in zip(pending, generated, strict=True):
                self._kept_orders[backtest.backtest_id] = blobs
                self._performance[backtest.backtest_id] = perf
                self._kept_results[backtest.backtest_id] = encoded
        return sum(len(blobs) for blobs in self._kept_orders.values())

    # -- mutations --

    def complete_running(self) -> list[str]:
        """Finish every listed running or queued backtest: all orders, final statistics; the
        running optimizations they belong to complete. Returns the backtests' ids. Deleted
        ones finish too, unlisted and unreported, so their optimizations still complete."""
        with self._lock:
            listed = [self._backtests[b] for ids in self._project_backtests.values() for b in ids]
            deleted = [self._backtests[b] for b in sorted(self._deleted)]
            done = [b for b in listed + deleted if b.state in ("running", "queued")]
            for backtest in done:
                self._backtests[backtest.backtest_id] = dataclasses.replace(
                    backtest, state="completed", progress=1.0
                )
            self.optimizations.settle()
        return [b.backtest_id for b in done if b.backtest_id not in self._deleted]

    def add_backtests(self, project_id: int | None = None, count: int = 1) -> list[str]:
        """Add `count` completed backtests to a project (default: the first one). Returns ids."""
        with self._lock:
            if project_id is None:
                project_id = next(iter(self._projects))
            existing = self._project_backtests[project_id]
            latest = max((self._backtests[b].created for b in existing), default=NOW)
            indices = self.allocate_indices(project_id, count)
            added = [
                self._new_backtest(
                    project_id, index, latest + timedelta(minutes=7 * (n + 1)), "completed"
                )
                for n, index in enumerate(indices)
            ]
            for backtest in added:
                self._backtests[backtest.backtest_id] = backtest
            self._project_backtests[project_id] = existing + tuple(b.backtest_id for b in added)
        return [b.backtest_id for b in added]

    def update_tags(self, project_id: int, backtest_id: str, tags: object) -> None:
        """`backtests/tags/update`: the backtest's tags become `tags` (checked by
        `writes.clean_tags`, WriteError); KeyError when the project has no such backtest."""
        cleaned = clean_tags(tags)
        with self._lock:
            backtest = self._record(project_id, backtest_id)
            self._backtests[backtest_id] = dataclasses.replace(backtest, tags=cleaned)

    def update_project(self, changes: ProjectChanges) -> None:
        """`projects/update`: change a project's name or description and move its `modified`
        forward; KeyError for an unknown project, WriteError for a name in use."""
        with self._lock:
            project = self._projects[changes.project_id]
            others = [p["name"] for i, p in self._projects.items() if i != changes.project_id]
            moment = NOW + timedelta(minutes=self._project_updates + 1)
            self._projects[changes.project_id] = updated_project(project, changes, others, moment)
            self._project_updates += 1

    def delete_backtest(self, project_id: int, backtest_id: str) -> None:
        """`backtests/delete`: the backtest is no longer listed or served; KeyError when the
        project has no such backtest (a deleted one included)."""
        with self._lock:
            self._record(project_id, backtest_id)
            self._deleted.add(backtest_id)
            listed = self._project_backtests[project_id]
            self._project_backtests[project_id] = tuple(b for b in listed if b != backtest_id)

    # -- generation --

    def _add_project(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:project:{index}")
        project_id = 21_374_102 + index * 104_729 + rng.randint(0, 99_999)
        # The first and third projects are old enough to hold backtests from before the 2024-03
        # key renames (and, the third, orders in the 2024 dialect).
        oldest, newest = (
            (2022, 9, 1),
            (2023, 3, 1) if index in (0, LEGACY_PROJECT) else (2025, 6, 1),
        )
        created = _random_moment(rng, datetime(*oldest, tzinfo=UTC), datetime(*newest, tzinfo=UTC))
        language = rng.choice(["Py", "Py", "C#"])
        names = tuple(rng.sample(PARAMETER_NAMES, rng.randint(1, 3)))
        self._projects[project_id] = project_json(
            rng, self.organization_id, project_id, index, created, language, names
        )
        self._project_backtests[project_id] = self._plan_backtests(
            rng, project_id, index, created, names
        )

    def _plan_backtests(
        self,
        rng: random.Random,
        project_id: int,
        project_index: int,
        created: datetime,
        names: tuple[str, ...],
    ) -> tuple[str, ...]:
        """The backtests of the project's planned optimizations, and single ones: mostly
        completed, the newest running, sometimes one queued or one runtime error. The first two
        come within a month of the project's creation, before any optimization."""
        size = self.size
        kinds = project_kinds(project_index, size.projects, size.backtests_per_project)
        budget = optimization_budget(size.backtests_per_project)
        plans = plan_project(self.seed, size.key, project_id, kinds, budget, created, names)
        count = size.backtests_per_project - sum(len(plan.runs) for plan in plans)
        states = ["completed"] * count
        if count >= 3:
            states[-1] = "running"
            if rng.random() < 0.35:
                states[-2:] = ["running", "queued"]
        if count >= 4 and (project_index == 1 or rng.random() < 0.3):
            states[rng.randint(2, count - 3) if count >= 5 else 2] = "error"
        first, month = created + timedelta(days=1), created + timedelta(days=30)
        last = NOW - timedelta(days=2)
        moments = sorted(
            [_random_moment(rng, first, month) for _ in range(min(2, count))]
            + [_random_moment(rng, first, last) for _ in range(count - 2)]
        )
        slots: list[tuple[datetime, str, int, int]] = []  # moment, state, plan, parameter set
        for index, state in enumerate(states):
            moment = moments[index]
            if state in ("running", "queued"):  # started minutes ago, the queued one last
                moment = NOW - timedelta(minutes=10 * (count - index) + 5)
            slots.append((moment, state, -1, 0))
        for number, plan in enumerate(plans):
            slots += [(run.created, run.state, number, run.point) for run in plan.runs]
        started: list[dict[int, str]] = [{} for _ in plans]
        ids = []
        for index, (moment, state, number, point) in enumerate(sorted(slots, key=lambda s: s[0])):
            backtest = self._new_backtest(project_id, index, moment, state, project_index)
            if number >= 0:
                backtest = plans[number].optimization.dress(backtest, point)
                started[number][point] = backtest.backtest_id
            self._backtests[backtest.backtest_id] = backtest
            ids.append(backtest.backtest_id)
        for plan, runs in zip(plans, started, strict=True):
            points = range(len(plan.optimization.grid))
            ids_by_point = tuple(runs.get(point) for point in points)
            self.optimizations.register(
                dataclasses.replace(plan.optimization, backtest_ids=ids_by_point)
            )
        self._next_index[project_id] = len(ids)
        return tuple(ids)

    def _new_backtest(
        self,
        project_id: int,
        index: int,
        created: datetime,
        state: str,
        project_index: int | None = None,
    ) -> Backtest:
        """`new_backtest` with this account's seed and size, in the project's language."""
        language = self._projects[project_id]["language"]
        return new_backtest(
            self.seed,
            self.size.key,
            self.size.orders_per_backtest,
            project_id,
            index,
            created,
            state,
            language,
            project_index,
        )

    # -- the optimizations' hooks (the changing ones under `lock`) --

    @property
    def lock(self) -> threading.Lock:
        """The lock every change of the account holds."""
        return self._lock

    def has_project(self, project_id: int) -> bool:
        """Whether the account has the project."""
        return project_id in self._projects

    def record(self, backtest_id: str) -> Backtest:
        """A backtest's current record; KeyError for an unknown id."""
        return self._backtests[backtest_id]

    def generate_backtest(
        self, project_id: int, index: int, created: datetime, state: str
    ) -> Backtest:
        """A new backtest of a project, not yet stored (its index from `allocate_indices`)."""
        return self._new_backtest(project_id, index, created, state)

    def allocate_indices(self, project_id: int, count: int) -> range:
        """Indices (so ids) for `count` new backtests of a project, never used before."""
        first = self._next_index[project_id]
        self._next_index[project_id] = first + count
        return range(first, first + count)

    def append_backtests(self, project_id: int, backtests: list[Backtest]) -> None:
        """Store new backtests and list them last in their project."""
        for backtest in backtests:
            self._backtests[backtest.backtest_id] = backtest
        added = tuple(b.backtest_id for b in backtests)
        self._project_backtests[project_id] = self._project_backtests[project_id] + added

    def replace_backtests(self, backtests: list[Backtest]) -> None:
        """Store new states of existing backtests."""
        for backtest in backtests:
            self._backtests[backtest.backtest_id] = backtest

    def withdraw_backtests(self, project_id: int, backtest_ids: set[str]) -> None:
        """Stop listing backtests that will never run (an aborted optimization's); their
        records stay, so a read by id still answers."""
        listed = self._project_backtests[project_id]
        self._project_backtests[project_id] = tuple(b for b in listed if b not in backtest_ids)

    # -- serving --

    def _record(self, project_id: int, backtest_id: str) -> Backtest:
        """A served backtest of the project; KeyError for an unknown, deleted or other
        project's backtest."""
        backtest = self._backtests[backtest_id]
        if backtest.project_id != project_id or backtest_id in self._deleted:
            raise KeyError(backtest_id)
        return backtest

    def _summary(self, backtest: Backtest, include_statistics: bool) -> JsonDict:
        """A `backtests/list` entry (ref §4)."""
        summary: JsonDict = {
            "backtestId": backtest.backtest_id,
            "status": backtest.status,
            "name": backtest.name,
            "created": format_created(backtest.created, backtest.iso_created),
            "progress": backtest.progress,
            "optimizationId": backtest.optimization_id,
            "tradeableDates": backtest.tradeable_dates,
            "parameterSet": backtest.parameter_set or [],  # empty map as [] (ref §2)
            "snapshotId": backtest.snapshot_id,
            "error": None,
            "stacktrace": None,
            "tags": list(backtest.tags),
        }
        if backtest.state == "error":
            summary["error"], summary["stacktrace"] = runtime_error(self.seed, backtest)
        if include_statistics:
            summary.update(summary_statistics(backtest, self.performance(backtest.backtest_id)))
        return summary

    def _encode_read(self, backtest: Backtest) -> bytes:
        """The `backtests/read` reply of a backtest record."""
        reply = {
            "backtest": self._read(backtest),
            "debugging": False,
            "success": True,
            "errors": [],
        }
        return msgspec.json.encode(reply)

    def _read(self, backtest: Backtest) -> JsonDict:
        """A `backtests/read` object (ref §4); unfinished backtests have `[]` statistics. Its
        `totalPerformance` and `rollingWindow` are encoded already (`msgspec.Raw`)."""
        perf = None if backtest.state == "queued" else self.performance(backtest.backtest_id)
        encoded = self.results(backtest.backtest_id) if backtest.finished else None
        error, stacktrace = (
            runtime_error(self.seed, backtest) if backtest.state == "error" else (None, None)
        )
        charts = [
            "Strategy Equity",
            "Drawdown",
            "Benchmark",
            "Capacity",
            "Portfolio Turnover",
            "Exposure",
            "Assets Sales Volume",
        ]
        if backtest.state == "running":
            charts = charts[:3]
        elif backtest.state == "queued":
            charts = []
        rng = random.Random(f"{self.seed}:read:{backtest.backtest_id}")
        read: JsonDict = {
            "note": backtest.note,
            "name": backtest.name,
            "organizationId": self.organization_number,
            "projectId": backtest.project_id,
            "completed": backtest.finished,
            "optimizationId": backtest.optimization_id,
            "backtestId": backtest.backtest_id,
            "tradeableDates": backtest.tradeable_dates,
            "researchGuide": {
                "minutes": rng.randint(5, 900),
                "backtestCount": rng.randint(1, 60),
                "parameters": len(backtest.parameter_set),
            },
            "backtestStart": f"{backtest.start.isoformat()} 00:00:00",
            "backtestEnd": f"{backtest.end.isoformat()} 23:59:59",
            "created": format_created(backtest.created, backtest.iso_created),
            "snapshotId": backtest.snapshot_id,
            "status": backtest.status,
            "error": error,
            "stacktrace": stacktrace,
            "progress": backtest.progress,
            "hasInitializeError": False,
            "charts": {name: {"name": name} for name in charts} or [],
            "parameterSet": backtest.parameter_set or [],
        }
        if not backtest.pascal_orders:  # the real 2023-09 reply has no rollingWindow
            # Null until finished (real_backtests_create_2024-03).
            read["rollingWindow"] = msgspec.Raw(encoded.rolling_window()) if encoded else None
        return read | {
            # A queued backtest has neither (null, real_backtests_create_2024-03); a running one
            # has runtime statistics and `[]` statistics (ref §4).
            "runtimeStatistics": None if perf is None else runtime_statistics(backtest, perf),
            "statistics": (
                None if perf is None else statistics(backtest, perf) if backtest.finished else []
            ),
            "totalPerformance": msgspec.Raw(encoded.total_performance()) if encoded else None,
            "nodeName": backtest.node_name,
            "outOfSampleMaxEndDate": (
                None
                if backtest.out_of_sample_max_end is None
                else f"{backtest.out_of_sample_max_end.isoformat()} 00:00:00"
            ),
            "outOfSampleDays": backtest.out_of_sample_days,
        }

    def performance(self, backtest_id: str) -> Performance:
        """A backtest's performance: its statistics' numbers and daily marks."""
        if backtest_id not in self._performance:
            self._order_json(backtest_id)
        return self._performance[backtest_id]

    def simulation(self, backtest_id: str) -> Simulation:
        """A backtest's simulation, run afresh (its market, orders and portfolio)."""
        return Simulation(self._backtests[backtest_id], self.seed).run()

    def results(self, backtest_id: str) -> Results:
        """A backtest's encoded closed trades, totalPerformance and rolling windows."""
        kept = self._kept_results.get(backtest_id)
        if kept is not None:
            return kept
        with self._cache_lock:
            encoded = self._results.get(backtest_id)
            if encoded is not None:
                self._results.move_to_end(backtest_id)
                return encoded
        return self._generate(backtest_id).results  # evicted: generated again

    def _serialize(self, backtest_id: str) -> tuple[bytes, ...]:
        return self._generate(backtest_id).orders

    def _generate(self, backtest_id: str) -> Generated:
        """Simulate a backtest; keep its performance, and its results in their bounded cache."""
        generated = simulate(self._backtests[backtest_id], self.seed)
        self._performance[backtest_id] = generated.performance
        with self._cache_lock:
            self._results[backtest_id] = generated.results
            while len(self._results) > ORDER_CACHE_BACKTESTS:
                self._results.popitem(last=False)
        return generated
