"""`qcw tag`, `qcw project` and `qcw prune`: write-back commands that print their plan first
and send nothing without `--apply` (pipelines/writeback/, docs/writeback.md)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from pipelines import warehouse
from pipelines.cli.options import api_options, clear_errors, err, warehouse_options
from pipelines.qc.client import ClientSettings
from pipelines.qc.credentials import find_credentials
from pipelines.writeback import PlanMaker, WriteBackRun, run_writeback
from pipelines.writeback.execute import Progress as ProgressHook
from pipelines.writeback.model import Outcome, Plan
from pipelines.writeback.projects import plan_project_update
from pipelines.writeback.prune import TARGETS, plan_prune
from pipelines.writeback.report import (
    SKIP_HEADERS,
    WRITE_HEADERS,
    outcome_summary,
    plan_summary,
    skip_rows,
    write_rows,
)
from pipelines.writeback.tags import TAG_ACTIONS, plan_tag_command

out = Console()
# Settings, not the command's meaning: left out of `api_writes.origin`.
_NOT_IN_ORIGIN = {
    "warehouse_path",
    "catalog",
    "data_path",
    "api_url",
    "concurrency",
    "requests_per_second",
    "yes",
}


def _apply_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--apply`, `--yes`, the warehouse and the API options."""
    command = api_options(command)
    command = warehouse_options(command)
    command = click.option(
        "--yes", "-y", is_flag=True, help="With --apply: do not ask for confirmation."
    )(command)
    return click.option(
        "--apply", is_flag=True, help="Send the plan's write requests; without it, only show it."
    )(command)


def run_command(
    make_plan: PlanMaker,
    apply: bool,
    yes: bool,
    target: warehouse.Target,
    settings: ClientSettings,
) -> None:
    """Plan, show the plan, and with `--apply` (confirmed in a terminal unless `--yes`) apply
    it and show what was applied; exit 1 when a write failed."""
    origin = command_line(click.get_current_context())
    with clear_errors():
        credentials = find_credentials()
        with settings.client(credentials) as client, _progress() as on_progress:
            run = run_writeback(
                client,
                lambda: warehouse.open_writer(target, on_wait=err.print),
                make_plan,
                origin,
                apply,
                review=lambda plan, reconciled: _review(plan, reconciled, apply, yes),
                on_progress=on_progress,
            )
    _finish(run, apply)


def command_line(context: click.Context) -> str:
    """The command as typed, for `api_writes.origin`: `qcw tag add x --where '...' --apply`,
    without the warehouse and API settings."""
    words = ["qcw", *context.command_path.split()[1:]]
    for param in context.command.params:
        value = context.params.get(param.name or "")
        if param.name in _NOT_IN_ORIGIN or value in (None, False, ()):
            continue
        values = [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
        if isinstance(param, click.Argument):
            words += values
        elif value is True:
            words.append(param.opts[0])
        else:
            words += [w for v in values for w in (param.opts[0], v)]
    return shlex.join(words)


def _review(plan: Plan, reconciled: list[str], apply: bool, yes: bool) -> bool:
    """Print the plan; whether to go ahead (asked in a terminal unless `--yes`)."""
    for line in reconciled:
        err.print(f"settled an interrupted write: {line}")
    print_plan(plan)
    if not apply or not plan.writes:
        return False
    if yes or not sys.stdin.isatty():
        return True
    count = len(plan.writes)
    return click.confirm(f"Send {count} write request{'s' if count > 1 else ''}?", err=True)


def print_plan(plan: Plan) -> None:
    """The plan's writes (before → after) and what it skips, and why."""
    if plan.writes:
        out.print(_table(f"Plan: {plan.action}", WRITE_HEADERS, write_rows(plan.writes)))
    if plan.skipped:
        out.print(_table("Skipped", SKIP_HEADERS, skip_rows(plan.skipped)))
    out.print(plan_summary(plan))


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """Ids whole on one line; other cells folded, never cut."""
    columns = [Column(headers[0], no_wrap=True)]
    columns += [Column(header, overflow="fold") for header in headers[1:]]
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    return table


def print_outcome(outcome: Outcome) -> None:
    """What was applied, what was skipped when checked again, and how many failed or were not
    attempted (the failure itself is the command's error message)."""
    for skip in outcome.skipped:
        err.print(f"[yellow]skipped[/] {skip.subject} ({skip.label}): {skip.reason}")
    out.print(outcome_summary(outcome))


def _finish(run: WriteBackRun, apply: bool) -> None:
    if run.outcome is None:
        if run.plan.writes:
            out.print(
                "Nothing was written." + ("" if apply else " Add --apply to send these requests.")
            )
        return
    print_outcome(run.outcome)
    if not run.outcome.ok:
        write, error = run.outcome.failed[0]
        raise click.ClickException(f"{write.endpoint} {write.subject}: {error}")


@contextmanager
def _progress() -> Iterator[ProgressHook]:
    """A progress bar of the writes sent, started when the first is done (not while the plan
    is shown and confirmed), and stopped when the block ends."""
    columns = (TextColumn("writes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=err, transient=True)
    task = None

    def on_progress(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            progress.start()
            task = progress.add_task("writes", total=total)
        progress.update(task, completed=done)

    try:
        yield on_progress
    finally:
        progress.stop()


@click.group()
def tag() -> None:
    """Tag backtests: add, remove or set tags (read-modify-write; other tags are kept)."""


def _tag_command(action: str, summary: str) -> None:
    @tag.command(action, help=summary)
    @click.argument("tags", nargs=-1, required=action != "set")
    @click.option("--where", help="An SQL predicate over backtest_summary.")
    @click.option("--backtest", "backtest_ids", multiple=True, help="A backtest id (repeatable).")
    @_apply_options
    def command(
        tags: tuple[str, ...],
        where: str | None,
        backtest_ids: tuple[str, ...],
        **options: Any,
    ) -> None:
        run_command(
            lambda client, store: plan_tag_command(
                client, store, action, tags, where, backtest_ids
            ),
            **options,
        )


for _action, _summary in zip(
    TAG_ACTIONS,
    (
        "Add TAGS to the chosen backtests (--where or --backtest), keeping their other tags.",
        "Remove TAGS from the chosen backtests, keeping their other tags.",
        "Set the chosen backtests' tags to exactly TAGS (none: clear them).",
    ),
    strict=True,
):
    _tag_command(_action, _summary)


@click.group()
def project() -> None:
    """Update projects' names and descriptions (a partial update)."""


@project.command("update")
@click.argument("project_id", type=int, required=False)
@click.option("--where", help="An SQL predicate over projects, to update many at once.")
@click.option("--name", help="The new name; {name} is the current one: 'Archive/{name}'.")
@click.option("--description", help="The new description; {description} is the current one.")
@_apply_options
def project_update(
    project_id: int | None,
    where: str | None,
    name: str | None,
    description: str | None,
    **options: Any,
) -> None:
    """Set the name and/or description of PROJECT_ID, or of every project --where chooses."""
    run_command(
        lambda client, store: plan_project_update(
            client, store, project_id, where, name, description
        ),
        **options,
    )


@click.group()
def prune() -> None:
    """Delete upstream what the warehouse holds whole; the warehouse keeps every row."""


def _prune_command(kind: str, relation: str) -> None:
    @prune.command(kind, help=f"Delete the chosen {kind} upstream, if fully archived.")
    @click.option("--where", required=True, help=f"An SQL predicate over {relation}.")
    @_apply_options
    def command(where: str, **options: Any) -> None:
        run_command(lambda client, store: plan_prune(client, store, kind, where), **options)


for _kind, _relation in zip(TARGETS, ("optimizations", "backtest_summary"), strict=True):
    _prune_command(_kind, _relation)
