"""One Dagster partition per project: the partitions the projects asset registers, and the
projects a run of per-project assets syncs."""

import dagster as dg

from assets.names import PROJECT_PARTITIONS
from pipelines.warehouse import Warehouse

BY_PROJECT = dg.DynamicPartitionsDefinition(name=PROJECT_PARTITIONS)


def register_projects(context: dg.AssetExecutionContext, store: Warehouse) -> int:
    """Add a partition for each project the warehouse lists (not deleted upstream) that has
    none yet; how many were added. A project deleted upstream keeps its partition: its rows
    stay in the warehouse."""
    listed = [str(row[0]) for row in store.read("project_ids")]
    known = set(context.instance.get_dynamic_partitions(PROJECT_PARTITIONS))
    new = [key for key in listed if key not in known]
    if new:
        context.instance.add_dynamic_partitions(PROJECT_PARTITIONS, new)
    return len(new)


def projects_of_run(context: dg.AssetExecutionContext) -> frozenset[int] | None:
    """The projects a run syncs: its partitions' (one, or a backfill's batch), or None (all)
    for a run of unpartitioned assets."""
    if not context.has_partition_key and not context.has_partition_key_range:
        return None
    return frozenset(int(key) for key in context.partition_keys)
