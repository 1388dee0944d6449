"""One backtest's market: the assets it can see, the lines it trades, prices and exchange rates.

A `Line` is what a strategy trades over the whole backtest: a fixed symbol (SPY, EURUSD,
BTCUSD) or a chain of dated contracts that roll (the front ES future; the front-month SPY call
near the money), each contract tradable only during its life and its market's hours. Which
lines a backtest trades depends on its strategy style (`STYLES`). Every price is a pure
function of time (`prices.Walk`), and so is every exchange rate.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pipelines.sandbox.hours import NEW_YORK, Schedule
from pipelines.sandbox.instruments import Asset, Contract
from pipelines.sandbox.prices import DAY, PriceModel, Walk
from pipelines.sandbox.properties import SymbolProperties, security_id, symbol_properties

_OPTION_SPREAD_BPS = 300.0  # options quote wider than their underlyings
_MONTH_CODES = "FGHJKMNQUVXZ"
_ROLL = timedelta(days=7)  # futures stop trading (positions roll) the Friday before expiry
_LAST_MINUTE = 60  # contracts stop trading a minute before they expire or roll
_HOURS_OF_TYPE = {"Option": "us_equity", "IndexOption": "us_equity", "FutureOption": "cme"}


def _equity(ticker: str, sid: str, level: float, volatility: float, band: float) -> Asset:
    model = PriceModel(level, volatility, level / band, level * band)
    return Asset(ticker, "Equity", "usa", "us_equity", model, 2.0, sid, option_volatility=0.28)


_SPX = PriceModel(4400, 0.011, 3500, 5500)
_BTC = PriceModel(42_000, 0.035, 20_000, 75_000)
_ZN = PriceModel(112, 0.004, 104, 121)
ASSETS = {
    asset.ticker: asset
    for asset in (
        _equity("SPY", "SPY R735QTJ8XC9X", 440.0, 0.011, 1.25),
        _equity("AAPL", "AAPL R735QTJ8XC9X", 175.0, 0.018, 1.35),
        _equity("MSFT", "MSFT R735QTJ8XC9X", 330.0, 0.017, 1.35),
        _equity("QQQ", "QQQ RIWIV7K5Z9LX", 370.0, 0.013, 1.3),
        _equity("TSLA", "TSLA UNU3P8Y3WFAD", 240.0, 0.034, 1.7),
        _equity("NVDA", "NVDA RHM8UTD8DT2D", 120.0, 0.029, 1.6),
        _equity("AMZN", "AMZN R735QTJ8XC9X", 135.0, 0.02, 1.4),
        _equity("IBM", "IBM R735QTJ8XC9X", 140.0, 0.012, 1.3),
        _equity("GOOG", "GOOCV VP83T1ZUHROL", 138.0, 0.018, 1.35),
        Asset("SPX", "Index", "usa", "us_equity", _SPX, sid="SPX 31", option_volatility=0.18),
        Asset("EURUSD", "Forex", "fxcm", "forex", PriceModel(1.09, 0.005, 1.01, 1.19), 1.1),
        Asset("GBPUSD", "Forex", "fxcm", "forex", PriceModel(1.27, 0.006, 1.16, 1.39), 1.2),
        Asset("USDJPY", "Forex", "fxcm", "forex", PriceModel(135.0, 0.006, 102, 158)),
        Asset("BTCUSD", "Crypto", "coinbase", "crypto", _BTC),
        Asset("ETHUSD", "Crypto", "coinbase", "crypto", PriceModel(2300, 0.04, 1100, 4200)),
        Asset("BTCUSDT", "CryptoFuture", "binance", "crypto", _BTC, 0.5, walk="BTCUSD"),
        Asset("ES", "Future", "cme", "cme", _SPX, 0.0, walk="SPX"),
        Asset("NQ", "Future", "cme", "cme", PriceModel(15_500, 0.014, 11_000, 20_000), 0.0),
        Asset("GC", "Future", "comex", "cme", PriceModel(1950, 0.009, 1600, 2500), 0.0),
        Asset("ZN", "Future", "cbot", "cme", _ZN, 0.0, option_volatility=0.07),
        Asset("FESX", "Future", "eurex", "eurex", PriceModel(4300, 0.012, 3400, 5100), 0.0),
        Asset("DE30EUR", "Cfd", "fxcm", "cme", PriceModel(15_800, 0.011, 12_000, 19_500)),
        Asset("JP225JPY", "Cfd", "fxcm", "cme", PriceModel(32_000, 0.013, 24_000, 40_000)),
    )
}
"""Every asset, by ticker: levels, daily volatilities and bands as the years around 2023 saw
them; the ES future shares the SPX walk, the BTCUSDT future the BTCUSD one."""

_STRIKE_STEPS = {"SPY": 5.0, "AAPL": 5.0, "GOOG": 5.0, "SPX": 25.0, "ZN": 0.5}
_OPTION_ROOTS = {"ZN": "OZN"}  # futures options trade under their own root


@dataclass(eq=False)
class Line:
    """What a strategy trades over a backtest: one contract, or a chain rolling by expiry."""

    name: str
    contracts: list[Contract]
    schedule: Schedule
    tradable: bool = True

    def __post_init__(self) -> None:
        self._last_trades = [c.last_trade for c in self.contracts]

    def contract_at(self, moment: float) -> Contract | None:
        """The contract traded at `moment`: the front one still trading, if listed yet."""
        index = bisect.bisect_left(self._last_trades, moment)
        if index == len(self.contracts) or self.contracts[index].listed > moment:
            return None
        return self.contracts[index]


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _at(day: date, moment: time, zone=UTC) -> int:
    return int(datetime.combine(day, moment, zone).timestamp())


def _months(first: int, last: int, step: int) -> list[tuple[int, int]]:
    """`(year, month)` of every `step`-th month (quarters: 3, 6, 9, 12) around the window."""
    day = datetime.fromtimestamp(first, UTC).date() - timedelta(days=60)
    year, month = day.year, day.month
    stop = datetime.fromtimestamp(last, UTC).date() + timedelta(days=200)
    found = []
    while date(year, month, 1) <= stop:
        if month % step == 0:
            found.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


class Market:
    """The market of one backtest, from `first` to `last` (epoch seconds)."""

    def __init__(self, name: str, first: int, last: int) -> None:
        self.name, self.first, self.last = name, first, last
        self._walks: dict[str, Walk] = {}
        self._hours: dict[str, Schedule] = {}

    def walk(self, name: str) -> Walk:
        """The walk of an asset's prices, made when first asked for."""
        if name not in self._walks:
            days = (self.last - self.first) // DAY + 2
            walk = Walk(ASSETS[name].model, self.first // DAY, days, f"{self.name}:{name}")
            self._walks[name] = walk
        return self._walks[name]

    def hours(self, kind: str) -> Schedule:
        """A market kind's sessions over the backtest."""
        if kind not in self._hours:
            self._hours[kind] = Schedule.of(kind, self.first, self.last)
        return self._hours[kind]

    def usd(self, currency: str, moment: float) -> float:
        """What one unit of `currency` is worth in US dollars at `moment`."""
        if currency in ("USD", "USDT"):  # USDT: pegged, taken at par
            return 1.0
        if currency == "JPY":
            return 1 / self.walk("USDJPY").at(moment)
        if currency == "HKD":  # pegged
            return 1 / 7.8
        return self.walk(f"{currency}USD").at(moment)

    # -- lines --

    def fixed(self, ticker: str, scale: float = 1.0, tradable: bool = True) -> Line:
        """A line of one symbol that trades the whole backtest."""
        asset = ASSETS[ticker]
        sid = asset.sid or security_id(ticker, asset.security_type, asset.market)
        contract = Contract(
            ticker,
            sid,
            asset,
            asset.security_type,
            asset.properties,
            self.walk(asset.walk_name),
            self.first,
            self.last,
            scale=scale,
            spread_bps=asset.spread_bps,
        )
        return self._line(ticker, [contract], asset.hours, tradable)

    def futures(self, root: str) -> Line:
        """The front contract of a quarterly future, rolled at its market's last close a week
        before expiry (the contract's `expiry` here), traded until a minute before."""
        asset = ASSETS[root]
        hours = self.hours(asset.hours)
        contracts = []
        for year, month in _months(self.first, self.last, 3):
            expiry = _third_friday(year, month)
            nominal = _at(expiry - _ROLL, time(17, 0), NEW_YORK)
            roll = nominal if hours.is_open(nominal) else hours.close_before(nominal) or nominal
            value = f"{root}{_MONTH_CODES[month - 1]}{year % 100:02d}"
            sid = security_id(root, "Future", asset.market, expiry)
            walk = self.walk(asset.walk_name)
            contract = Contract(
                value,
                sid,
                asset,
                "Future",
                asset.properties,
                walk,
                roll - 365 * DAY,
                roll - _LAST_MINUTE,
                expiry=roll,
            )
            contracts.append(contract)
        return self._line(root, contracts, asset.hours)

    def options(self, underlying: Line, put: bool, kind: str) -> Line:
        """The front-month option near the money at its listing, on each underlying contract:
        monthly on equities and indexes, quarterly (three weeks before the future) on futures."""
        asset = underlying.contracts[0].asset
        root = _OPTION_ROOTS.get(asset.ticker, asset.ticker)
        step = _STRIKE_STEPS[asset.ticker]
        contracts = []
        for expiry, parent in self._expiries(underlying):
            expires = _at(expiry, time(16, 0), NEW_YORK)
            listed = max(expires - 50 * DAY, parent.listed)
            strike = round(parent.mid(listed) / step + (-1 if put else 1)) * step
            right = "P" if put else "C"
            value = f"{root:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"
            european = kind == "IndexOption"
            sid = security_id(root, kind, asset.market, expiry, strike, put, european, parent.sid)
            props = _option_properties(asset, root, kind)
            contract = Contract(
                value,
                sid,
                asset,
                kind,
                props,
                parent.walk,
                listed,
                expires - _LAST_MINUTE,
                parent,
                strike,
                put,
                expires,
                spread_bps=_OPTION_SPREAD_BPS,
            )
            contracts.append(contract)
        return self._line(f"{root} {'put' if put else 'call'}", contracts, _HOURS_OF_TYPE[kind])

    def _expiries(self, underlying: Line) -> list[tuple[date, Contract]]:
        parent = underlying.contracts[0]
        if parent.security_type != "Future":
            return [(_third_friday(y, m), parent) for y, m in _months(self.first, self.last, 1)]
        return [
            (datetime.fromtimestamp(f.expiry, NEW_YORK).date() + _ROLL - timedelta(days=21), f)
            for f in underlying.contracts
        ]

    def _line(
        self, name: str, contracts: list[Contract], hours: str, tradable: bool = True
    ) -> Line:
        schedule = self.hours(hours)
        sessions = [
            session
            for contract in contracts
            for session in schedule.cut(
                max(contract.listed, self.first), min(contract.last_trade, self.last)
            )
        ]
        return Line(name, contracts, Schedule(sessions), tradable)


def _option_properties(asset: Asset, root: str, kind: str) -> SymbolProperties:
    return symbol_properties("usa" if kind != "FutureOption" else asset.market, root, kind)


def _styled(market: Market, rng: random.Random, style: str, adjusted: bool) -> list[Line]:
    """The lines a strategy of `style` trades."""
    if style == "equity":
        picks = rng.sample(
            [a for a in ASSETS.values() if a.security_type == "Equity"], rng.randint(1, 4)
        )
        return [market.fixed(a.ticker, rng.uniform(0.9, 0.999) if adjusted else 1.0) for a in picks]
    if style in ("options", "index_options", "future_options"):
        ticker = {"index_options": "SPX", "future_options": "ZN"}.get(style) or rng.choice(
            ["SPY", "AAPL", "GOOG"]
        )
        kind = {"index_options": "IndexOption", "future_options": "FutureOption"}.get(
            style, "Option"
        )
        underlying = (
            market.futures(ticker)
            if style == "future_options"
            else market.fixed(ticker, tradable=style != "index_options")
        )
        return [
            underlying,
            market.options(underlying, False, kind),
            market.options(underlying, True, kind),
        ]
    if style == "futures":
        roots = dict.fromkeys(rng.sample(["ES", "NQ", "GC", "FESX", "FESX"], 2))
        return [market.futures(root) for root in list(roots)[: rng.randint(1, 2)]]
    if style == "mixed":
        spy = market.fixed("SPY")
        return [
            spy,
            market.options(spy, False, "Option"),
            market.fixed("EURUSD"),
            market.fixed("BTCUSD"),
        ]
    tickers = {
        "forex": ["EURUSD", "GBPUSD", "USDJPY"],
        "crypto": ["BTCUSD", "ETHUSD"],
        "crypto_futures": ["BTCUSDT", "BTCUSDT", "ETHUSD"],
        "cfd": ["JP225JPY", "DE30EUR", "JP225JPY"],
    }[style]
    return [
        market.fixed(t) for t in dict.fromkeys(rng.sample(tickers, rng.randint(1, len(tickers))))
    ]


STYLES = {
    "equity": 30,
    "options": 14,
    "forex": 10,
    "futures": 10,
    "crypto": 7,
    "cfd": 6,
    "index_options": 6,
    "future_options": 6,
    "crypto_futures": 5,
    "mixed": 6,
}
"""Strategy styles and how often a backtest has each."""


def trading_lines(market: Market, rng: random.Random, adjusted: bool) -> tuple[str, list[Line]]:
    """A backtest's strategy style and the lines it trades."""
    style = rng.choices(list(STYLES), list(STYLES.values()))[0]
    return style, _styled(market, rng, style, adjusted)
