"""An optimization (`optimizations/list`'s summary and `optimizations/read`'s object) → the
optimization tables (reference-results §1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from pipelines.flatten.records import NO_BACKTEST_ID, WRONG_LENGTH, Notes, records_to_arrow
from pipelines.schema.optimizations import (
    LEGACY_STATISTICS_LENGTH,
    OPTIMIZATION_BACKTEST_STATISTICS,
    OPTIMIZATION_BACKTESTS,
    OPTIMIZATION_CONSTRAINTS,
    OPTIMIZATION_PARAMETERS,
    OPTIMIZATION_STATISTICS,
    OPTIMIZATIONS,
)
from pipelines.schema.values import parse_float


def _mapping(raw: Any) -> Mapping[str, Any]:
    """A map the API may send as `[]` when empty (reference §2)."""
    return raw if isinstance(raw, Mapping) else {}


def _objects(raw: Any) -> list[Mapping[str, Any]]:
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def optimization_record(summary: Mapping[str, Any], read: Mapping[str, Any]) -> dict[str, Any]:
    """One record of an optimization: the read object over its list summary (which alone has
    `created`, `psr`, `sharpeRatio`, `trades` and `cloneId`). Without a `criterion`, the read's
    `optimizationTarget` and `targetValue` stand in for it."""
    record = {**summary, **read}
    if not isinstance(record.get("criterion"), Mapping):
        record["criterion"] = {
            "target": record.get("optimizationTarget"),
            "targetValue": record.get("targetValue"),
        }
    return record


def statistics_by_name(raw: Any, notes: Notes | None = None) -> tuple[dict[str, float], str | None]:
    """An optimization backtest's statistics by LEAN's names, and their format: an object keyed
    "0"…"24" plus custom names (Lean PR #8984), or the legacy positional array, of which only
    the first 21 positions are known (a length other than 21 is noted)."""
    if isinstance(raw, Mapping):
        named = {}
        for key, value in raw.items():
            index = int(key) if str(key).isdigit() else None
            in_table = index is not None and index < len(OPTIMIZATION_STATISTICS)
            named[OPTIMIZATION_STATISTICS[index] if in_table else str(key)] = parse_float(value)
        return _numbers(named), "object"
    if isinstance(raw, list):
        if len(raw) != LEGACY_STATISTICS_LENGTH and notes is not None:
            notes[WRONG_LENGTH, OPTIMIZATION_BACKTEST_STATISTICS.name] += 1
        known = zip(OPTIMIZATION_STATISTICS[:LEGACY_STATISTICS_LENGTH], raw, strict=False)
        return _numbers({name: parse_float(value) for name, value in known}), "array"
    return {}, None


def _numbers(named: dict[str, float | None]) -> dict[str, float]:
    return {name: value for name, value in named.items() if value is not None}


def optimization_to_arrow(
    project_id: int,
    summary: Mapping[str, Any],
    read: Mapping[str, Any],
    notes: Notes | None = None,
) -> dict[str, pa.Table]:
    """Every optimization table's rows of one optimization, by table name; it was just listed,
    so it is not deleted upstream (`deleted_upstream_at` NULL)."""
    record = optimization_record(summary, read)
    optimization_id = str(record.get("optimizationId"))
    parameters = _objects(record.get("parameters"))
    constraints = _objects(record.get("constraints"))
    entries = [(str(k), v) for k, v in _mapping(record.get("backtests")).items()]
    entries = [(key, entry) for key, entry in entries if isinstance(entry, Mapping)]
    keyed = [(key, entry) for key, entry in entries if entry.get("id")]
    if notes is not None and len(keyed) < len(entries):
        notes[NO_BACKTEST_ID, OPTIMIZATION_BACKTESTS.name] += len(entries) - len(keyed)
    parsed = [statistics_by_name(entry.get("statistics"), notes) for _, entry in keyed]
    statistics = [
        (str(entry["id"]), name, value)
        for (_, entry), (named, _) in zip(keyed, parsed, strict=True)
        for name, value in named.items()
    ]
    return {
        OPTIMIZATIONS.name: records_to_arrow(
            OPTIMIZATIONS,
            [record],
            {"project_id": project_id, "deleted_upstream_at": None},
            notes,
        ),
        OPTIMIZATION_PARAMETERS.name: records_to_arrow(
            OPTIMIZATION_PARAMETERS, parameters, {"optimization_id": optimization_id}, notes
        ),
        OPTIMIZATION_CONSTRAINTS.name: records_to_arrow(
            OPTIMIZATION_CONSTRAINTS,
            constraints,
            {
                "optimization_id": optimization_id,
                "ordinal": list(range(1, len(constraints) + 1)),
            },
            notes,
        ),
        OPTIMIZATION_BACKTESTS.name: records_to_arrow(
            OPTIMIZATION_BACKTESTS,
            [entry for _, entry in keyed],
            {
                "optimization_id": optimization_id,
                "entry_key": [key for key, _ in keyed],
                "statistics_format": [fmt for _, fmt in parsed],
            },
            notes,
        ),
        OPTIMIZATION_BACKTEST_STATISTICS.name: records_to_arrow(
            OPTIMIZATION_BACKTEST_STATISTICS,
            [{}] * len(statistics),
            {
                "optimization_id": optimization_id,
                "backtest_id": [row[0] for row in statistics],
                "statistic": [row[1] for row in statistics],
                "value": [row[2] for row in statistics],
            },
        ),
    }
