"""Choosing what a write-back acts on: an SQL predicate over a table or view, or ids.

The queries live in `sql/writeback.sql`; a predicate is checked to be one expression of one
SELECT before it runs, so it can read the warehouse but never change it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from pipelines.queries import named_queries
from pipelines.warehouse import DuckDBWarehouse
from pipelines.writeback.model import WriteBackError

QUERIES = "writeback.sql"


def query(name: str, where: str = "TRUE") -> str:
    """The named query of `sql/writeback.sql`, with `where` as its predicate."""
    text = named_queries(QUERIES)[name].replace("{where}", where)
    statements = duckdb.extract_statements(text)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise WriteBackError(f"the predicate must be one SQL expression, not {where!r}")
    return text


def rows(
    store: DuckDBWarehouse, name: str, where: str | None = None, parameters: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """The rows of the named query, selected by `where` (an SQL predicate) when given;
    `WriteBackError` with DuckDB's message when the predicate is not valid SQL."""
    if where is not None and not where.strip():
        raise WriteBackError("the predicate is empty")
    try:
        with store.holding() as conn:
            return conn.execute(query(name, where or "TRUE"), list(parameters)).fetchall()
    except duckdb.Error as error:
        raise WriteBackError(f"the predicate {where!r} is not valid here: {error}") from None


def unknown_ids(wanted: Sequence[Any], found: Sequence[Any]) -> None:
    """Raise `WriteBackError` naming the ids of `wanted` that the warehouse does not hold."""
    missing = [str(i) for i in dict.fromkeys(wanted) if i not in set(found)]
    if missing:
        raise WriteBackError(
            f"unknown id{'s' if len(missing) > 1 else ''} (not in the warehouse; run `qcw sync` "
            f"if it is new): {', '.join(missing)}"
        )
