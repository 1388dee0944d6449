"""`backtests/read`'s `totalPerformance` and `rollingWindow`, and closed trades → the
performance tables (reference-results §2.1-2.2).

The 2023 API sent `totalPerformance` in PascalCase with decimals as strings
(`real_backtests_read_2023-09`); today's sends camelCase numbers. Both read the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from pipelines.flatten.records import NOT_A_SECTION, UNREADABLE_WINDOWS, Notes, records_to_arrow
from pipelines.schema.performance import (
    BACKTEST_PERFORMANCE,
    BACKTEST_ROLLING_STATISTICS,
    CLOSED_TRADES,
    PERFORMANCE_SOURCES,
    TRADES_KEY,
)
from pipelines.schema.values import parse_float, parse_timespan, to_json_text

_WINDOW_KEY = re.compile(r"M(?P<months>\d+)_(?P<end>\d{8})")
_OTHER = "other"


def camel(name: str) -> str:
    """A PascalCase key in today's camelCase: `AverageMAE` → `averageMAE`."""
    return name[:1].lower() + name[1:]


def member(record: Mapping[str, Any], name: str) -> Any:
    """`record[name]`, or its PascalCase spelling's value (the 2023 replies)."""
    value = record.get(name)
    return record.get(name[:1].upper() + name[1:]) if value is None else value


def closed_trades(backtest: Mapping[str, Any]) -> list[Any] | None:
    """The `totalPerformance.closedTrades` of a `backtests/read` object; None when missing."""
    performance = member(backtest, "totalPerformance")
    trades = member(performance, TRADES_KEY) if isinstance(performance, Mapping) else None
    return trades if isinstance(trades, list) else None


def expected_trades(backtest: Mapping[str, Any]) -> int | None:
    """`tradeStatistics.totalNumberOfTrades`, the number of closed trades, when sent."""
    performance = member(backtest, "totalPerformance")
    if not isinstance(performance, Mapping):
        return None
    statistics = member(performance, "tradeStatistics")
    if not isinstance(statistics, Mapping):
        return None
    count = parse_float(member(statistics, "totalNumberOfTrades"))
    return int(count) if count is not None else None


def _value(raw: Any) -> tuple[float | None, str | None, timedelta | None]:
    """(value, value_text, value_interval) of one statistic as sent: a number (or a number
    as text) is a value; a TimeSpan is text and an interval; anything else is text."""
    if raw is None:
        return None, None, None
    if isinstance(raw, bool):
        return float(raw), None, None
    if isinstance(raw, int | float):
        return (float(raw), None, None) if math.isfinite(raw) else (None, str(raw), None)
    if isinstance(raw, str):
        number = parse_float(raw)
        if number is not None and not any(c.isalpha() and c not in "eE" for c in raw):
            return number, None, None
        return None, raw, parse_timespan(raw)
    return None, to_json_text(raw), None


def statistic_rows(performance: Any, notes: Notes | None = None) -> list[tuple[Any, ...]]:
    """(source, statistic, value, value_text, value_interval) of every statistic of an
    AlgorithmPerformance, its closed trades left out. A section nobody knows yet is kept under
    its own name; a field that is not a section, under source "other"."""
    rows: list[tuple[Any, ...]] = []
    if not isinstance(performance, Mapping):
        return rows
    for key, section in performance.items():
        name = camel(key)
        if name == TRADES_KEY:
            continue
        if not isinstance(section, Mapping):
            rows.append((_OTHER, name, *_value(section)))
            if notes is not None:
                notes[NOT_A_SECTION, BACKTEST_PERFORMANCE.name] += 1
            continue
        source = PERFORMANCE_SOURCES.get(name, name.removesuffix("Statistics"))
        rows += [(source, camel(stat), *_value(raw)) for stat, raw in section.items()]
    return rows


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    names = ("source", "statistic", "value", "value_text", "value_interval")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def performance_to_arrow(
    project_id: int, backtest_id: str, backtest: Mapping[str, Any], notes: Notes | None = None
) -> pa.Table:
    """The `backtest_performance` rows of one `backtests/read` object."""
    rows = statistic_rows(member(backtest, "totalPerformance"), notes)
    return records_to_arrow(
        BACKTEST_PERFORMANCE,
        [{}] * len(rows),
        {"project_id": project_id, "backtest_id": backtest_id, **_columns(rows)},
    )


def window_of(key: str) -> tuple[int, date] | None:
    """(months, period end) of a `rollingWindow` key such as `M3_20231231`; None otherwise."""
    match = _WINDOW_KEY.fullmatch(key)
    if match is None:
        return None
    end = match["end"]
    try:
        return int(match["months"]), date(int(end[:4]), int(end[4:6]), int(end[6:]))
    except ValueError:
        return None


def rolling_to_arrow(
    project_id: int, backtest_id: str, backtest: Mapping[str, Any], notes: Notes | None = None
) -> pa.Table:
    """The `backtest_rolling_statistics` rows of one `backtests/read` object; the windows'
    own closed trades are not stored again."""
    windows = member(backtest, "rollingWindow")
    rows: list[tuple[Any, ...]] = []
    for key, performance in windows.items() if isinstance(windows, Mapping) else []:
        window = window_of(str(key))
        if window is None:
            if notes is not None:
                notes[UNREADABLE_WINDOWS, BACKTEST_ROLLING_STATISTICS.name] += 1
            continue
        rows += [(*window, *row) for row in statistic_rows(performance)]
    columns = _columns([row[2:] for row in rows])
    return records_to_arrow(
        BACKTEST_ROLLING_STATISTICS,
        [{}] * len(rows),
        {
            "project_id": project_id,
            "backtest_id": backtest_id,
            "window_months": [row[0] for row in rows],
            "period_end": [row[1] for row in rows],
            **columns,
        },
    )


def _trade_id(trade: Mapping[str, Any], ordinal: int) -> str:
    found = next((trade[k] for k in ("id", "Id", "ID") if trade.get(k) not in (None, "")), None)
    return str(ordinal) if found is None else str(found)


def closed_trades_to_arrow(
    project_id: int, backtest_id: str, trades: Sequence[Any], notes: Notes | None = None
) -> pa.Table:
    """The `closed_trades` rows of one backtest: `trade_id` is the trade's `id`, or its
    position in the list (from 1) when it has none (trades before Lean PR #9234)."""
    records = [t for t in trades if isinstance(t, Mapping)]
    ordinals = list(range(1, len(records) + 1))
    return records_to_arrow(
        CLOSED_TRADES,
        records,
        {
            "project_id": project_id,
            "backtest_id": backtest_id,
            "trade_id": [_trade_id(t, n) for t, n in zip(records, ordinals, strict=True)],
            "ordinal": ordinals,
        },
        notes,
    )
