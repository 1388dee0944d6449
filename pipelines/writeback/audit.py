"""`api_writes`: every write request recorded as an intent before it is sent and completed
after, with the warehouse's reflection of the write in the same transaction; and intents left
open by an interrupted run, settled by reading upstream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipelines.qc.client import QuantConnectClient
from pipelines.schema.writeback import API_WRITES
from pipelines.warehouse import Warehouse
from pipelines.writeback.endpoints import ENDPOINTS, same_state
from pipelines.writeback.model import Write

OK = "ok"
# The statements that make the warehouse reflect completed writes (sql/load/writeback.sql).
REFLECTIONS = (
    "reflect_backtest_tags",
    "reflect_project_updates",
    "reflect_deleted_optimizations",
    "reflect_deleted_backtests",
)
RECONCILED = "reconciled from upstream after an interrupted run"
ALREADY_GONE = "already deleted upstream"
NOT_APPLIED = "not applied: upstream still shows the state before the write"
CHANGED_ELSEWHERE = "not applied: upstream shows neither the state before nor the one asked for"

_OUTCOMES = pa.schema(
    [
        ("write_id", pa.string()),
        ("outcome", pa.string()),
        ("completed_at", pa.timestamp("us", tz="UTC")),
        ("detail", pa.string()),
    ]
)


def record_intent(store: Warehouse, write: Write, origin: str) -> str:
    """Record that `write` is about to be sent (committed before the request); its id."""
    write_id = uuid.uuid4().hex
    row = {
        "write_id": write_id,
        "sent_at": datetime.now(UTC),
        "endpoint": write.endpoint,
        "project_id": write.project_id,
        "backtest_id": write.backtest_id,
        "optimization_id": write.optimization_id,
        "change": json.dumps({"before": write.before, "after": write.after}, ensure_ascii=False),
        "outcome": None,
        "origin": origin,
        "completed_at": None,
        "detail": None,
    }
    store.write(
        "insert_api_writes", staged_writes=pa.Table.from_pylist([row], API_WRITES.arrow_schema)
    )
    return write_id


def complete(store: Warehouse, write_id: str, outcome: str, detail: str | None = None) -> None:
    """Record a write's outcome and, when it is `ok`, reflect it in the warehouse: all in one
    transaction."""
    row = {"write_id": write_id, "outcome": outcome, "completed_at": datetime.now(UTC)}
    staged = pa.Table.from_pylist([row | {"detail": detail}], _OUTCOMES)
    store.write("complete_api_writes", *REFLECTIONS, staged_outcomes=staged)


def pending_writes(store: Warehouse) -> list[tuple[str, Write]]:
    """Intents with no outcome, as (write id, write)."""
    pending = []
    for write_id, endpoint, project_id, backtest_id, optimization_id, change, _ in store.read(
        "pending_api_writes"
    ):
        states: Mapping[str, Any] = json.loads(change)
        write = Write(
            endpoint,
            "",
            project_id,
            backtest_id,
            optimization_id,
            states.get("before"),
            states.get("after"),
        )
        pending.append((write_id, write))
    return pending


def reconcile(client: QuantConnectClient, store: Warehouse) -> list[str]:
    """Settle every intent an interrupted run left open, by reading its subject upstream: the
    state asked for means it landed (`ok`, reflected in the warehouse), the state before means
    it did not. Returns one line per intent settled."""
    settled = []
    for write_id, write in pending_writes(store):
        endpoint = ENDPOINTS[write.endpoint]
        found = endpoint.observe(client, write)
        if same_state(found, write.after):
            outcome = OK
        elif found is not None and (endpoint.deletes or same_state(found, write.before)):
            outcome = NOT_APPLIED
        else:
            outcome = CHANGED_ELSEWHERE
        complete(store, write_id, outcome, RECONCILED)
        settled.append(f"{write.endpoint} {write.subject}: {outcome}")
    return settled
