"""The SQL of `sql/`: where it lives (in the repository, beside the packages), and the named
statements of its files.

A file holds statements that each start with a `-- name: <name>` line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
# The analysis views, one per file.
VIEWS_DIR = SQL_DIR / "views"


@cache
def named_queries(file_name: str) -> dict[str, str]:
    """The statements of a `sql/` file (a path below `sql/`), keyed by their `-- name:` line."""
    text = (SQL_DIR / file_name).read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def load_statements() -> dict[str, str]:
    """Every named statement of `sql/load/`, the table groups' writes; names are unique."""
    statements: dict[str, str] = {}
    for path in sorted((SQL_DIR / "load").glob("*.sql")):
        for name, body in named_queries(f"load/{path.name}").items():
            if name in statements:
                raise ValueError(f"sql/load/: the statement {name!r} is named twice")
            statements[name] = body
    return statements


_WRITTEN = re.compile(r"\b(?:INSERT INTO|DELETE FROM|UPDATE)\s+(\w+)", re.IGNORECASE)


def tables_written(statements: Iterable[str]) -> list[str]:
    """The tables the statements insert into, delete from or update, in order of mention."""
    return list(dict.fromkeys(m for text in statements for m in _WRITTEN.findall(text)))
