"""The layout's rules, read from the imports of every module: the core has no Dagster, the API
side never touches storage, each layer imports only the layers below it, and the registries
find every table group's tables and steps."""

import ast
from pathlib import Path

import pytest

from pipelines.registry import in_dependency_order
from pipelines.schema import TABLES
from pipelines.sync import STEPS
from pipelines.warehouse import view_names
from tests.helpers import REPO_ROOT
from tests.helpers import TABLES as HELPER_TABLES

PIPELINES = REPO_ROOT / "pipelines"
CORE = ("qc", "schema", "flatten", "sync", "warehouse", "writeback", "plots")
# What each core package may import, of the project and of the heavy libraries.
MAY_NOT_IMPORT = {
    "qc": ("pipelines.schema", "pipelines.flatten", "pipelines.sync", "pipelines.warehouse"),
    "schema": ("pipelines.qc", "pipelines.flatten", "pipelines.sync", "pipelines.warehouse"),
    "flatten": ("pipelines.qc", "pipelines.sync", "pipelines.warehouse"),
    "warehouse": ("pipelines.qc", "pipelines.flatten", "pipelines.sync"),
    "sync": (),
    "writeback": ("pipelines.flatten", "pipelines.sync"),
    "plots": ("pipelines.qc", "pipelines.flatten", "pipelines.sync", "pipelines.writeback"),
}
STORAGE = ("duckdb", "pyarrow", "filelock")


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, as written."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((PIPELINES / package).rglob("*.py"))


@pytest.mark.parametrize("package", CORE)
def test_the_core_never_imports_dagster_nor_a_layer_above_it(package: str):
    for path in modules(package):
        for name in imports_of(path):
            assert not name.startswith("dagster"), (path, name)
            assert not name.startswith(MAY_NOT_IMPORT[package]), (path, name)


def test_the_api_side_never_imports_storage_or_arrow():
    for path in modules("qc"):
        assert not {n.split(".")[0] for n in imports_of(path)} & set(STORAGE), path


def test_only_the_warehouse_begins_commits_or_rolls_back():
    for path in [p for p in PIPELINES.rglob("*.py") if "warehouse" not in p.parts]:
        text = path.read_text()
        for statement in ("BEGIN", "COMMIT", "ROLLBACK"):
            assert f'"{statement}' not in text, (path, statement)


def test_the_registries_hold_every_group_in_dependency_order():
    tables = [t.name for t in TABLES]
    assert set(tables) == {*HELPER_TABLES, "backtest_rolling_statistics", "api_writes"}
    assert all(
        tables.index(t.parent) < tables.index(t.name) for t in TABLES if t.parent
    )  # parents first
    steps = [step.name for step in STEPS]
    assert steps == [
        "projects",
        "symbol_properties",
        "backtests",
        "optimizations",
        "backtest_statistics",
        "orders",
    ]
    loaded = [t for step in STEPS for t in step.tables]
    # each by exactly one step; `api_writes` is the write-back's audit, not a step's
    assert sorted(t.name for t in loaded) == sorted(set(tables) - {"api_writes"})
    views = view_names()
    assert sorted(views) == sorted(p.stem for p in (REPO_ROOT / "sql" / "views").glob("*.sql"))
    for view, reads in [
        ("backtest_summary", "fills"),
        ("optimization_archive", "backtest_archive"),
    ]:
        assert views.index(reads) < views.index(view)


def test_dependency_order_is_by_depth_then_as_given_and_refuses_cycles_and_unknowns():
    def order(graph: dict[str, list[str]]) -> list[str]:
        return in_dependency_order(list(graph), str, graph.__getitem__)

    assert order({"c": ["a"], "b": ["a"], "a": [], "d": ["c"]}) == ["a", "c", "b", "d"]
    with pytest.raises(ValueError, match="cycle"):
        order({"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="not declared"):
        order({"a": ["z"]})
