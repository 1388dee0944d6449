"""What the sandbox trades: its assets, the contracts a backtest trades on them, their quotes
and their fees.

An `Asset` is a series with a price model (an equity, an index, a currency pair, a futures
root...); a `Contract` is a tradable symbol of one backtest: an asset itself or a dated
future or option on it, with its identity as the API writes it (ref §6), its symbol properties
(from `pipelines/reference/symbol_properties.csv`), its trading hours and life, and its fee
model. ("ref §N" is section N of `/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipelines.sandbox.prices import DAY, PriceModel, Walk, option_value
from pipelines.sandbox.properties import SECURITY_TYPES, SymbolProperties, symbol_properties

JsonDict = dict[str, Any]
"""A JSON object as the API serves it; this leaf module of the package is its home."""

YEAR = 365.25 * DAY
MARGINED = frozenset({"Future", "Cfd", "CryptoFuture"})
"""Types LEAN settles by margin: a fill moves no notional, only profit and loss (LEAN
`SecurityPortfolioModel.ProcessFill`)."""

# The symbol properties file leaves crypto out: these are Coinbase's and Binance's.
_CRYPTO = {
    "Crypto": SymbolProperties("USD", 1.0, 0.01, 0.0001),
    "CryptoFuture": SymbolProperties("USDT", 1.0, 0.1, 0.001),
}
_FOREX_MAJORS_FEE = 0.04  # FXCM: USD per side per 1,000 units (LEAN FxcmFeeModel)


@dataclass(frozen=True)
class Asset:
    """A price series: `ticker` on `market` as LEAN's `security_type`, traded during `hours`,
    priced by `model` (the walk named `walk`, shared by assets that track the same index), and
    quoted `spread_bps` wide (at least one tick)."""

    ticker: str
    security_type: str
    market: str
    hours: str
    model: PriceModel
    spread_bps: float = 1.0
    sid: str = ""
    walk: str = ""
    option_volatility: float = 0.0  # implied volatility of the options written on it

    @property
    def walk_name(self) -> str:
        """The name of the walk this asset's prices come from."""
        return self.walk or self.ticker

    @property
    def properties(self) -> SymbolProperties:
        """LEAN's symbol properties of this asset (crypto's are not in the file)."""
        if self.security_type in _CRYPTO:
            return _CRYPTO[self.security_type]
        return symbol_properties(self.market, self.ticker, self.security_type)


def _places(step: float) -> int:
    """Decimal places of a tick size: 0.25 -> 2, 0.015625 -> 6, 1e-05 -> 5, 1 -> 0."""
    return len(f"{step:.10f}".rstrip("0").split(".")[1])


@dataclass(eq=False)
class Contract:
    """A symbol one backtest trades, tradable from `listed` to `last_trade` (epoch seconds).

    Its price is its walk's (times `scale`, the adjustment factor of adjusted equity prices),
    or for an option the Black-Scholes value on its underlying's price.
    """

    value: str
    sid: str
    asset: Asset
    security_type: str
    properties: SymbolProperties
    walk: Walk
    listed: int
    last_trade: int
    underlying: Contract | None = None
    strike: float = 0.0
    put: bool = False
    expiry: int = 0  # options: when they expire; futures: when positions roll
    scale: float = 1.0
    spread_bps: float = 0.0
    decimals: int = field(init=False)
    type_code: int = field(init=False)
    as_json: JsonDict = field(init=False)
    _memo: tuple[float, float, float, float] = field(init=False)  # moment, mid, bid, ask
    _tick: float = field(init=False)  # in price units (adjusted prices: scaled)

    def __post_init__(self) -> None:
        self._memo = (math.nan, 0.0, 0.0, 0.0)
        self._tick = self.properties.tick * self.scale
        adjusted = self.scale != 1.0
        self.decimals = 9 if adjusted else _places(self.properties.tick)
        self.type_code = SECURITY_TYPES[self.security_type]
        data: JsonDict = {"value": self.value, "id": self.sid, "permtick": self.value}
        if self.underlying is not None:
            data["underlying"] = self.underlying.as_json
        self.as_json = data

    @property
    def is_option(self) -> bool:
        """Options on equities, indexes or futures."""
        return self.underlying is not None and self.security_type != "Future"

    @property
    def currency(self) -> str:
        """The quote currency."""
        return self.properties.currency

    @property
    def multiplier(self) -> float:
        """The value of one contract per point of price."""
        return self.properties.multiplier

    @property
    def margined(self) -> bool:
        """Whether fills settle only profit and loss (futures, CFDs, crypto futures)."""
        return self.security_type in MARGINED

    @property
    def event_permtick(self) -> str:
        """Order events of options carry the underlying's ticker as `symbolPermtick` (Lean's
        ReadOrdersResponseJsonConverterTests)."""
        return self.sid.split(" ", 1)[0] if self.is_option else self.value

    def round(self, price: float) -> float:
        """A price on the tick grid (or to 9 decimals for adjusted equity prices)."""
        if self.scale != 1.0:
            return round(price, 9)
        tick = self.properties.tick
        return round(round(price / tick) * tick, self.decimals)

    def mid(self, moment: float) -> float:
        """The price at `moment`."""
        return self._priced(moment)[1]

    def quote(self, moment: float) -> tuple[float, float]:
        """Bid and ask at `moment`: `spread_bps` of the price apart, at least a tick."""
        _, _, bid, ask = self._priced(moment)
        return bid, ask

    def rough_quote(self, moment: float) -> tuple[float, float]:
        """Bid and ask at `moment` off the tick grid: quick, for looking ahead (a fill then
        takes the real quote, bounded by the order's own price)."""
        mid = self._value(moment)
        half = mid * self.spread_bps / 20_000
        half = half if half > self._tick / 2 else self._tick / 2
        return mid - half, mid + half

    def _priced(self, moment: float) -> tuple[float, float, float, float]:
        """`(moment, mid, bid, ask)`, remembered for the last moment asked (the simulation
        asks for the same moment several times in a row)."""
        if self._memo[0] != moment:
            mid = self._value(moment)
            tick = self._tick
            ticks = round(mid * self.spread_bps / 10_000 / tick) or 1
            low = math.floor((mid - ticks * tick / 2) / tick) or 1
            bid, ask = round(low * tick, self.decimals), round((low + ticks) * tick, self.decimals)
            self._memo = (moment, mid, bid, ask)
        return self._memo

    def _value(self, moment: float) -> float:
        if self.underlying is None:
            return self.walk.at(moment) * self.scale
        spot = self.underlying.mid(moment)
        if not self.is_option:
            return spot
        years = (self.expiry - moment) / YEAR
        value = option_value(spot, self.strike, years, self.asset.option_volatility, self.put)
        return max(value, self.properties.tick) if years > 0 else value

    def intrinsic(self, spot: float) -> float:
        """An option's value at expiry for an underlying price of `spot`."""
        return max(self.strike - spot, 0.0) if self.put else max(spot - self.strike, 0.0)

    def fee(self, quantity: float, price: float) -> tuple[float, str]:
        """The brokerage fee of a fill, in the currency the fee model charges (LEAN's
        InteractiveBrokersFeeModel, FxcmFeeModel and Binance fee models, simplified)."""
        size, kind = abs(quantity), self.security_type
        value = size * price * self.multiplier
        if kind == "Equity":
            per_share = 0.005 * size
            amount = 1.0 if per_share < 1 else min(per_share, 0.005 * value)
            return round(amount, 4), "USD"
        if kind in ("Option", "IndexOption"):
            rate = 0.65 if price >= 0.1 else 0.5 if price >= 0.05 else 0.25
            return round(max(rate * size, 1.0), 2), "USD"
        if kind in ("Future", "FutureOption"):
            if self.currency == "EUR":  # Eurex: IB fee plus regulatory fee, in euros
                return round(1.02 * size, 2), "EUR"
            return round(2.47 * size, 2), "USD"  # IB fee, exchange fee and regulatory fee
        if kind == "Forex":
            return round(_FOREX_MAJORS_FEE * size / 1_000, 4), "USD"
        if kind == "Cfd":  # 0.002% of the value, with a minimum, in the quote currency
            floor = {"JPY": 40.0, "HKD": 10.0}.get(self.currency, 1.0)
            return round(max(0.00002 * value, floor), 4), self.currency
        rate = 0.0004 if kind == "CryptoFuture" else 0.001  # taker fees, in the quote currency
        return round(rate * value, 6), self.currency
