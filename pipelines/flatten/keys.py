"""Reading a record's keys as the schema spells them: legacy spellings renamed, and the fields
no column reads set apart for the `extra` column (reference §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache, cached_property
from typing import Any

import pyarrow as pa

from pipelines.schema.columns import Path_, Table


def _fold(key: str) -> str:
    """A key with case, `-` and `_` ignored: `OrderEventId`, `order-event-id` → `ordereventid`."""
    return key.replace("-", "").replace("_", "").lower()


@dataclass(frozen=True)
class KeyShape:
    """The known keys of a JSON object, spelled as the API spells them now: each maps to the
    shape of its own keys, or to None when its value is read whole. A `whole` shape is a value
    read whole whose known keys are still respelled (`properties`); it keeps unknown keys."""

    keys: Mapping[str, KeyShape | None]
    whole: bool = False
    object_lists: frozenset[str] = frozenset()  # keys holding a list of objects (`events`)

    @classmethod
    def of(cls, paths: Mapping[Path_, pa.DataType | None]) -> KeyShape:
        """The shape that holds every key path; a path read whole wins over its sub-paths,
        and its wire type, when a struct, gives the spelling of its keys."""
        whole = {path[0]: wire for path, wire in paths.items() if len(path) == 1}
        nested: dict[str, dict[Path_, pa.DataType | None]] = {}
        for path, wire in paths.items():
            if path[0] not in whole:
                nested.setdefault(path[0], {})[path[1:]] = wire
        return cls(
            {
                **{key: cls.of_struct(wire) for key, wire in whole.items()},
                **{key: cls.of(inner) for key, inner in nested.items()},
            }
        )

    @classmethod
    def of_struct(cls, wire: pa.DataType | None) -> KeyShape | None:
        """The `whole` shape of a value whose wire type is a struct; None for other types."""
        if not isinstance(wire, pa.StructType):
            return None
        return cls({f.name: cls.of_struct(f.type) for f in wire.fields}, whole=True)

    @cached_property
    def known(self) -> frozenset[str]:
        """The known keys."""
        return frozenset(self.keys)

    @cached_property
    def flat(self) -> bool:
        """Whether every known key's value is read whole and none holds a list of objects:
        a record with known keys only is then already as the schema spells it."""
        return not self.object_lists and all(inner is None for inner in self.keys.values())

    @cached_property
    def folded(self) -> dict[str, str]:
        """Known keys by their `_fold`ed spelling."""
        return {_fold(key): key for key in self.keys}


def conform_record(record: Any, shape: KeyShape) -> tuple[Any, dict[str, Any] | None, int]:
    """`record` with its keys spelled as `shape` spells them, the fields `shape` does not know
    (nested ones under their parent's key; None when there are none), and the keys renamed.

    Legacy PascalCase order keys and kebab-case event keys (`Symbol`, `fill-price`) are renamed
    when the current spelling is not also present (reference §6).
    """
    if not isinstance(record, Mapping):
        return record, None, 0
    conformed: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    renamed = 0
    for key, value in record.items():
        name = key
        if key not in shape.keys:
            name = shape.folded.get(_fold(key), key)
            if name == key or name in record or name in conformed:
                if shape.whole:
                    conformed[key] = value
                else:
                    extra[key] = value
                continue
            renamed += 1
        inner = shape.keys[name]
        if inner is not None and not inner.whole and not isinstance(value, Mapping | None):
            extra[key] = value  # a map was expected (`symbol` as text): kept, its columns NULL
            continue
        if name in shape.object_lists and value is not None:
            strays = (
                [v for v in value if not isinstance(v, Mapping)]
                if isinstance(value, list)
                else value
            )
            if strays:  # not a list, or items that are not objects: kept, never a NULL row
                extra[key] = strays
                value = (
                    [v for v in value if isinstance(v, Mapping)]
                    if isinstance(value, list)
                    else None
                )
        if inner is not None and isinstance(value, Mapping):
            value, inner_extra, inner_renamed = conform_record(value, inner)
            renamed += inner_renamed
            if inner_extra:
                extra[key] = inner_extra
        conformed[name] = value
    return conformed, extra or None, renamed


@cache
def key_shape(table: Table) -> KeyShape:
    """Every key of a record that some column of `table` reads, or that is read or dropped on
    purpose: the keys `conform_record` keeps; any other key goes to the `extra` column."""
    paths: dict[Path_, pa.DataType | None] = {(k,): None for k in table.read_keys}
    paths |= {c.source: c.wire for c in table.columns if c.source}
    return replace(KeyShape.of(paths), object_lists=frozenset(table.object_lists))
