"""LEAN's symbol properties and security identifiers, for the instruments the sandbox trades.

The properties (quote currency, contract multiplier, tick and lot size) come from the file the
project ships, `pipelines/reference/symbol_properties.csv` (derived from LEAN's symbol
properties database). Security identifiers are encoded as LEAN's `SecurityIdentifier` writes
them: the ticker, a space, and a base-36 number packing the security type, market, strike,
option style, date and option right (QuantConnect/Lean `Common/SecurityIdentifier.cs`).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import date

from pipelines.reference import SYMBOL_PROPERTIES_CSV

SECURITY_TYPES = {
    "Equity": 1,
    "Option": 2,
    "Forex": 4,
    "Future": 5,
    "Cfd": 6,
    "Crypto": 7,
    "FutureOption": 8,
    "Index": 9,
    "IndexOption": 10,
    "CryptoFuture": 11,
}
"""LEAN's `SecurityType` enum values (ref §6) of the types the sandbox serves."""
SECURITY_TYPE_NAMES = {code: name for name, code in SECURITY_TYPES.items()}

# LEAN `Common/Market.cs`: each market's code in a security identifier.
_MARKET_CODES = {
    "usa": 1,
    "fxcm": 2,
    "oanda": 3,
    "cbot": 8,
    "cboe": 10,
    "binance": 16,
    "comex": 22,
    "cme": 23,
    "coinbase": 38,
    "eurex": 40,
}
# The widths of the packed fields, lowest first (LEAN `SecurityIdentifier`).
_MARKET_OFFSET = 100
_STRIKE_SCALE_OFFSET = _MARKET_OFFSET * 1_000
_STRIKE_OFFSET = _STRIKE_SCALE_OFFSET * 100
_STYLE_OFFSET = _STRIKE_OFFSET * 1_000_000
_DAYS_OFFSET = _STYLE_OFFSET * 10
_RIGHT_OFFSET = _DAYS_OFFSET * 100_000
_OA_EPOCH = date(1899, 12, 30)  # OLE automation dates count days from here
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class SymbolProperties:
    """How a symbol's prices and quantities work: quoted in `currency`, one contract worth
    `multiplier` times the price, prices in steps of `tick`, quantities in steps of `lot`."""

    currency: str
    multiplier: float
    tick: float
    lot: float


@functools.cache
def _table() -> dict[tuple[str, str, str], SymbolProperties]:
    with SYMBOL_PROPERTIES_CSV.open(newline="") as file:
        return {
            (row["market"], row["symbol"], row["security_type"]): SymbolProperties(
                row["quote_currency"],
                float(row["contract_multiplier"]),
                float(row["tick_size"]),
                float(row["lot_size"]),
            )
            for row in csv.DictReader(file)
        }


def symbol_properties(market: str, symbol: str, security_type: str) -> SymbolProperties:
    """The properties of a symbol (or a futures root), else of its market's `[*]` row;
    KeyError when the file has neither."""
    table = _table()
    found = table.get((market, symbol, security_type)) or table.get((market, "[*]", security_type))
    if found is None:
        raise KeyError((market, symbol, security_type))
    return found


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return digits or "0"


def _strike_fields(strike: float) -> int:
    """The strike in units of 1/10,000 without trailing zeros, and the zeros removed."""
    scaled, scale = round(strike * 10_000), 0
    while scaled and scaled % 10 == 0:
        scaled, scale = scaled // 10, scale + 1
    return scaled * _STRIKE_OFFSET + scale * _STRIKE_SCALE_OFFSET


def security_id(
    ticker: str,
    security_type: str,
    market: str,
    day: date = _OA_EPOCH,
    strike: float = 0.0,
    put: bool = False,
    european: bool = False,
    underlying: str | None = None,
) -> str:
    """LEAN's security identifier string, e.g. `SPY R735QTJ8XC9X` or, for a derivative,
    `SPY 31M5KW9L6BUFA|SPY R735QTJ8XC9X` (the underlying's identifier after `|`)."""
    packed = (
        SECURITY_TYPES[security_type]
        + _MARKET_CODES[market] * _MARKET_OFFSET
        + _strike_fields(strike)
        + int(european) * _STYLE_OFFSET
        + (day - _OA_EPOCH).days * _DAYS_OFFSET
        + int(put) * _RIGHT_OFFSET
    )
    identifier = f"{ticker} {_base36(packed)}"
    return f"{identifier}|{underlying}" if underlying else identifier
