"""What the harness and the contenders share: a contender's task, its outcome, and row counts."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines.qc.client import sign
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID

ORDERS_WINDOW = 100  # orders per `backtests/orders/read` request (reference §6)

COUNTED = ("projects", "backtests", "orders", "events")
"""The row counts every loader must agree on with this pipeline before its timing counts."""


@dataclass(frozen=True)
class Task:
    """What one contender run gets: the sandbox, a fresh folder for its output, a concurrency."""

    url: str
    run_dir: Path
    concurrency: int

    def to_json(self) -> str:
        """The task as JSON, to hand to a child process."""
        return json.dumps({**asdict(self), "run_dir": str(self.run_dir)})

    @classmethod
    def from_json(cls, text: str) -> Task:
        """The task back from `to_json`."""
        raw = json.loads(text)
        return cls(raw["url"], Path(raw["run_dir"]), int(raw["concurrency"]))


@dataclass
class Outcome:
    """What one contender run reports: its timed wall time, the rows it loaded (loaders only)
    and free-form details."""

    wall_seconds: float
    counts: dict[str, int] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Stopwatch:
    """`with Stopwatch() as watch: ...`, then `watch.seconds`."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started


def signed_headers() -> dict[str, str]:
    """The sandbox's auth headers for one request, signed now like the pipeline signs them."""
    return sign(SANDBOX_USER_ID, SANDBOX_API_TOKEN, int(time.time()))


def count_rows(path: Path, tables: dict[str, str]) -> dict[str, int]:
    """Rows per counted table of a DuckDB file, `tables` mapping `COUNTED` names to its tables."""
    import duckdb  # here, so that the floors' memory does not include DuckDB

    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            name: conn.execute(f"SELECT count(*) FROM {tables[name]}").fetchone()[0]
            for name in COUNTED
        }
