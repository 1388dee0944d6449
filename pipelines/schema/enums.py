"""The API's enums and their canonical names (reference §6: integer codes on orders, camelCase
names on events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ORDER_TYPES = (
    "Market",
    "Limit",
    "StopMarket",
    "StopLimit",
    "MarketOnOpen",
    "MarketOnClose",
    "OptionExercise",
    "LimitIfTouched",
    "ComboMarket",
    "ComboLimit",
    "ComboLegLimit",
    "TrailingStop",
)
SECURITY_TYPES = (
    "Base",
    "Equity",
    "Option",
    "Commodity",
    "Forex",
    "Future",
    "Cfd",
    "Crypto",
    "FutureOption",
    "Index",
    "IndexOption",
    "CryptoFuture",
)
# Lean's OrderStatus has no code 4.
ORDER_STATUSES = {
    0: "New",
    1: "Submitted",
    2: "PartiallyFilled",
    3: "Filled",
    5: "Canceled",
    6: "None",
    7: "Invalid",
    8: "CancelPending",
    9: "UpdateSubmitted",
}
DIRECTIONS = ("Buy", "Sell", "Hold")
PRICE_ADJUSTMENT_MODES = (
    "Raw",
    "Adjusted",
    "SplitAdjusted",
    "TotalReturn",
    "ForwardPanamaCanal",
    "BackwardsPanamaCanal",
    "BackwardsRatio",
    "ScaledRaw",
)


class EnumMap:
    """An enum's canonical names, from integer codes (as orders send them) or from names in
    any letter case (as events send them, camelCase). A code nobody knows is kept as its raw
    text rather than dropped."""

    def __init__(self, names: Mapping[int, str] | tuple[str, ...]) -> None:
        self._by_code = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
        self._by_lower_name = {name.lower(): name for name in self._by_code.values()}
        codes = range(max(self._by_code) + 1)
        self._code_names = pa.array([self._by_code.get(code) for code in codes], pa.string())
        self._lower_names = pa.array(list(self._by_lower_name), pa.string())
        self._names = pa.array(list(self._by_lower_name.values()), pa.string())

    def __call__(self, raw: Any) -> str:
        """The name of one raw value."""
        try:
            found = (
                self._by_lower_name.get(raw.lower())
                if isinstance(raw, str)
                else self._by_code.get(raw)
            )
        except TypeError:  # unhashable: a list or a map
            found = None
        return found if found is not None else str(raw)

    def knows(self, raw: Any) -> bool:
        """Whether `raw` is one of the enum's codes or names."""
        try:
            if isinstance(raw, str):
                return raw.lower() in self._by_lower_name
            return raw in self._by_code and not isinstance(raw, bool)
        except TypeError:  # unhashable: a list or a map
            return False

    def names_of(self, raw: pa.Array) -> tuple[pa.Array, int]:
        """The names of a whole array of integer codes or of names, as `__call__` gives them,
        and how many values were not the enum's (kept as their raw text)."""
        if pa.types.is_integer(raw.type):
            known = pc.and_(pc.greater_equal(raw, 0), pc.less(raw, len(self._code_names)))
            names = self._code_names.take(pc.if_else(known, raw, pa.scalar(None, raw.type)))
        else:
            names = self._names.take(pc.index_in(pc.utf8_lower(raw), self._lower_names))
        return pc.coalesce(names, raw.cast(pa.string())), names.null_count - raw.null_count


SECURITY_TYPE = EnumMap(SECURITY_TYPES)
ORDER_TYPE = EnumMap(ORDER_TYPES)
ORDER_STATUS = EnumMap(ORDER_STATUSES)
DIRECTION = EnumMap(DIRECTIONS)
PRICE_ADJUSTMENT_MODE = EnumMap(PRICE_ADJUSTMENT_MODES)
