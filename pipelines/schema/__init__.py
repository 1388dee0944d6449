"""The warehouse schema: the one home of every table, column and enum map.

The column model is in `columns.py`, value parsers in `values.py`, enums in `enums.py`. Each
table group has a module of its own that declares `TABLES` (`projects.py`, `backtests.py`,
`orders.py`); `TABLES` here holds them all, each after its parent. `ddl.py` renders the DDL
from them (`python -m pipelines.schema` writes `sql/tables.sql`).
"""

from __future__ import annotations

import sys

from pipelines.registry import declared_in, in_dependency_order
from pipelines.schema.columns import Table

TABLES: tuple[Table, ...] = tuple(
    in_dependency_order(
        [table for group in declared_in(sys.modules[__name__], "TABLES") for table in group],
        name=lambda table: table.name,
        depends_on=lambda table: [table.parent] if table.parent else [],
    )
)
