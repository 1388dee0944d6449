"""The sync: API → Arrow → warehouse, one step per table group, with no Dagster import.

`STEPS` is the registry of steps, in running order: each module of `steps/` declares its
`STEP` (`step.py`), with its tables and progress labels. The Dagster assets, `qcw` and the
benchmarks all run the steps from here. Fetches run on a bounded thread pool
(`pipelines.qc.pool`); every warehouse write happens on the calling thread, so the warehouse
always has a single writer.
"""

from __future__ import annotations

import logging

from pipelines.qc.client import QuantConnectClient
from pipelines.registry import declared_in, in_dependency_order
from pipelines.sync import steps
from pipelines.sync.loading import LoadSettings
from pipelines.sync.report import ProgressHook, SyncReport
from pipelines.sync.step import Step
from pipelines.warehouse import Warehouse

_log = logging.getLogger(__name__)

STEPS: tuple[Step, ...] = tuple(
    in_dependency_order(
        declared_in(steps, "STEP"),
        name=lambda step: step.name,
        depends_on=lambda step: step.after,
    )
)
# What `sync_everything` reports after the steps: the analysis views it refreshes.
VIEWS_REPORT = "analysis_views"


def step_named(name: str) -> Step:
    """The step called `name`."""
    return next(step for step in STEPS if step.name == name)


def sync_everything(
    client: QuantConnectClient,
    store: Warehouse,
    log: logging.Logger = _log,
    on_progress: ProgressHook | None = None,
    settings: LoadSettings | None = None,
) -> dict[str, SyncReport]:
    """Run every step in order, as the `sync_quantconnect` job does, then refresh the
    analysis views; `on_progress` hears how far each step is."""
    reports = {step.name: step.run(client, store, log, on_progress, settings) for step in STEPS}
    store.create_views()
    reports[VIEWS_REPORT] = SyncReport()
    return reports
