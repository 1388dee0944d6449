"""A sync step: one table group's load, declared once with its tables and progress labels.

Each module of `pipelines/sync/steps/` declares its `STEP`; `pipelines.sync.STEPS` holds them
all in running order, and the CLI, the assets, the demo, the reports and the row counts read
it from there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pipelines.qc.client import QuantConnectClient
from pipelines.schema.columns import Table
from pipelines.sync.loading import LoadSettings
from pipelines.sync.report import ProgressHook, ProgressLabels, SyncProgress, SyncReport
from pipelines.warehouse import Warehouse, WarehouseError

_log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class StepRun:
    """One run of a step: the API client (None for a step that makes no request), the
    warehouse, where to log and tell progress, and how to load."""

    step: Step
    client: QuantConnectClient | None
    store: Warehouse
    log: logging.Logger = _log
    on_progress: ProgressHook | None = None
    settings: LoadSettings = field(default_factory=LoadSettings)
    projects: frozenset[int] | None = None  # only these projects (a partition's); None: all

    def of_projects(self, rows: Iterable[R]) -> list[R]:
        """The rows (each a project id, or a row that starts with one) of the projects this
        run syncs."""
        if self.projects is None:
            return list(rows)
        return [row for row in rows if _project_of(row) in self.projects]

    @property
    def api(self) -> QuantConnectClient:
        """The API client, for a step that makes requests."""
        if self.client is None:
            raise RuntimeError(f"the {self.step.name} step makes API requests: give it a client")
        return self.client

    def tell(self, done: int, total: int, fetched: int = 0) -> None:
        """Tell the progress hook how far the step is."""
        if self.on_progress is not None and self.step.progress is not None:
            self.on_progress(SyncProgress(self.step.name, self.step.progress, done, total, fetched))


def _project_of(row: Any) -> int:
    return row if isinstance(row, int) else row[0]


@dataclass(frozen=True)
class Step:
    """A sync step: its `name` (the asset's, and `qcw status`'s), the `tables` it loads, the
    steps that must run before it, its progress labels (None: it reports no progress), and the
    function that does it."""

    name: str
    tables: tuple[Table, ...]
    sync: Callable[[StepRun], SyncReport]
    after: tuple[str, ...] = ()
    progress: ProgressLabels | None = None
    per_project: bool = False  # it can sync some projects only (a Dagster partition's)

    def run(
        self,
        client: QuantConnectClient | None,
        store: Warehouse,
        log: logging.Logger = _log,
        on_progress: ProgressHook | None = None,
        settings: LoadSettings | None = None,
        projects: frozenset[int] | None = None,
    ) -> SyncReport:
        """Run the step (for the `projects` given, else all), and record the run and its
        outcome in the warehouse (`qcw status`)."""
        started = datetime.now(UTC)
        run = StepRun(self, client, store, log, on_progress, settings or LoadSettings(), projects)
        try:
            report = self.sync(run)
        except Exception as error:
            with contextlib.suppress(WarehouseError):  # never hide the error itself
                store.record_sync_run(self.name, started, "failed", str(error))
            raise
        store.record_sync_run(self.name, started, "succeeded")
        return report
