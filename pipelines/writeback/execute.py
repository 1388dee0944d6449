"""Applying a plan: each write checked again, recorded as an intent, sent, then completed and
reflected in the warehouse; the first failure stops the plan."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.errors import QuantConnectError
from pipelines.warehouse import DuckDBWarehouse, Warehouse
from pipelines.writeback.audit import ALREADY_GONE, OK, complete, record_intent
from pipelines.writeback.endpoints import ENDPOINTS, is_not_found
from pipelines.writeback.model import Outcome, Plan, Skip, Write

Progress = Callable[[int, int], None]


def apply_plan(
    client: QuantConnectClient,
    store: DuckDBWarehouse,
    plan: Plan,
    origin: str,
    on_progress: Progress | None = None,
) -> Outcome:
    """Send the plan's writes in order, each recorded in `api_writes` before it is sent and
    completed, with the warehouse's reflection, after. Stops at the first failure: the rest is
    reported as not attempted, and running the same plan again finishes it."""
    outcome = Outcome(plan.action)
    recheck = plan.recheck(client, store)
    for index, planned in enumerate(plan.writes):
        write = recheck(planned) if recheck is not None else planned
        if isinstance(write, Skip):
            outcome.skipped.append(write)
        elif write is None:
            outcome.unchanged += 1
        elif not _send(client, store, write, origin, outcome):
            outcome.not_attempted = plan.writes[index + 1 :]
            break
        if on_progress is not None:
            on_progress(index + 1, len(plan.writes))
    return outcome


def _send(
    client: QuantConnectClient, store: Warehouse, write: Write, origin: str, outcome: Outcome
) -> bool:
    """Send one write between its intent and its completion; False when it failed."""
    endpoint = ENDPOINTS[write.endpoint]
    write_id = record_intent(store, write, origin)
    try:
        endpoint.send(client, write)
    except QuantConnectError as error:
        # A delete retried after a lost reply finds its item gone: the first attempt did it.
        if endpoint.deletes and is_not_found(error):
            complete(store, write_id, OK, ALREADY_GONE)
            outcome.applied.append(write)
            return True
        complete(store, write_id, error.reason)
        outcome.failed.append((write, error.reason))
        return False
    complete(store, write_id, OK)
    outcome.applied.append(write)
    return True
