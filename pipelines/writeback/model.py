"""What a write-back plans and what it did: `Write`, `Skip`, `Plan` and `Outcome`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.qc.client import QuantConnectClient
    from pipelines.warehouse import DuckDBWarehouse

# The `after` of a delete: the item is gone.
GONE = None


class WriteBackError(ValueError):
    """Bad input to a write-back: unknown ids, an empty tag, an invalid `--where`. Nothing was
    written."""


@dataclass(frozen=True)
class Write:
    """One write request and the change it makes upstream: `before` → `after` (a mapping of
    the fields it sets; None for a delete)."""

    endpoint: str
    label: str  # what the plan shows beside the id: the backtest's or project's name
    project_id: int | None = None
    backtest_id: str | None = None
    optimization_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None

    @property
    def subject(self) -> str:
        """The id of what is written: the optimization, the backtest, or the project."""
        return self.optimization_id or self.backtest_id or str(self.project_id)

    def with_before(self, before: Mapping[str, Any], after: Mapping[str, Any] | None) -> Write:
        """The same write, from a fresher `before`."""
        return replace(self, before=before, after=after)


@dataclass(frozen=True)
class Skip:
    """Something selected that the plan leaves alone, and why."""

    subject: str
    label: str
    reason: str


@dataclass
class Plan:
    """The writes an action would send, in order, and what it selected but leaves alone:
    `skipped` with a reason, `unchanged` already as asked (nothing to send)."""

    action: str  # "tag add", "project update", "prune optimizations"
    writes: list[Write] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unchanged: list[Skip] = field(default_factory=list)

    @property
    def selected(self) -> int:
        """How many items the selection named."""
        return len(self.writes) + len(self.skipped) + len(self.unchanged)

    def recheck(self, client: QuantConnectClient, store: DuckDBWarehouse) -> Recheck | None:
        """The last check before each write is sent (None: none is needed)."""
        return None


# The last check before a write is sent: the write to send now (from a fresher `before`), a
# `Skip` with the reason it must not be sent, or None when upstream is already as asked.
Recheck = Callable[[Write], "Write | Skip | None"]


@dataclass
class Outcome:
    """What applying a plan did: writes applied, the one that failed (a plan stops at its
    first failure), those not attempted, and those the last check before sending skipped."""

    action: str
    applied: list[Write] = field(default_factory=list)
    failed: list[tuple[Write, str]] = field(default_factory=list)
    not_attempted: list[Write] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unchanged: int = 0  # already as asked when checked again
    reconciled: list[str] = field(default_factory=list)  # interrupted writes settled first

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed
