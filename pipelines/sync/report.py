"""What a sync step reports: rows, counters, requests, warnings, and progress as it goes."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pipelines.flatten.records import NOTE_KINDS, Notes
from pipelines.qc.client import QuantConnectClient
from pipelines.qc.rate import RateState


@dataclass
class SyncReport:
    """What one sync step did: rows now in its tables, counters, requests and warnings."""

    row_counts: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # where the step's time went
    requests: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # The adaptive rate (`qc/rate.py`): its state when the step ended, the back-offs it decided
    # during the step, and the requests per second the step made (its requests over its time).
    rate: RateState | None = None
    backoffs: int = 0
    requests_per_second: float | None = None

    def add_notes(self, notes: Notes) -> None:
        """Count what flattening worked around, by kind, and say where in the warnings."""
        for kind in NOTE_KINDS:
            self.counters[kind] = sum(n for (k, _), n in notes.items() if k == kind)
        self.warnings.extend(
            f"{where}: {n} {NOTE_KINDS[kind]}" for (kind, where), n in notes.items()
        )


class SyncError(Exception):
    """Some backtests could not be synced; every other one was loaded."""

    def __init__(self, step: str, failures: Mapping[str, Exception], report: SyncReport) -> None:
        self.failures = dict(failures)
        self.report = report
        lines = [f"  backtest {bid}: {error}" for bid, error in sorted(self.failures.items())]
        super().__init__(
            f"{step}: {len(self.failures)} backtest(s) failed; every other one was loaded.\n"
            + "\n".join(lines)
        )


class RequestMeter:
    """Counts the client's requests, retries and rate back-offs from its creation until
    `fill`."""

    def __init__(self, client: QuantConnectClient) -> None:
        self.client = client
        self.requests_before = Counter(client.requests_made)
        self.retries_before = Counter(client.retries)
        self.backoffs_before = client.rate_state().backoffs
        self.started = time.monotonic()

    def fill(self, report: SyncReport) -> None:
        """Put the requests, retries and back-offs made since, and the rate now, into
        `report`."""
        report.requests = dict(Counter(self.client.requests_made) - self.requests_before)
        report.retries = dict(Counter(self.client.retries) - self.retries_before)
        report.rate = self.client.rate_state()
        report.backoffs = report.rate.backoffs - self.backoffs_before
        seconds = time.monotonic() - self.started
        report.requests_per_second = sum(report.requests.values()) / max(seconds, 1e-3)


@dataclass(frozen=True)
class ProgressLabels:
    """How a step's progress reads: its `bar` in `qcw sync`, the `unit` its done/total count,
    and what its `fetched` count is of (its rate is then of those, else of requests)."""

    bar: str
    unit: str
    fetched: str | None = None


@dataclass(frozen=True)
class SyncProgress:
    """How far a step is: `done` of `total` and, in a step that fetches items in bulk
    (orders), how many it has fetched so far."""

    step: str
    labels: ProgressLabels
    done: int
    total: int
    fetched: int = 0

    def rate(self, seconds: float) -> str:
        """How fast the step goes: fetched items/s, or requests/s (one per item done)."""
        seconds = max(seconds, 1e-9)
        if self.labels.fetched:
            return f"{self.fetched / seconds:,.0f} {self.labels.fetched}/s"
        return f"{self.done / seconds:,.1f} requests/s"

    def fetched_so_far(self) -> str:
        """ ", 3,921 orders" in a step that fetches items in bulk; else nothing."""
        return f", {self.fetched:,} {self.labels.fetched}" if self.labels.fetched else ""


ProgressHook = Callable[[SyncProgress], None]


class ProgressLog:
    """A progress hook for logs, where no bar can be drawn (a Dagster run's): each step's
    progress at most every `every_seconds`, and once the step is done; with the `client`,
    also its adaptive rate: the rate and permits now, and the back-offs so far."""

    def __init__(
        self,
        log: logging.Logger,
        every_seconds: float = 5.0,
        client: QuantConnectClient | None = None,
    ) -> None:
        self.log, self.every_seconds, self.client = log, every_seconds, client
        self._started: dict[str, float] = {}
        self._logged: dict[str, float] = {}

    def __call__(self, state: SyncProgress) -> None:
        now = time.monotonic()
        started = self._started.setdefault(state.step, now)
        done = state.done == state.total
        if not done and now - self._logged.get(state.step, started) < self.every_seconds:
            return
        self._logged[state.step] = now
        rate = f"; {self.client.rate_state().describe()}" if self.client is not None else ""
        self.log.info(
            "%s: %d/%d %s%s, %s%s",
            state.step,
            state.done,
            state.total,
            state.labels.unit,
            state.fetched_so_far(),
            state.rate(now - started),
            rate,
        )
