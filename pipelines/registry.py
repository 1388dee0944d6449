"""Registries found, not listed: each table group, sync step and view declares itself in its
own module or file, and the lists that hold them all are built here, in dependency order.

So adding a table group touches only its own files (docs/architecture.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection, Iterable, Sequence
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


def declared_in(package: ModuleType, attribute: str) -> list[Any]:
    """The value of `attribute` in each public module of `package` that defines it, by module
    name (`__main__` and `_private` modules are not imported)."""
    found = []
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        if hasattr(module, attribute):
            found.append(getattr(module, attribute))
    return found


def in_dependency_order(
    items: Sequence[T], name: Callable[[T], str], depends_on: Callable[[T], Iterable[str]]
) -> list[T]:
    """`items` with each after the ones it depends on (by name): by depth in the dependency
    graph, then in the given order. Raises `ValueError` on an unknown name or a cycle."""
    by_name = {name(item): item for item in items}
    depths: dict[str, int] = {}

    def depth(item_name: str, seen: Collection[str]) -> int:
        if item_name in seen:
            raise ValueError(f"a dependency cycle through {item_name!r}")
        if item_name not in by_name:
            raise ValueError(f"{item_name!r} is depended on but not declared")
        if item_name not in depths:
            needs = depends_on(by_name[item_name])
            depths[item_name] = max((depth(n, {*seen, item_name}) + 1 for n in needs), default=0)
        return depths[item_name]

    order = {item_name: index for index, item_name in enumerate(by_name)}
    return sorted(items, key=lambda item: (depth(name(item), ()), order[name(item)]))
