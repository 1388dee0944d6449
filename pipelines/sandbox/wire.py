"""How orders and their events are written: LEAN's key order and omissions, its time in force,
and the 2024 dialect (PascalCase order keys, kebab-case event keys) of older backtests.

("ref §N" is section N of `/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta

import msgspec

from pipelines.sandbox.instruments import JsonDict

DAY_TIF: JsonDict = {"$type": "QuantConnect.Orders.TimeInForces.DayTimeInForce"}
"""Day time in force as LEAN's TimeInForceJsonConverter writes it: its type name (`$type`) and
its properties under their C# names; GoodTilCanceled is `{}` (the default the reader assumes).
The converter writes these keys the same in every dialect."""


def good_til_date(expiry: date) -> JsonDict:
    """GoodTilDate time in force: its `Expiry` as Json.NET writes a DateTime without a zone."""
    return {
        "$type": "QuantConnect.Orders.TimeInForces.GoodTilDateTimeInForce",
        "Expiry": f"{expiry.isoformat()}T00:00:00",
    }


@functools.lru_cache(maxsize=8192)
def _iso_day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def iso_epoch(seconds: float) -> str:
    """`2013-10-07T13:31:00Z` for epoch seconds (strftime is slow on the order hot path)."""
    day, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    return f"{_iso_day(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


# -- the 2024 dialect (the real 2024-03 `backtests/orders/read` reply has it) --

_KEEP_AS_IS = frozenset({"$type", "Expiry"})
_EVENT_FIRST = ("symbolValue", "symbolPermtick")  # the 2024 reply writes these two first


def _pascal(key: str) -> str:
    return "ID" if key == "id" else key[:1].upper() + key[1:]


def _pascal_object(value: object, inside_symbol: bool = False) -> object:
    if isinstance(value, dict):
        return {
            (k if k in _KEEP_AS_IS else _pascal(k) if inside_symbol or k != "id" else "Id"): (
                _pascal_object(v, k in ("symbol", "underlying"))
            )
            for k, v in value.items()
        }
    return value


def pascal_symbol(symbol: JsonDict) -> JsonDict:
    """A symbol object as LEAN's SymbolJsonConverter wrote it: `Value`, `ID`, `Permtick`
    (and `Underlying`)."""
    converted = _pascal_object(symbol, inside_symbol=True)
    assert isinstance(converted, dict)
    return converted


@functools.lru_cache(maxsize=64)
def _kebab(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", key).lower()


def _kebab_event(event: JsonDict) -> JsonDict:
    ordered = {k: event[k] for k in _EVENT_FIRST if k in event}
    ordered.update((k, v) for k, v in event.items() if k not in _EVENT_FIRST)
    return {_kebab(k): v for k, v in ordered.items()}


def to_2024_dialect(order: JsonDict) -> JsonDict:
    """An order in the 2024 dialect: PascalCase order keys (`Symbol.ID`), kebab-case event keys
    (`fill-price`), under `Events`."""
    events = [_kebab_event(e) for e in order["events"]]
    converted = {k: v for k, v in order.items() if k != "events"}
    pascal = _pascal_object(converted)
    assert isinstance(pascal, dict)
    pascal["Events"] = events
    return pascal


def encode(order: JsonDict) -> bytes:
    """Compact JSON as Json.NET writes it (non-ASCII raw); msgspec writes it several times
    faster than `json`."""
    return msgspec.json.encode(order)
