"""The sandbox's market: the symbols backtests trade, their universes and trading hours.

Each symbol carries its security type (ref §6), typical price and daily volatility, price
decimals, lot size, quote currency and contract multiplier. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import time
from typing import Any

JsonDict = dict[str, Any]
"""A JSON object as the API serves it; this leaf module of the package is its home."""

SESSION_SECONDS = 23_400  # 09:30-16:00 New York, as 13:30-20:00 UTC
SESSION_OPEN = time(13, 30)


@dataclass(frozen=True)
class Symbol:
    """A tradable security: its identity as the API writes it (ref §6) and its price model."""

    value: str
    id: str
    security_type: int  # ref §6 securityType enum
    price: float  # typical starting price
    volatility: float  # daily
    decimals: int
    lot: float = 1.0
    currency: str = "USD"
    multiplier: float = 1.0
    underlying: Symbol | None = None
    as_json: JsonDict = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        data: JsonDict = {"value": self.value, "id": self.id, "permtick": self.value}
        if self.underlying is not None:
            data["underlying"] = self.underlying.as_json
        object.__setattr__(self, "as_json", data)

    @property
    def event_permtick(self) -> str:
        """Order events of options carry the underlying's ticker as `symbolPermtick` (Lean's
        ReadOrdersResponseJsonConverterTests)."""
        return self.id.split(" ", 1)[0] if self.underlying else self.value

    @property
    def is_call(self) -> bool:
        """OSI option tickers end in C/P then the strike times 1000 in 8 digits."""
        return self.value[-9] == "C"

    @property
    def strike(self) -> float:
        return int(self.value[-8:]) / 1000


def _equity(value: str, sid: str, price: float, volatility: float = 0.018) -> Symbol:
    return Symbol(value, sid, 1, price, volatility, 2)


def _option(value: str, sid: str, underlying: Symbol, price: float) -> Symbol:
    return Symbol(value, sid, 2, price, 0.06, 2, multiplier=100.0, underlying=underlying)


_AAPL = _equity("AAPL", "AAPL R735QTJ8XC9X", 172.5)
_GOOG = _equity("GOOG", "GOOCV VP83T1ZUHROL", 138.2)
_SPY = _equity("SPY", "SPY R735QTJ8XC9X", 438.1, 0.011)
EQUITIES = (
    _SPY,
    _AAPL,
    _equity("MSFT", "MSFT R735QTJ8XC9X", 331.4),
    _equity("QQQ", "QQQ RIWIV7K5Z9LX", 367.9, 0.013),
    _equity("TSLA", "TSLA UNU3P8Y3WFAD", 242.6, 0.034),
    _equity("NVDA", "NVDA RHM8UTD8DT2D", 455.7, 0.029),
    _equity("AMZN", "AMZN R735QTJ8XC9X", 131.9),
    _equity("IBM", "IBM R735QTJ8XC9X", 141.3, 0.012),
    _GOOG,
)
OPTION_CHAINS = {
    "AAPL": (
        _option("AAPL  240119C00180000", "AAPL 2ZQGWTST4Z8NA|AAPL R735QTJ8XC9X", _AAPL, 6.45),
        _option("AAPL  240119P00165000", "AAPL 2ZQHIFH0JY5E6|AAPL R735QTJ8XC9X", _AAPL, 4.10),
    ),
    "GOOG": (
        _option("GOOG  160115C00745000", "GOOCV W78ZERHAOVVQ|GOOCV VP83T1ZUHROL", _GOOG, 5.20),
        _option("GOOG  160115C00750000", "GOOCV W78ZEOEHQRYE|GOOCV VP83T1ZUHROL", _GOOG, 3.85),
    ),
    "SPY": (
        _option("SPY   240315C00450000", "SPY 31M5KW9L6BUFA|SPY R735QTJ8XC9X", _SPY, 9.70),
        _option("SPY   240315P00420000", "SPY 31M5NLDZ4V4JQ|SPY R735QTJ8XC9X", _SPY, 7.25),
    ),
}
FOREX = (
    Symbol("EURUSD", "EURUSD 8G", 4, 1.0842, 0.005, 5, lot=1_000.0),
    Symbol("GBPUSD", "GBPUSD 8G", 4, 1.2631, 0.006, 5, lot=1_000.0),
    Symbol("USDJPY", "USDJPY 8G", 4, 148.21, 0.006, 3, lot=1_000.0, currency="JPY"),
)
CRYPTO = (
    Symbol("BTCUSD", "BTCUSD 2XR", 7, 42_150.0, 0.035, 2, lot=0.0001),
    Symbol("ETHUSD", "ETHUSD 2XR", 7, 2_290.0, 0.04, 2, lot=0.0001),
)
FUTURES = (
    Symbol("ESZ24", "ES YOGVNNAOI1OH", 5, 4_712.25, 0.011, 2, multiplier=50.0),
    Symbol("NQZ24", "NQ YOGVNNAOIJQ9", 5, 16_480.5, 0.014, 2, multiplier=20.0),
)
SECURITY_TYPE_NAMES = {1: "Equity", 2: "Option", 4: "Forex", 5: "Future", 7: "Crypto"}


def pick_universe(rng: random.Random) -> tuple[Symbol, ...]:
    """The symbols one backtest trades, by strategy style."""
    style = rng.choices(
        ["equity", "options", "forex", "crypto", "futures", "mixed"], [45, 20, 10, 10, 8, 7]
    )[0]
    if style == "equity":
        return tuple(rng.sample(EQUITIES, rng.randint(1, 4)))
    if style == "options":
        underlying = rng.choice(list(OPTION_CHAINS))
        return (next(s for s in EQUITIES if s.value == underlying), *OPTION_CHAINS[underlying])
    if style == "forex":
        return tuple(rng.sample(FOREX, rng.randint(1, 3)))
    if style == "crypto":
        return tuple(rng.sample(CRYPTO, rng.randint(1, 2)))
    if style == "futures":
        return tuple(rng.sample(FUTURES, rng.randint(1, 2)))
    return (_SPY, OPTION_CHAINS["SPY"][0], FOREX[0], CRYPTO[0])
