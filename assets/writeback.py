"""Write-back in Dagster: a job per action, launched from the launchpad with its run config
(`apply` false by default: the run only shows its plan), and the asset `backtest_tag_rules`,
which plans the tags of `sql/tag_rules/` after each sync. Plans and outcomes are the runs'
markdown metadata; the work is `pipelines.writeback`'s."""

from typing import Literal

import dagster as dg
from pydantic import Field

from assets.metadata import table_schema
from assets.names import GROUP, api_pool
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.writeback import API_WRITES
from pipelines.writeback import PlanMaker, WriteBackRun, run_writeback
from pipelines.writeback.projects import plan_project_update
from pipelines.writeback.prune import plan_prune
from pipelines.writeback.report import (
    outcome_markdown,
    outcome_summary,
    plan_markdown,
    plan_summary,
)
from pipelines.writeback.rules import plan_tag_rules, tag_rules
from pipelines.writeback.tags import plan_tag_command


class WriteBackConfig(dg.Config):
    """Run config of a write-back job: what to do, and whether to send it."""

    apply: bool = Field(default=False, description="Send the plan's write requests; false: plan")

    def plan_maker(self) -> PlanMaker:
        """How to make this run's plan."""
        raise NotImplementedError


class TagsConfig(WriteBackConfig):
    """`qcw tag ACTION TAGS (--where P | --backtest ID...)`."""

    action: Literal["add", "remove", "set"] = Field(description="add, remove or set")
    tags: list[str] = Field(default=[], description="The tags (set with none clears them)")
    where: str | None = Field(default=None, description="An SQL predicate over backtest_summary")
    backtest_ids: list[str] = Field(default=[], description="Or the backtests' ids")

    def plan_maker(self) -> PlanMaker:
        """The plan of `qcw tag`."""
        return lambda client, store: plan_tag_command(
            client, store, self.action, self.tags, self.where, self.backtest_ids
        )


class ProjectsConfig(WriteBackConfig):
    """`qcw project update (PROJECT_ID | --where P) [--name N] [--description D]`."""

    project_id: int | None = Field(default=None, description="The project to update")
    where: str | None = Field(default=None, description="Or an SQL predicate over projects")
    name: str | None = Field(default=None, description="New name; {name} is the current one")
    description: str | None = Field(
        default=None, description="New description; {description} is the current one"
    )

    def plan_maker(self) -> PlanMaker:
        """The plan of `qcw project update`."""
        return lambda client, store: plan_project_update(
            client, store, self.project_id, self.where, self.name, self.description
        )


class PruneConfig(WriteBackConfig):
    """`qcw prune optimizations|backtests --where P`."""

    action: Literal["optimizations", "backtests"] = Field(description="What to delete upstream")
    where: str = Field(
        description="An SQL predicate over optimizations, or over backtest_summary for backtests"
    )

    def plan_maker(self) -> PlanMaker:
        """The plan of `qcw prune`."""
        return lambda client, store: plan_prune(client, store, self.action, self.where)


def writeback_metadata(run: WriteBackRun) -> dict[str, dg.MetadataValue]:
    """A run's plan and outcome as markdown."""
    outcome = run.outcome
    text = "not applied (`apply` is false, or there was nothing to do)"
    return {
        "plan": dg.MetadataValue.md(plan_markdown(run.plan)),
        "outcome": dg.MetadataValue.md(outcome_markdown(outcome) if outcome else text),
        "writes_planned": dg.MetadataValue.int(len(run.plan.writes)),
        "writes_applied": dg.MetadataValue.int(len(outcome.applied) if outcome else 0),
        "interrupted_writes_settled": dg.MetadataValue.int(len(run.reconciled)),
    }


def run_for_dagster(
    context: dg.OpExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
    make_plan: PlanMaker,
    apply: bool,
) -> WriteBackRun:
    """Run a write-back with the run id as its origin; a failed write fails the run."""
    with quantconnect.client() as client:
        run = run_writeback(client, warehouse.writer, make_plan, context.run_id, apply)
    if run.outcome is not None and not run.outcome.ok:
        raise dg.Failure(description=outcome_summary(run.outcome), metadata=writeback_metadata(run))
    return run


def writeback_job(
    name: str, op_name: str, config_class: type[WriteBackConfig], description: str
) -> dg.JobDefinition:
    """A job of one op that runs the write-back its run config describes."""

    @dg.op(name=op_name, pool=api_pool(), out=dg.Out(str), description=description)
    def write_back(
        context: dg.OpExecutionContext,
        config: config_class,  # type: ignore[valid-type]
        quantconnect: QuantConnectResource,
        warehouse: WarehouseResource,
    ) -> dg.Output[str]:
        run = run_for_dagster(context, quantconnect, warehouse, config.plan_maker(), config.apply)
        summary = outcome_summary(run.outcome) if run.outcome else plan_summary(run.plan)
        return dg.Output(summary, metadata=writeback_metadata(run))

    @dg.job(name=name, description=description)
    def job() -> None:
        write_back()

    return job


WRITEBACK_JOBS = [
    writeback_job(
        "apply_backtest_tags",
        "tag_backtests",
        TagsConfig,
        "Add, remove or set the tags of the chosen backtests, read-modify-write.",
    ),
    writeback_job(
        "update_projects",
        "update_project_fields",
        ProjectsConfig,
        "Set the name and/or description of the chosen projects.",
    ),
    writeback_job(
        "prune_archived",
        "prune_upstream",
        PruneConfig,
        "Delete upstream the chosen optimizations or backtests that the warehouse holds whole.",
    ),
]


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=api_pool(),
    deps=["analysis_views"],
    # The audit table every write-back fills: its columns, described, on this asset's page.
    metadata={"api_writes_columns": table_schema(API_WRITES)},
)
def backtest_tag_rules(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The tags that the rules of `sql/tag_rules/<tag>.sql` (each a query of the backtest ids
    that should carry `<tag>`) add and remove, planned after each sync. Sent only when the
    resource's `apply_tag_rules` is on (off by default); only the tags the rule files name are
    ever touched."""
    apply = quantconnect.apply_tag_rules
    with quantconnect.client() as client:
        run = run_writeback(
            client,
            warehouse.writer,
            lambda _, store: plan_tag_rules(store),
            context.run.run_id,
            apply,
        )
    return dg.MaterializeResult(
        metadata={
            "rules": ", ".join(tag_rules()) or "(none)",
            "apply_tag_rules": apply,
            **writeback_metadata(run),
        }
    )
