"""An order's time in force, in every shape LEAN has written it, with LEAN's meaning.

- Today, in `properties.timeInForce` (LEAN's `TimeInForceJsonConverter`): `{}` (or `[]`) is
  GoodTilCanceled; any other carries its class in `$type`:
  `{"$type": "QuantConnect.Orders.TimeInForces.DayTimeInForce"}`, or
  `{"$type": "QuantConnect.Orders.TimeInForces.GoodTilDateTimeInForce", "Expiry": "..."}`
  (the converter writes property names as they are: PascalCase `Expiry`, in camelCase orders
  too).
- Older orders, which LEAN's `OrderJsonConverter` still reads: a top-level `TimeInForce`,
  else `Duration`, as an integer (0 GoodTilCanceled, 1 Day, 2 GoodTilDate with the expiry in
  `DurationValue`); and `Properties.TimeInForce` as such an integer.

The parsers take the whole order, its keys spelled as the schema reads them (`timeInForce`,
`duration`, `durationValue` at the top level); the `_array` forms take an array of whole orders
as pyarrow's JSON reader parses them, where only `properties.timeInForce` is on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema.enums import EnumMap
from pipelines.schema.values import parse_text, parse_timestamp, timestamps_from_text

GOOD_TIL_CANCELED, DAY, GOOD_TIL_DATE = "GoodTilCanceled", "Day", "GoodTilDate"
# The integer codes of older orders (LEAN's OrderJsonConverter.CreateTimeInForce).
LEGACY_CODES = {0: GOOD_TIL_CANCELED, 1: DAY, 2: GOOD_TIL_DATE}
# LEAN looks `$type` up ignoring case; known names are spelled as LEAN spells them.
TIME_IN_FORCE = EnumMap((GOOD_TIL_CANCELED, DAY, GOOD_TIL_DATE))

# `properties` as today's orders send it. LEAN spells `Expiry` so in camelCase orders too; any
# other spelling is read as it (a legacy spelling, and off the fast path).
TIME_IN_FORCE_WIRE = pa.struct([("$type", pa.string()), ("Expiry", pa.string())])
PROPERTIES_WIRE = pa.struct([("timeInForce", TIME_IN_FORCE_WIRE)])


def _sent(order: Any) -> Any:
    """The time in force as the order sent it: today's, else an older order's."""
    if not isinstance(order, Mapping):
        return None
    properties = order.get("properties")
    if isinstance(properties, Mapping) and properties.get("timeInForce") is not None:
        return properties["timeInForce"]
    return order["timeInForce"] if order.get("timeInForce") is not None else order.get("duration")


def _class_name(type_name: str) -> str:
    """`QuantConnect.Orders.TimeInForces.DayTimeInForce, QuantConnect.Common` → `Day`."""
    name = type_name.split(",")[0].strip().rsplit(".", 1)[-1]
    suffix = len("TimeInForce")
    return TIME_IN_FORCE(name[:-suffix] if name.lower().endswith("timeinforce") else name)


def _expiry(sent: Mapping[str, Any]) -> Any:
    return sent.get("Expiry")


def time_in_force(order: Any) -> str | None:
    """GoodTilCanceled, Day or GoodTilDate (another `$type`: its class name); an unknown
    shape is kept as its JSON text."""
    sent = _sent(order)
    if sent is None:
        return None
    if isinstance(sent, int) and not isinstance(sent, bool):
        return _legacy_code(sent) or str(sent)
    if sent == []:  # PHP's empty map (TimeInForceJsonConverter.ReadJson)
        return GOOD_TIL_CANCELED
    if not isinstance(sent, Mapping):
        return parse_text(sent)
    if isinstance(sent.get("$type"), str):
        return _class_name(sent["$type"])
    if _expiry(sent) is not None:
        return GOOD_TIL_DATE
    if any(value is not None for value in sent.values()):
        return parse_text(sent)
    return GOOD_TIL_CANCELED


def time_in_force_expiry(order: Any) -> datetime | None:
    """When a GoodTilDate order expires; None for any other."""
    sent = _sent(order)
    if isinstance(sent, Mapping):
        return parse_timestamp(_expiry(sent))
    if _legacy_code(sent) == GOOD_TIL_DATE:
        return parse_timestamp(order.get("durationValue"))
    return None


def _legacy_code(sent: Any) -> str | None:
    """The meaning of an older order's integer time in force, or None for another value."""
    return LEGACY_CODES.get(sent) if isinstance(sent, int) and not isinstance(sent, bool) else None


def _wire_parts(orders: pa.StructArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Today's time in force of each order, its `$type` and its expiry, from the wire."""
    sent = pc.struct_field(orders, ["properties", "timeInForce"])
    return sent, pc.struct_field(sent, "$type"), pc.struct_field(sent, "Expiry")


def time_in_force_array(orders: pa.StructArray) -> pa.Array:
    """`time_in_force` over an array of whole orders."""
    sent, type_name, expiry = _wire_parts(orders)
    chosen = pc.if_else(pc.is_valid(expiry), GOOD_TIL_DATE, GOOD_TIL_CANCELED)
    if type_name.null_count < len(type_name):  # most pages hold GoodTilCanceled orders only
        class_name = pc.replace_substring_regex(
            type_name, r"^\s*(?:[^,]*\.)?([^.,]*?)(?i:TimeInForce)?\s*(?:,.*)?$", r"\1"
        )
        chosen = pc.if_else(pc.is_valid(type_name), TIME_IN_FORCE.names_of(class_name)[0], chosen)
    return pc.if_else(pc.is_valid(sent), chosen, pa.scalar(None, pa.string()))


def time_in_force_expiry_array(orders: pa.StructArray) -> pa.Array:
    """`time_in_force_expiry` over an array of whole orders."""
    return timestamps_from_text(_wire_parts(orders)[2])


def properties_json_array(properties: pa.StructArray) -> pa.Array:
    """`to_json_text` over an array of `PROPERTIES_WIRE`: the same JSON text, key for key
    (sorted, as `to_json_text` writes them)."""
    sent = pc.struct_field(properties, "timeInForce")
    members = []
    for key in sorted(TIME_IN_FORCE_WIRE.names):
        value = pc.struct_field(sent, key)
        if value.null_count == len(value):
            continue  # the common case: `{}`, GoodTilCanceled
        if pc.any(pc.match_substring_regex(value, r'["\\\x00-\x1f]')).as_py():
            raise ValueError(f"a {key} that needs JSON escaping")  # the caller falls back
        member = pc.binary_join_element_wise(f'"{key}":"', value, '",', "")
        members.append(member.fill_null(""))
    text = pa.repeat(pa.scalar('{"timeInForce":{}}'), len(sent))
    if members:
        joined = pc.utf8_rtrim(pc.binary_join_element_wise(*members, ""), ",")
        text = pc.binary_join_element_wise('{"timeInForce":{', joined, "}}", "")
    text = pc.if_else(pc.is_valid(sent), text, "{}")
    return pc.if_else(pc.is_valid(properties), text, pa.scalar(None, pa.string()))
