"""What a LEAN symbol id says of its security: the market it trades on.

A security identifier is `<ticker> <properties>`, the properties a base-36 number whose lowest
decimal digits are the security type (two digits) and then the market's code (three digits);
a derivative's id ends `|<its underlying's id>` (LEAN's `SecurityIdentifier`). The codes are
LEAN's (`Common/Market.cs`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MARKET_CODES = {
    1: "usa",
    2: "fxcm",
    3: "oanda",
    4: "dukascopy",
    5: "bitfinex",
    6: "cmeglobex",
    7: "nymex",
    8: "cbot",
    9: "ice",
    10: "cboe",
    11: "india",
    12: "coinbase",  # was "gdax"
    13: "kraken",
    14: "bittrex",
    15: "bithumb",
    16: "binance",
    17: "poloniex",
    18: "coinone",
    19: "hitbtc",
    20: "okcoin",
    21: "bitstamp",
    22: "comex",
    23: "cme",
    24: "sgx",
    25: "hkfe",
    26: "nyseliffe",
    33: "cfe",
    34: "ftx",
    35: "ftxus",
    36: "binanceus",
    37: "bybit",
    38: "coinbase",
    39: "interactivebrokers",
    40: "eurex",
    41: "ose",
    42: "dydx",
    43: "hyperliquid",
    44: "kalshi",
}
_TYPE_DIGITS, _MARKET_DIGITS = 100, 1000


def market_of(symbol_id: Any) -> str | None:
    """The market of a security identifier ("SPY R735QTJ8XC9X" → "usa"); None when it is not
    one, or its market code is not LEAN's."""
    return _market_of_id(symbol_id) if isinstance(symbol_id, str) else None


@cache
def _market_of_id(symbol_id: str) -> str | None:
    parts = symbol_id.split("|", 1)[0].split()
    if len(parts) != 2:
        return None
    try:
        properties = int(parts[1], 36)
    except ValueError:
        return None
    return MARKET_CODES.get(properties // _TYPE_DIGITS % _MARKET_DIGITS)


def market_array(symbol_ids: pa.Array) -> pa.Array:
    """`market_of` over an array of security identifiers, each distinct one decoded once."""
    encoded = pc.dictionary_encode(symbol_ids)
    markets = pa.array([market_of(s) for s in encoded.dictionary.to_pylist()], pa.string())
    return markets.take(encoded.indices)
