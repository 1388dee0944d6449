"""How an asset check over the warehouse is made: a named query of `sql/checks.sql` whose one
row says how many rows fail; the check passes when none does."""

from __future__ import annotations

import dagster as dg

from assets.names import writer_pool
from pipelines.resources import WarehouseResource
from pipelines.schema.columns import Table


def warehouse_check(
    asset: str,
    name: str,
    query: str,
    description: str,
    table: Table | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetChecksDefinition:
    """A check of `asset` by the named query of `sql/checks.sql` (about `table`, if given);
    a failure has `severity`."""

    @dg.asset_check(asset=asset, name=name, description=description, pool=writer_pool())
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.writer() as store:
            row = store.check(query, table)
        failures = int(row.pop("failures"))
        metadata = {"failures": failures, **{k: _metadata(v) for k, v in row.items()}}
        return dg.AssetCheckResult(passed=failures == 0, metadata=metadata, severity=severity)

    return check


def _metadata(value: object) -> object:
    """A count as a number, anything else (examples) as JSON."""
    return value if isinstance(value, int) else dg.MetadataValue.json(value)


def unique_key_check(table: Table, name: str) -> dg.AssetChecksDefinition:
    """That `table`'s key, as its schema defines it, is unique."""
    key = ", ".join(table.key)
    description = f"({key}) is unique." if len(table.key) > 1 else f"{key} is unique."
    return warehouse_check(table.name, name, "duplicate_keys", description, table)
