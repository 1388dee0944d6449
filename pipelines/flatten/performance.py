"""`backtests/read`'s `totalPerformance` and `rollingWindow`, and closed trades → the
performance tables (reference-results §2.1-2.2).

The 2023 API sent `totalPerformance` in PascalCase with decimals as strings
(`real_backtests_read_2023-09`); today's sends camelCase numbers. Both read the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from pipelines.flatten.records import (
    NOT_A_SECTION,
    UNREADABLE_WINDOWS,
    Notes,
    records_to_arrow,
    wire_table,
)
from pipelines.schema.columns import Table
from pipelines.schema.performance import (
    BACKTEST_PERFORMANCE,
    BACKTEST_ROLLING_STATISTICS,
    CLOSED_TRADES,
    PERFORMANCE_SOURCES,
    TRADE_WIRE,
    TRADES_KEY,
    trade_symbol_columns,
)
from pipelines.schema.values import parse_float, timespans_from_text, to_json_text

_WIRE = pa_json.ParseOptions(
    explicit_schema=pa.schema(TRADE_WIRE), unexpected_field_behavior="error"
)
_BLOCK_BYTES = 1 << 20

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


_PLAIN_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def statistic_values(raws: list[Any]) -> dict[str, pa.Array]:
    """`value`, `value_text` and `value_interval` of statistics as sent, a whole list at once:
    a number, or a plain number as text (the 2023 replies), is a value; other text is kept as
    text, and a TimeSpan as an interval too; a nested value is kept as JSON text."""
    numbers = pa.array([r if type(r) in (int, float) else None for r in raws], pa.float64())
    texts = pa.array(
        [
            r if type(r) is str else to_json_text(r) if type(r) in (dict, list) else None
            for r in raws
        ],
        pa.string(),
    )
    plain = pc.match_substring_regex(texts, _PLAIN_NUMBER).fill_null(False)
    from_text = pc.if_else(plain, texts, pa.scalar(None, pa.string())).cast(pa.float64())
    values = pc.coalesce(numbers, from_text)
    finite = pc.is_finite(values).fill_null(True)
    values = pc.if_else(finite, values, pa.scalar(None, pa.float64()))
    texts = pc.if_else(plain, pa.scalar(None, pa.string()), texts)
    return {"value": values, "value_text": texts, "value_interval": timespans_from_text(texts)}


def _sections(performance: Any, notes: Notes | None) -> list[tuple[str, Mapping[str, Any]]]:
    """(source, statistics) of each section of an AlgorithmPerformance, its closed trades
    left out. A section nobody knows yet is kept under its own name; fields that are not a
    section, under source "other"."""
    if not isinstance(performance, Mapping):
        return []
    sections, others = [], {}
    for key, section in performance.items():
        name = camel(key)
        if name == TRADES_KEY:
            continue
        if isinstance(section, Mapping):
            sections.append(
                (PERFORMANCE_SOURCES.get(name, name.removesuffix("Statistics")), section)
            )
        else:
            others[name] = section
    if others:
        sections.append((_OTHER, others))
        if notes is not None:
            notes[NOT_A_SECTION, BACKTEST_PERFORMANCE.name] += len(others)
    return sections


class _StatisticRows:
    """Rows of statistics gathered a section at a time, with the columns every row of a
    section shares (its window, its source)."""

    def __init__(self) -> None:
        self.shared: dict[str, list[Any]] = {}
        self.names: list[str] = []
        self.raws: list[Any] = []

    def add(self, section: Mapping[str, Any], **shared: Any) -> None:
        """Add a section's statistics, each row with the `shared` column values."""
        names = list(section)
        if names and names[0][:1].isupper():  # the 2023 PascalCase replies
            names = [camel(name) for name in names]
        self.names.extend(names)
        self.raws.extend(section.values())
        for column, value in shared.items():
            self.shared.setdefault(column, []).extend([value] * len(names))

    def columns(self) -> dict[str, Any]:
        """Every column of the rows, by name."""
        return {**self.shared, "statistic": self.names, **statistic_values(self.raws)}


def performance_to_arrow(
    project_id: int, backtest_id: str, backtest: Mapping[str, Any], notes: Notes | None = None
) -> pa.Table:
    """The `backtest_performance` rows of one `backtests/read` object."""
    rows = _StatisticRows()
    for source, section in _sections(member(backtest, "totalPerformance"), notes):
        rows.add(section, source=source)
    return _statistics_table(BACKTEST_PERFORMANCE, project_id, backtest_id, rows)


def _statistics_table(
    table: Table, project_id: int, backtest_id: str, rows: _StatisticRows
) -> pa.Table:
    columns = rows.columns()
    length = len(rows.names)
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(project_id, pa.int64()), length),
            pa.repeat(pa.scalar(backtest_id, pa.string()), length),
            *(pa.array(columns.get(c.name, []), c.arrow_type) for c in table.columns[2:]),
        ],
        schema=table.arrow_schema,
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
    rows = _StatisticRows()
    for key, performance in windows.items() if isinstance(windows, Mapping) else []:
        window = window_of(str(key))
        if window is None:
            if notes is not None:
                notes[UNREADABLE_WINDOWS, BACKTEST_ROLLING_STATISTICS.name] += 1
            continue
        for source, section in _sections(performance, None):
            rows.add(section, window_months=window[0], period_end=window[1], source=source)
    return _statistics_table(BACKTEST_ROLLING_STATISTICS, project_id, backtest_id, rows)


def _trade_id(trade: Mapping[str, Any], ordinal: int) -> str:
    found = next((trade[k] for k in ("id", "Id", "ID") if trade.get(k) not in (None, "")), None)
    return str(ordinal) if found is None else str(found)


def _wire_trades(trades: Sequence[Any]) -> pa.StructArray | None:
    """The fast path: undecoded trades (`msgspec.Raw`) read by pyarrow's JSON reader against
    `TRADE_WIRE`; None when some trade is not in today's shape (or is decoded already)."""
    if not trades or not all(isinstance(t, msgspec.Raw) for t in trades):
        return None
    block = max(_BLOCK_BYTES, 2 * max(map(len, trades)))
    try:
        read = pa_json.read_json(
            pa.BufferReader(b"\n".join(trades)), pa_json.ReadOptions(block_size=block), _WIRE
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return read.to_struct_array().combine_chunks()


def _wire_symbol_columns(records: pa.StructArray) -> dict[str, pa.Array]:
    """`trade_symbol_columns` over the wire records, vectorised."""
    lists = pc.struct_field(records, "symbols")
    starts = lists.offsets[:-1]
    tickers = pc.struct_field(lists.values, "value")
    nonempty = pc.greater(pc.list_value_length(lists).fill_null(0), 0)
    first = pc.if_else(nonempty, starts, pa.scalar(None, starts.type))
    return {
        "symbol": tickers.take(first),
        "symbols": pa.ListArray.from_arrays(lists.offsets, tickers),
        "symbol_ids": pa.ListArray.from_arrays(lists.offsets, pc.struct_field(lists.values, "id")),
    }


def closed_trades_to_arrow(
    project_id: int, backtest_id: str, trades: Sequence[Any], notes: Notes | None = None
) -> pa.Table:
    """The `closed_trades` rows of one backtest: `trade_id` is the trade's `id`, or its
    position in the list (from 1) when it has none (trades before Lean PR #9234). Trades
    still undecoded go through the JSON reader when they have today's shape."""
    records = _wire_trades(trades)
    if records is not None:
        ordinals = pa.array(range(1, len(records) + 1), pa.int64())
        ids = pc.struct_field(records, "id")
        ids = pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)
        supplied = {
            "project_id": pa.repeat(pa.scalar(project_id, pa.int64()), len(records)),
            "backtest_id": pa.repeat(pa.scalar(backtest_id, pa.string()), len(records)),
            "trade_id": pc.coalesce(ids, ordinals.cast(pa.string())),
            "ordinal": ordinals,
            **_wire_symbol_columns(records),
        }
        table = wire_table(CLOSED_TRADES, records, supplied, notes or Notes())
        sent = pc.struct_field(records, "duration")
        if sent.null_count == table.column("duration").null_count:
            return table
        # A TimeSpan that does not parse: the decoded path keeps it in `extra`.
    decoded = [msgspec.json.decode(t) if isinstance(t, msgspec.Raw) else t for t in trades]
    records_ = [t for t in decoded if isinstance(t, Mapping)]
    ordinals_ = list(range(1, len(records_) + 1))
    return records_to_arrow(
        CLOSED_TRADES,
        records_,
        {
            "project_id": project_id,
            "backtest_id": backtest_id,
            "trade_id": [_trade_id(t, n) for t, n in zip(records_, ordinals_, strict=True)],
            "ordinal": ordinals_,
            **trade_symbol_columns(records_),
        },
        notes,
    )
