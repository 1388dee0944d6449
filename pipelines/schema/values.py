"""Value parsers: one raw API value, or a whole Arrow array of them, into a column's value.

A value a column's type cannot hold becomes None (NULL); the flattener keeps it in `extra`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema.currencies import currency_of


def parse_timestamp(raw: Any) -> datetime | None:
    """Parse a QuantConnect time as a UTC instant.

    Accepts ISO strings with or without `Z` (order times), `yyyy-MM-dd HH:mm:ss` (backtest
    `created`, UTC with no zone) and epoch seconds as a number (order event `time`); reference §9.5.
    Anything else gives None.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, UTC) if math.isfinite(raw) else None
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        return None  # not a time at all
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_date(raw: Any) -> date | None:
    """A calendar date from an ISO date or time ("2023-12-31", "2023-12-31T00:00:00Z"), or
    None."""
    moment = parse_timestamp(raw) if isinstance(raw, str) else None
    return None if moment is None else moment.date()


# A .NET TimeSpan as Json.NET writes it (the "c" format): "[-][d.]hh:mm:ss[.fffffff]", e.g.
# "1.02:03:04.5" (tradeStatistics durations, closed trades' `duration`; reference-results
# §2.1); the optimizations' runtime statistics write hours past 24 ("125:30:00", §1.3).
_TIMESPAN = re.compile(
    r"(?P<sign>-?)(?:(?P<days>\d+)\.)?(?P<hours>\d+):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2})"
    r"(?:\.(?P<fraction>\d{1,7}))?"
)


_INTERVAL = pa.month_day_nano_interval()
_NANOS = {"hours": 3_600_000_000_000, "minutes": 60_000_000_000, "seconds": 1_000_000_000}


def _whole(parts: pa.StructArray, name: str) -> np.ndarray:
    """A numeric part of matched TimeSpans as int64 (0 where empty or unmatched)."""
    text = pc.struct_field(parts, name)
    text = pc.if_else(pc.equal(text, ""), "0", text).fill_null("0")
    return np.asarray(text.cast(pa.int64()), dtype=np.int64)


def timespans_from_text(text: pa.Array) -> pa.Array:
    """`parse_timespan` over a whole string array, as INTERVALs (days kept as days); NULL
    where a string is not a TimeSpan."""
    parts = pc.extract_regex(text, f"^{_TIMESPAN.pattern}$")
    nanos = sum(_whole(parts, name) * unit for name, unit in _NANOS.items())
    fraction = pc.utf8_rpad(pc.struct_field(parts, "fraction"), 7, "0")
    nanos = nanos + _whole(pa.StructArray.from_arrays([fraction], ["f"]), "f") * 100
    days = _whole(parts, "days")
    negative = np.asarray(pc.equal(pc.struct_field(parts, "sign"), "-").fill_null(False))
    layout = np.zeros(len(text), dtype=[("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])
    layout["days"] = np.where(negative, -days, days)
    layout["nanos"] = np.where(negative, -nanos, nanos)
    valid = pc.is_valid(parts)
    return pa.Array.from_buffers(
        _INTERVAL, len(text), [valid.buffers()[1], pa.py_buffer(layout.tobytes())]
    )


def parse_timespan(raw: Any) -> timedelta | None:
    """A .NET TimeSpan string ("1.02:03:04.5", "00:00:00", "125:30:00") as a duration; None
    for anything else."""
    match = _TIMESPAN.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        return None
    span = timedelta(
        days=int(match["days"] or 0),
        hours=int(match["hours"]),
        minutes=int(match["minutes"]),
        seconds=int(match["seconds"]),
        microseconds=round(int((match["fraction"] or "0").ljust(7, "0")) / 10),
    )
    return -span if match["sign"] else span


def parse_text_map(raw: Any) -> list[tuple[str, str | None]] | None:
    """A map of text to text, as Arrow carries a MAP: its items with every value as text (a
    nested value as JSON). The API sends an empty map as `[]` (reference §2): no items."""
    if isinstance(raw, dict):
        return [(str(key), parse_text(value)) for key, value in raw.items()]
    if raw == []:
        return []
    return None


def parse_float(raw: Any) -> float | None:
    """A finite float, or None for absent, non-numeric, NaN or infinite values."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_int(raw: Any) -> int | None:
    """A 64-bit integer, or None when the value is absent, not a whole number or too big."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value: int | None = raw
    else:
        number = parse_float(raw)
        value = int(number) if number is not None and number.is_integer() else None
    return value if value is not None and -(2**63) <= value < 2**63 else None


def parse_bool(raw: Any) -> bool | None:
    """A boolean, or None when absent."""
    return None if raw is None else bool(raw)


def parse_text(raw: Any) -> str | None:
    """Text, or None when absent. Empty strings stay empty: the API sent them. A map or a
    list where text was expected is kept as its JSON."""
    if isinstance(raw, dict | list):
        return to_json_text(raw)
    return None if raw is None else str(raw)


def to_json_text(raw: Any) -> str | None:
    """Serialise a nested value as JSON text; empty maps the API sends as `[]` stay `[]`."""
    return None if raw is None else msgspec.json.encode(raw, order="sorted").decode()


def parse_text_list(raw: Any) -> list[str] | None:
    """A list of strings, or None when absent."""
    return None if raw is None else [str(item) for item in raw]


def parse_int_list(raw: Any) -> list[int | None] | None:
    """A list of integers, or None when absent."""
    return None if raw is None else [parse_int(item) for item in raw]


# Statistics are formatted strings (reference §5): "1.692%", "$3.44", "$100,670.36", "-$24.70",
# "$-4.94", "0.57 %", "1,234". The currency comes first: a symbol ("€", "Ξ", "kr", "NT$"), or
# its code when it has none ("BUSD99.75"; LEAN's Currencies.GetCurrencySymbol). A prefix with
# letters touches the number: "SPX 31" is a symbol, not a value.
_STATISTIC_NUMBER = re.compile(
    r"(?P<sign>[+-]?)\s*(?P<currency>[^\d\s.,+-]{0,5}?)(?P<gap>\s*)(?P<inner_sign>[+-]?)"
    r"(?P<digits>\d[\d,]*\.?\d*|\.\d+)(?P<exponent>[eE][+-]?\d+)?\s*%?"
)


def _statistic_match(text: str | None) -> re.Match[str] | None:
    if text is None:
        return None
    match = _STATISTIC_NUMBER.fullmatch(text.strip())
    if match is None or (match["gap"] and any(c.isalpha() for c in match["currency"])):
        return None
    return match


def parse_statistic_value(text: str | None) -> float | None:
    """Parse a formatted statistic ("$100,670.36", "1.692%", "-$24.70", "BUSD99.75") into a
    float.

    `"-"`, `""` and values that are not numbers (such as a symbol id) give None.
    """
    match = _statistic_match(text)
    if match is None:
        return None
    value = float(match["digits"].replace(",", "") + (match["exponent"] or ""))
    if (match["sign"] == "-") != (match["inner_sign"] == "-"):
        value = -value
    return value if math.isfinite(value) else None


_TIMESTAMP = pa.timestamp("us", tz="UTC")


def timestamps_from_text(text: pa.Array) -> pa.Array:
    """ISO strings, with a zone or without one (read as UTC), as UTC instants (reference §9.5)."""
    try:
        return text.cast(_TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text.cast(pa.timestamp("us")).cast(_TIMESTAMP)


def timestamps_from_epoch(seconds: pa.Array) -> pa.Array:
    """Epoch seconds (order event `time`) as UTC instants, rounded to the microsecond."""
    micros = pc.round(pc.multiply(seconds.cast(pa.float64()), 1_000_000))
    return micros.cast(pa.int64()).cast(_TIMESTAMP)


def parse_statistic_currency(text: str | None) -> str | None:
    """The currency of a formatted amount ("$3.44" → USD, "€12.50" → EUR, "BUSD99.75" → BUSD;
    `pipelines.schema.currencies`); None for a percentage, a plain number or a non-number."""
    match = _statistic_match(text)
    return None if match is None else currency_of(match["currency"])


STANDARD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "BIGINT": parse_int,
    "DOUBLE": parse_float,
    "VARCHAR": parse_text,
    "BOOLEAN": parse_bool,
    "TIMESTAMPTZ": parse_timestamp,
    "JSON": to_json_text,
    "VARCHAR[]": parse_text_list,
    "BIGINT[]": parse_int_list,
    "INTERVAL": parse_timespan,
    "DATE": parse_date,
    "MAP(VARCHAR, VARCHAR)": parse_text_map,
}
