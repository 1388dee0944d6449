"""Plans and outcomes as rows and as markdown: what `qcw` prints and Dagster shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.writeback.model import Outcome, Plan, Skip, Write

WRITE_HEADERS = ("id", "name", "before", "after")
SKIP_HEADERS = ("id", "name", "skipped because")


def describe(state: Mapping[str, Any] | None) -> str:
    """A before or after state in a few words: tags listed, fields named, or deleted."""
    if state is None:
        return "deleted"
    if "tags" in state:
        return ", ".join(state["tags"]) or "(no tags)"
    if "exists" in state:
        return "exists"
    return "; ".join(f"{key}: {value!r}" for key, value in state.items())


def write_rows(writes: Sequence[Write]) -> list[tuple[str, ...]]:
    """One row per write: id, name, before, after."""
    return [(w.subject, w.label, describe(w.before), describe(w.after)) for w in writes]


def skip_rows(skips: Sequence[Skip]) -> list[tuple[str, ...]]:
    """One row per item left alone: id, name, why."""
    return [(s.subject, s.label, s.reason) for s in skips]


def plan_summary(plan: Plan) -> str:
    """One line: how many writes the plan makes of how many items chosen."""
    if not plan.selected:
        return f"{plan.action}: nothing to do (the selection is empty)"
    if not plan.writes:
        return (
            f"{plan.action}: nothing to do ({len(plan.unchanged)} already as asked, "
            f"{len(plan.skipped)} skipped)"
        )
    return (
        f"{plan.action}: {len(plan.writes)} write request(s) for {plan.selected} chosen "
        f"({len(plan.unchanged)} already as asked, {len(plan.skipped)} skipped)"
    )


def outcome_summary(outcome: Outcome) -> str:
    """One line: what was applied, what failed and what was not attempted."""
    parts = [f"{len(outcome.applied)} applied"]
    if outcome.failed:
        parts.append(f"{len(outcome.failed)} failed")
    if outcome.not_attempted:
        parts.append(f"{len(outcome.not_attempted)} not attempted (run the command again)")
    if outcome.skipped:
        parts.append(f"{len(outcome.skipped)} skipped when checked again")
    if outcome.unchanged:
        parts.append(f"{outcome.unchanged} already as asked when checked again")
    return f"{outcome.action}: " + ", ".join(parts)


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
        "",
    ]


def plan_markdown(plan: Plan) -> str:
    """The plan: its summary, its writes, and what it skips and why."""
    lines = [f"**{plan_summary(plan)}**", ""]
    if plan.writes:
        lines += _markdown_table(WRITE_HEADERS, write_rows(plan.writes))
    if plan.skipped:
        lines += ["**Skipped**", "", *_markdown_table(SKIP_HEADERS, skip_rows(plan.skipped))]
    return "\n".join(lines)


def outcome_markdown(outcome: Outcome) -> str:
    """The outcome: its summary, then what failed and what was skipped at the last check."""
    lines = [f"**{outcome_summary(outcome)}**", ""]
    if outcome.reconciled:
        lines += ["Settled first, from an interrupted run:", ""]
        lines += [f"- {line}" for line in outcome.reconciled] + [""]
    if outcome.applied:
        lines += ["**Applied**", "", *_markdown_table(WRITE_HEADERS, write_rows(outcome.applied))]
    if outcome.failed:
        failed = [(w.subject, w.label, error) for w, error in outcome.failed]
        lines += ["**Failed**", "", *_markdown_table(("id", "name", "error"), failed)]
    if outcome.not_attempted:
        rows = write_rows(outcome.not_attempted)
        lines += ["**Not attempted**", "", *_markdown_table(WRITE_HEADERS, rows)]
    if outcome.skipped:
        lines += ["**Skipped**", "", *_markdown_table(SKIP_HEADERS, skip_rows(outcome.skipped))]
    return "\n".join(lines)
