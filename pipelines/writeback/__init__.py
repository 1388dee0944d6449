"""Write-back: tag backtests, update projects and prune what the warehouse has archived,
through the API's write endpoints, safely. No Dagster import; `qcw` and the Dagster jobs call
`run_writeback` with a plan maker of `tags`, `projects`, `prune` or `rules`.

The safety rules (docs/writeback.md):
- a plan is shown first, and nothing is written unless asked (`apply`);
- tags are read-modify-write from a fresh `backtests/list`, and an unchanged list is not sent;
- nothing is deleted upstream unless the warehouse holds it whole, checked again just before;
- every request is an intent in `api_writes` before it is sent and completed after, with the
  warehouse's change in the same transaction; intents left by a crash are settled first;
- the first failure stops the plan, and running it again finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from pipelines.qc.client import QuantConnectClient
from pipelines.warehouse import DuckDBWarehouse
from pipelines.writeback.audit import reconcile
from pipelines.writeback.execute import Progress, apply_plan
from pipelines.writeback.model import Outcome, Plan, Skip, Write, WriteBackError

PlanMaker = Callable[[QuantConnectClient, DuckDBWarehouse], Plan]
OpenWriter = Callable[[], AbstractContextManager[DuckDBWarehouse]]


@dataclass
class WriteBackRun:
    """What a write-back run did: intents it settled first, its plan, and, when applied, the
    outcome (None: not applied)."""

    reconciled: list[str]
    plan: Plan
    outcome: Outcome | None = None


def run_writeback(
    client: QuantConnectClient,
    open_writer: OpenWriter,
    make_plan: PlanMaker,
    origin: str,
    apply: bool,
    review: Callable[[Plan, list[str]], bool] = lambda plan, reconciled: True,
    on_progress: Progress | None = None,
) -> WriteBackRun:
    """Settle interrupted writes, make the plan and show it to `review` (with the writes
    settled), and, with `apply` and when `review` agrees, apply it. The warehouse is held, by
    its writer lock, while planning and while applying, not while `review` asks the user."""
    with open_writer() as store:
        store.create_views()  # the selections read them; cheap, and current with the code
        reconciled = reconcile(client, store)
        plan = make_plan(client, store)
    run = WriteBackRun(reconciled, plan)
    if review(plan, reconciled) and apply and plan.writes:
        with open_writer() as store:
            run.outcome = apply_plan(client, store, plan, origin, on_progress)
            run.outcome.reconciled = reconciled
    return run


__all__ = [
    "Outcome",
    "Plan",
    "PlanMaker",
    "Skip",
    "Write",
    "WriteBackError",
    "WriteBackRun",
    "run_writeback",
]
