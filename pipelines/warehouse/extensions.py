"""DuckDB extensions from their PyPI wheels, never from DuckDB's extension host.

DuckDB downloads extensions from its own host, which machines without that network cannot
reach. The wheels `duckdb-extension-<name>` (the `lake` extra) carry the signed official
binaries, each for exactly one DuckDB version (pinned in pyproject.toml: a binary built for
another version refuses to load). `load_extensions` installs each from its wheel into DuckDB's
extension directory (DuckDB's documented install-from-path) and loads it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import duckdb

from pipelines.warehouse.connection import Connection

# What a DuckLake warehouse needs: the format, its PostgreSQL and SQLite catalogs, S3.
LAKE_EXTENSIONS = ("ducklake", "postgres", "sqlite", "httpfs")
# What DuckDB calls the extensions whose wheel names differ (`duckdb_extensions()`).
_INSTALLED_AS = {"postgres": "postgres_scanner", "sqlite": "sqlite_scanner"}


class MissingExtensionError(RuntimeError):
    """An extension's wheel is not installed, or was built for another DuckDB."""


def extension_file(name: str) -> Path:
    """The binary of extension `name` that its wheel carries for this DuckDB."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtensionError(
            f"DuckDB's {name} extension is not installed: pip install "
            f"'quantconnect-warehouse[lake]' (the wheel duckdb-extension-{name})"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    path = folder / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        built = ", ".join(sorted(p.name for p in folder.iterdir())) or "none"
        raise MissingExtensionError(
            f"the installed duckdb-extension-{name} was built for DuckDB {built}, not "
            f"v{duckdb.__version__}: install the versions pyproject.toml pins"
        )
    return path


def load_extensions(conn: Connection, names: Iterable[str] = LAKE_EXTENSIONS) -> None:
    """Install (once per extension directory) and load each extension, from its wheel."""
    installed = {
        row[0]
        for row in conn.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE installed"
        ).fetchall()
    }
    for name in names:
        if _INSTALLED_AS.get(name, name) not in installed:
            conn.execute(f"INSTALL '{extension_file(name)}'")
        conn.execute(f"LOAD {name}")
