"""Deterministic QuantConnect-shaped data: projects, backtests, statistics, orders and events.

Everything derives from `(seed, identity)` through `random.Random` (string seeds hash with
SHA-512, so they are stable across processes) and a fixed `NOW`, never the wall clock: the same
seed gives byte-identical API responses in any process. A backtest's orders are generated only
when asked for, and their serialized JSON sits in a bounded LRU cache, so even the `large` size
(about a million orders) never has to be in memory at once. `SandboxAccount.warm` instead
generates every backtest's orders up front and keeps them all, for benchmarks that must not
measure the generator.

Shapes follow `/work/shared/reference/quantconnect-api.md` (cited below as "ref §N").
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import math
import random
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

JsonDict = dict[str, Any]

NOW = datetime(2025, 10, 31, 15, 0, 0, tzinfo=UTC)
"""The sandbox's fixed "now": the newest backtests were created just before it."""

ORDER_CACHE_BACKTESTS = 48
"""How many backtests' serialized orders the LRU cache keeps (about 1.5 MB per 1,000 orders)."""

# Statistics keys changed over time (ref §5): backtests carry the keys of the Lean that ran them.
PORTFOLIO_TURNOVER_ADDED = datetime(2023, 3, 1, tzinfo=UTC)
SORTINO_ADDED = datetime(2023, 12, 1, tzinfo=UTC)
TOTAL_ORDERS_RENAMED = datetime(2024, 3, 6, tzinfo=UTC)  # "Total Trades" -> "Total Orders"
DRAWDOWN_RECOVERY_ADDED = datetime(2025, 7, 1, tzinfo=UTC)

SESSION_SECONDS = 23_400  # 09:30-16:00 New York, as 13:30-20:00 UTC
SESSION_OPEN = time(13, 30)


@dataclass(frozen=True)
class SandboxSize:
    """How much data the sandbox account holds."""

    projects: int = 4
    backtests_per_project: int = 8
    orders_per_backtest: int = 150

    def __post_init__(self) -> None:
        if min(self.projects, self.backtests_per_project, self.orders_per_backtest) < 0:
            raise ValueError("sandbox sizes must not be negative")

    @property
    def approximate_orders(self) -> int:
        """The expected order count of the whole account (per-backtest counts vary 0.3x-1.7x)."""
        return self.projects * self.backtests_per_project * self.orders_per_backtest


SIZES: dict[str, SandboxSize] = {
    "demo": SandboxSize(4, 8, 150),
    "small": SandboxSize(5, 10, 200),
    "medium": SandboxSize(10, 20, 1_000),
    "large": SandboxSize(20, 50, 1_000),
}
"""Named presets: demo ~4.8k orders, small ~10k, medium ~200k, large ~1M."""


# --- Symbols -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Symbol:
    value: str
    id: str
    security_type: int  # ref §6 securityType enum
    price: float  # typical starting price
    volatility: float  # daily
    decimals: int
    lot: float = 1.0
    currency: str = "USD"
    multiplier: float = 1.0
    underlying: _Symbol | None = None
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


def _equity(value: str, sid: str, price: float, volatility: float = 0.018) -> _Symbol:
    return _Symbol(value, sid, 1, price, volatility, 2)


def _option(value: str, sid: str, underlying: _Symbol, price: float) -> _Symbol:
    return _Symbol(value, sid, 2, price, 0.06, 2, multiplier=100.0, underlying=underlying)


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
    _Symbol("EURUSD", "EURUSD 8G", 4, 1.0842, 0.005, 5, lot=1_000.0),
    _Symbol("GBPUSD", "GBPUSD 8G", 4, 1.2631, 0.006, 5, lot=1_000.0),
    _Symbol("USDJPY", "USDJPY 8G", 4, 148.21, 0.006, 3, lot=1_000.0, currency="JPY"),
)
CRYPTO = (
    _Symbol("BTCUSD", "BTCUSD 2XR", 7, 42_150.0, 0.035, 2, lot=0.0001),
    _Symbol("ETHUSD", "ETHUSD 2XR", 7, 2_290.0, 0.04, 2, lot=0.0001),
)
FUTURES = (
    _Symbol("ESZ24", "ES YOGVNNAOI1OH", 5, 4_712.25, 0.011, 2, multiplier=50.0),
    _Symbol("NQZ24", "NQ YOGVNNAOIJQ9", 5, 16_480.5, 0.014, 2, multiplier=20.0),
)
SECURITY_TYPE_NAMES = {1: "Equity", 2: "Option", 4: "Forex", 5: "Future", 7: "Crypto"}


def _pick_universe(rng: random.Random) -> tuple[_Symbol, ...]:
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


# --- Backtest records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Backtest:
    """One backtest's identity and state. Replaced, never mutated, so readers see a snapshot."""

    project_id: int
    backtest_id: str
    name: str
    created: datetime
    iso_created: bool  # ref §4: "yyyy-MM-dd HH:mm:ss", or ISO "...Z" since Aug 2025
    state: str  # "completed" | "running" | "queued" | "error"
    progress: float
    order_count: int  # orders once finished; an errored backtest's count stops at the error
    start: date  # a Monday
    tradeable_dates: int
    universe: tuple[_Symbol, ...]
    equity_mode: int  # priceAdjustmentMode of equities
    null_messages: bool  # older Lean wrote "message": null on events without a message
    currency: str
    parameter_set: JsonDict
    tags: tuple[str, ...]
    optimization_id: str | None
    snapshot_id: int
    note: str | None
    node_name: str
    language: str

    @property
    def finished(self) -> bool:
        """Completed or stopped on a runtime error: statistics and orders are final."""
        return self.state in ("completed", "error")

    @property
    def served_orders(self) -> int:
        """How many orders the API serves now: a running backtest's orders so far."""
        if self.finished:
            return self.order_count
        return int(self.order_count * self.progress) if self.state == "running" else 0

    @property
    def end(self) -> date:
        weeks, days = divmod(self.tradeable_dates - 1, 5)
        return self.start + timedelta(weeks=weeks, days=days)

    @property
    def status(self) -> str:
        return {
            "completed": "Completed.",
            "running": f"Running: {int(self.progress * 100)}%",
            "queued": "In Queue...",
            "error": "Runtime Error",
        }[self.state]


def _hex_id(*parts: object) -> str:
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()


def _format_created(moment: datetime, iso: bool) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S")


def _iso(moment: datetime | date) -> str:
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=8192)
def _iso_day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _iso_epoch(seconds: float) -> str:
    """`2013-10-07T13:31:00Z` for epoch seconds (strftime is slow on the order hot path)."""
    day, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    return f"{_iso_day(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


_ADJECTIVES = ("Smooth", "Geeky", "Calm", "Fierce", "Muscular", "Swimming", "Crawling", "Dancing")
_COLORS = ("Yellow", "Red Orange", "Blue", "Sky Blue", "Apricot", "Violet", "Tan", "Fluorescent")
_ANIMALS = ("Badger", "Lion", "Falcon", "Gull", "Jackal", "Alpaca", "Hornet", "Koala", "Beaver")
_CUSTOM_NAMES = ("Baseline", "v2 with stop loss", "Réglage : lookback 60", "No hedge ⚠", "回测 #3")
_TAGS = ("baseline", "wip", "live-candidate", "hedged", "v2", "paper", "regime-filter")
_NODES = ("B-MICRO", "B2-8", "B4-12", "B8-16")
_PROFILE_IMAGE = "https://cdn.quantconnect.com/web/i/users/profile/default.png"
_OWNER = {
    "uid": 100001,
    "liveControl": True,
    "permission": "write",
    "publicId": "sandbox-quant",
    "profileImage": _PROFILE_IMAGE,
    "email": "sandbox@example.com",
    "name": "Sandbox Quant",
    "bio": "",
    "owner": True,
}
_COLLABORATOR = {
    **_OWNER,
    "uid": 100117,
    "liveControl": False,
    "permission": "read",
    "publicId": "jane-doe",
    "email": "jane@example.com",
    "name": "Jane Doe",
    "bio": "Options researcher",
    "owner": False,
}
_GRID_ITEM = {
    "chartName": "Strategy Equity",
    "width": 12,
    "height": 6,
    "row": 0,
    "column": 0,
    "sort": 0,
}
_PARAMETER_NAMES = ("lookback", "threshold", "rebalance", "universe_size", "stop_loss")
_ERRORS = {
    "Py": (
        (
            "Runtime Error: 'NoneType' object has no attribute 'close'",
            "  at on_data\n    bar = data.bars[self._symbol].close\n in main.py: line 48\n"
            " AttributeError : 'NoneType' object has no attribute 'close'",
        ),
        (
            # Error strings may arrive HTML-entity encoded (ref §9.9).
            "Runtime Error: The given key &#039;AAPL R735QTJ8XC9X&#039; was not present in the"
            " dictionary.",
            "  at rebalance\n    price = self.securities[symbol].price\n in main.py: line 112\n"
            " KeyError : 'AAPL R735QTJ8XC9X'",
        ),
        (
            "Runtime Error: division by zero",
            "  at rebalance\n    weight = 1 / len(self._active)\n in main.py: line 87\n"
            " ZeroDivisionError : division by zero",
        ),
    ),
    "C#": (
        (
            "Runtime Error: Object reference not set to an instance of an object.",
            "System.NullReferenceException: Object reference not set to an instance of an object."
            "\n   at QuantConnect.Algorithm.CSharp.MomentumRotation.OnData(Slice slice) in"
            " Main.cs:line 64",
        ),
        (
            "Runtime Error: Index was outside the bounds of the array.",
            "System.IndexOutOfRangeException: Index was outside the bounds of the array.\n   at"
            " QuantConnect.Algorithm.CSharp.PairsTrading.Rebalance() in Main.cs:line 131",
        ),
    ),
}


def _backtest_name(rng: random.Random, optimization_id: str | None) -> str:
    if optimization_id:
        return f"Optimization {rng.randint(1, 40)} - lookback: {rng.choice([10, 20, 60, 120])}"
    if rng.random() < 0.2:
        return rng.choice(_CUSTOM_NAMES)
    return f"{rng.choice(_ADJECTIVES)} {rng.choice(_COLORS)} {rng.choice(_ANIMALS)}"


def _parameter_set(rng: random.Random, names: tuple[str, ...]) -> JsonDict:
    """Mixed string and number values, like the live-tested `{'a': 0, 'b': 0.0, 'c': 'foo'}`."""
    values: list[Any] = [rng.choice([10, 20, 60]), "0.5", rng.choice(["weekly", "daily"]), 0.0]
    return {name: values[i % len(values)] for i, name in enumerate(names)}


def _random_moment(rng: random.Random, first: datetime, last: datetime) -> datetime:
    return first + timedelta(seconds=rng.randint(0, int((last - first).total_seconds())))


def _monday_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


# --- Statistics --------------------------------------------------------------------------------


def _trim(value: float, places: int) -> str:
    """Invariant-culture decimal text without trailing zeros: 1.970 -> "1.97", 0 -> "0"."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pct3(value: float) -> str:
    """Ref §5: "271.453%", "2.200%"; a zero prints as "0%"."""
    return "0%" if value == 0 else f"{value:.3f}%"


def _capacity(value: float, currency: str) -> str:
    """Ref §5: capacity rounded to 2 significant digits, money with no thousands separator."""
    return f"{currency}{float(f'{value:.2g}'):.2f}"


def _n2(value: float, currency: str) -> str:
    """Ref §5: runtime statistics use .NET "N2": "$100,670.36", negatives as "$-4.94"."""
    return f"{currency}{value:,.2f}"


@dataclass(frozen=True)
class _Performance:
    """The numbers behind one backtest's statistics, in the units the API prints (percent)."""

    net_profit: float
    car: float
    drawdown: float
    sharpe: float
    sortino: float
    psr: float
    win_rate: float
    average_win: float
    average_loss: float
    alpha: float
    beta: float
    annual_std: float
    information_ratio: float
    tracking_error: float
    treynor: float
    start_equity: float
    fees: float
    capacity: float
    turnover: float
    recovery: int
    lowest_capacity_asset: str
    holdings: float
    unrealized: float
    volume: float

    @property
    def loss_rate(self) -> float:
        return 0.0 if self.win_rate == 0 else 100.0 - self.win_rate

    @property
    def end_equity(self) -> float:
        return round(self.start_equity * (1 + self.net_profit / 100), 2)

    @property
    def profit_loss_ratio(self) -> float:
        return 0.0 if self.average_loss == 0 else self.average_win / -self.average_loss

    @property
    def expectancy(self) -> float:
        if self.win_rate == 0:
            return 0.0
        return self.win_rate / 100 * self.profit_loss_ratio - self.loss_rate / 100


def _performance(seed: int, backtest: _Backtest) -> _Performance:
    rng = random.Random(f"{seed}:performance:{backtest.backtest_id}")
    start_equity = rng.choice([100_000.0, 100_000.0, 1_000_000.0, 25_000.0])
    if backtest.order_count == 0:
        zeros = dict.fromkeys((f.name for f in dataclasses.fields(_Performance)), 0.0)
        return _Performance(
            **{**zeros, "start_equity": start_equity, "recovery": 0, "lowest_capacity_asset": ""}
        )
    years = backtest.tradeable_dates / 252
    net_profit = max(-85.0, rng.gauss(7.0, 20.0))
    sharpe = rng.gauss(0.6, 0.9)
    annual_std = rng.uniform(0.05, 0.45)
    beta = rng.gauss(0.8, 0.4)
    lowest = min(backtest.universe, key=lambda s: (s.security_type != 2, s.value))
    return _Performance(
        net_profit=net_profit,
        car=((1 + net_profit / 100) ** (1 / years) - 1) * 100,
        drawdown=abs(rng.gauss(12.0, 8.0)) + 0.4,
        sharpe=sharpe,
        sortino=sharpe * rng.uniform(1.1, 1.6),
        psr=100 / (1 + math.exp(-2.5 * sharpe + 1.0)),
        win_rate=float(rng.randint(25, 75)),
        average_win=rng.uniform(0.05, 3.0),
        average_loss=-rng.uniform(0.05, 2.5),
        alpha=rng.gauss(0.01, 0.06),
        beta=beta,
        annual_std=annual_std,
        information_ratio=rng.gauss(0.0, 0.8),
        tracking_error=rng.uniform(0.02, 0.3),
        treynor=sharpe * annual_std / beta if abs(beta) > 0.05 else 0.0,
        start_equity=start_equity,
        fees=backtest.order_count * rng.uniform(0.9, 4.5),
        capacity=10 ** rng.uniform(4.5, 9.5),
        turnover=rng.uniform(0.5, 80.0),
        recovery=rng.randint(0, 420),
        lowest_capacity_asset=lowest.id,
        holdings=rng.choice([0.0, start_equity * rng.uniform(0.1, 0.9)]),
        unrealized=rng.gauss(0, start_equity * 0.002),
        volume=start_equity * rng.uniform(2, 40),
    )


def _statistics(backtest: _Backtest, perf: _Performance) -> JsonDict:
    """The `statistics` map as Lean's StatisticsBuilder formats it (ref §5)."""
    created, money = backtest.created, backtest.currency
    orders_key = "Total Orders" if created >= TOTAL_ORDERS_RENAMED else "Total Trades"
    stats: JsonDict = {
        orders_key: str(backtest.order_count),
        "Average Win": f"{_trim(perf.average_win, 2)}%",
        "Average Loss": f"{_trim(perf.average_loss, 2)}%",
        "Compounding Annual Return": _pct3(perf.car),
        "Drawdown": _pct3(perf.drawdown),
        "Expectancy": _trim(perf.expectancy, 3),
    }
    if created >= TOTAL_ORDERS_RENAMED:
        stats["Start Equity"] = _trim(perf.start_equity, 2)
        stats["End Equity"] = _trim(perf.end_equity, 2)
    stats["Net Profit"] = _pct3(perf.net_profit)
    stats["Sharpe Ratio"] = _trim(perf.sharpe, 3)
    if created >= SORTINO_ADDED:
        stats["Sortino Ratio"] = _trim(perf.sortino, 3)
    stats.update(
        {
            "Probabilistic Sharpe Ratio": _pct3(perf.psr),
            "Loss Rate": f"{perf.loss_rate:.0f}%",
            "Win Rate": f"{perf.win_rate:.0f}%",
            "Profit-Loss Ratio": _trim(perf.profit_loss_ratio, 2),
            "Alpha": _trim(perf.alpha, 3),
            "Beta": _trim(perf.beta, 3),
            "Annual Standard Deviation": _trim(perf.annual_std, 3),
            "Annual Variance": _trim(perf.annual_std**2, 3),
            "Information Ratio": _trim(perf.information_ratio, 3),
            "Tracking Error": _trim(perf.tracking_error, 3),
            "Treynor Ratio": _trim(perf.treynor, 3),
            "Total Fees": f"{money}{perf.fees:.2f}",
            "Estimated Strategy Capacity": _capacity(perf.capacity, money),
            "Lowest Capacity Asset": perf.lowest_capacity_asset,
        }
    )
    if created >= PORTFOLIO_TURNOVER_ADDED:
        stats["Portfolio Turnover"] = f"{perf.turnover:.2f}%"
    if created >= DRAWDOWN_RECOVERY_ADDED:
        stats["Drawdown Recovery"] = str(perf.recovery)
    if backtest.state == "error":
        # Placeholders for values a crashed run could not compute (ref §5, §9.2).
        stats["Probabilistic Sharpe Ratio"] = "-"
        stats["Information Ratio"] = "-"
    return stats


def _runtime_statistics(backtest: _Backtest, perf: _Performance) -> JsonDict:
    """`runtimeStatistics` with N2 money, "-$" fees and "P" percentages (ref §5)."""
    share = 1.0 if backtest.finished else backtest.progress
    net = perf.start_equity * perf.net_profit / 100 * share
    money = backtest.currency
    return {
        "Equity": _n2(perf.start_equity + net, money),
        "Fees": f"-{_n2(perf.fees * share, money)}",
        "Holdings": _n2(perf.holdings, money),
        "Net Profit": _n2(net, money),
        "Probabilistic Sharpe Ratio": f"{perf.psr * share:.0f}%",
        "Return": f"{net / perf.start_equity * 100:,.2f} %",
        "Unrealized": _n2(perf.unrealized, money),
        "Volume": _n2(perf.volume * share, money),
    }


def _total_performance(backtest: _Backtest, perf: _Performance) -> JsonDict:
    """A small `totalPerformance` (OAS AlgorithmPerformance): fractions, camelCase keys."""
    trades = backtest.order_count // 2
    winners = round(trades * perf.win_rate / 100)
    pnl = perf.end_equity - perf.start_equity
    return {
        "tradeStatistics": {
            "startDateTime": _iso(backtest.start),
            "endDateTime": _iso(backtest.end),
            "totalNumberOfTrades": trades,
            "numberOfWinningTrades": winners,
            "numberOfLosingTrades": trades - winners,
            "totalProfitLoss": round(pnl, 2),
            "winRate": round(perf.win_rate / 100, 4),
            "lossRate": round(perf.loss_rate / 100, 4),
            "profitLossRatio": round(perf.profit_loss_ratio, 4),
            "totalFees": round(perf.fees, 2),
        },
        "portfolioStatistics": {
            "averageWinRate": round(perf.average_win / 100, 6),
            "averageLossRate": round(perf.average_loss / 100, 6),
            "startEquity": perf.start_equity,
            "endEquity": perf.end_equity,
            "compoundingAnnualReturn": round(perf.car / 100, 6),
            "drawdown": round(perf.drawdown / 100, 4),
            "totalNetProfit": round(perf.net_profit / 100, 6),
            "sharpeRatio": round(perf.sharpe, 4),
            "probabilisticSharpeRatio": round(perf.psr / 100, 6),
            "alpha": round(perf.alpha, 4),
            "beta": round(perf.beta, 4),
            "portfolioTurnover": round(perf.turnover / 100, 4),
        },
        "closedTrades": [],
    }


# --- Orders and events ---------------------------------------------------------------------------

_ORDER_TAGS = (
    "Rebalance",
    "Entry",
    "Exit",
    "Stop loss",
    "Take profit 🎯",
    "Réallocation mensuelle",
    "利確",
    "e|sig=momentum z=1.84",
)
_INVALID_MESSAGES = (
    "Order Error: ids: [{id}], Insufficient buying power to complete orders (Value:[{value}]),"
    " Reason: Id: {id}, Initial Margin: {margin}, Free Margin: 1204.31.",
    "Order Error: ids: [{id}], Security {symbol} has no price data yet: it is not tradable.",
    "Order Error: ids: [{id}], Exchange is closed for this security.",
)
_CANCEL_MESSAGES = ("", "", "Canceled by the algorithm", "Order canceled: signal reversed")


@dataclass
class _Draft:
    """An order being built; `_OrderGenerator._finish` turns it into the API's JSON."""

    id: int
    type: int  # ref §6 order type enum
    symbol: _Symbol
    quantity: float
    created: int  # epoch seconds
    status: int = 3
    price: float = 0.0
    before_type: JsonDict = field(default_factory=dict)  # Json.NET writes subclass keys first
    after_type: JsonDict = field(default_factory=dict)
    event_prices: JsonDict = field(default_factory=dict)  # stopPrice/limitPrice on events
    events: list[JsonDict] = field(default_factory=list)
    tag: str = ""
    properties: JsonDict = field(default_factory=lambda: {"timeInForce": {}})
    submission: JsonDict | None = None
    marketable: bool = False
    group: JsonDict | None = None
    last_fill: float | None = None
    last_update: float | None = None
    canceled: float | None = None


class _OrderGenerator:
    """Simulates one backtest's order flow: per-symbol random walks, orders and their events."""

    def __init__(self, backtest: _Backtest, seed: int) -> None:
        self.backtest = backtest
        self.rng = random.Random(f"{seed}:orders:{backtest.backtest_id}")
        self.prices = {s.value: s.price * self.rng.uniform(0.8, 1.2) for s in backtest.universe}
        self.walked_at = dict.fromkeys(self.prices, 0.0)
        self.session_start = datetime.combine(backtest.start, SESSION_OPEN, UTC).timestamp()
        self.horizon = backtest.tradeable_dates * SESSION_SECONDS
        self.clock = 0.0
        self.orders: list[JsonDict] = []
        self.groups = 0

    def run(self) -> list[JsonDict]:
        """Every order of the backtest, ids 1..order_count."""
        step = self.horizon / (self.backtest.order_count + 1)
        while len(self.orders) < self.backtest.order_count:
            self.clock = min(self.clock + self.rng.expovariate(1 / step), self.horizon - 120)
            self._next()
        return self.orders

    # -- time and prices --

    def _now(self) -> int:
        """Epoch seconds of the clock: whole minutes inside weekday sessions."""
        day, offset = divmod(int(self.clock), SESSION_SECONDS)
        weeks, weekday = divmod(day, 5)
        minute = min(offset // 60 + 1, SESSION_SECONDS // 60 - 1)
        return int(self.session_start) + (weeks * 7 + weekday) * 86_400 + minute * 60

    def _price(self, symbol: _Symbol) -> float:
        elapsed_days = (self.clock - self.walked_at[symbol.value]) / SESSION_SECONDS
        shock = symbol.volatility * math.sqrt(max(elapsed_days, 1e-4)) * self.rng.gauss(0, 1)
        price = max(self.prices[symbol.value] * math.exp(shock), 0.05)
        self.prices[symbol.value], self.walked_at[symbol.value] = price, self.clock
        return price

    def _decimals(self, symbol: _Symbol) -> int:
        # Adjusted equity prices carry long decimals ("price": 138.513986945, ref §6).
        return (
            9 if symbol.security_type == 1 and self.backtest.equity_mode == 1 else symbol.decimals
        )

    def _round(self, symbol: _Symbol, price: float) -> float:
        return round(price, self._decimals(symbol))

    def _quote(self, symbol: _Symbol, price: float) -> tuple[float, float]:
        half = {1: 0.0002 * price, 2: 0.03, 4: 0.00004 * price, 7: 0.0004 * price, 5: 0.125}
        bid = self._round(symbol, price - max(half[symbol.security_type], 0.005))
        ask = self._round(symbol, price + max(half[symbol.security_type], 0.005))
        return bid, ask

    def _quantity(self, symbol: _Symbol) -> float:
        sign = 1 if self.rng.random() < 0.55 else -1
        kind = symbol.security_type
        if kind == 1:
            return float(sign * self.rng.randint(1, 400))
        if kind == 4:
            return float(sign * self.rng.randint(1, 60) * 1_000)
        if kind == 7:
            notional = self.rng.uniform(500, 40_000)
            return sign * max(round(notional / self.prices[symbol.value], 4), 0.0001)
        return float(sign * self.rng.randint(1, 10 if kind == 2 else 4))

    @staticmethod
    def _fee(symbol: _Symbol, quantity: float, price: float) -> float:
        """Brokerage-like fees: per share, per contract, or on the notional."""
        size, kind = abs(quantity), symbol.security_type
        if kind == 1:
            return round(max(1.0, 0.005 * size), 2)
        if kind == 2:
            return round(max(1.0, 0.65 * size), 2)
        if kind == 4:
            return round(max(2.0, 0.00002 * size * price), 2)
        if kind == 7:
            return round(0.0016 * size * price, 4)
        return round(1.85 * size, 2)

    # -- order families --

    def _next(self) -> None:
        universe = self.backtest.universe
        symbol = self.rng.choice(universe)
        remaining = self.backtest.order_count - len(self.orders)
        options = [s for s in universe if s.security_type == 2]
        weights: dict[str, int] = {"market": 55, "resting": 30}
        if symbol.security_type == 1:
            weights["auction"] = 6
        if symbol.security_type == 2:
            weights["exercise"] = 3
        if len(options) >= 2 and remaining >= 2:
            weights["combo"] = 8
        family = self.rng.choices(list(weights), list(weights.values()))[0]
        if family == "combo":
            self._combo(options, remaining)
        elif family == "exercise":
            self._exercise(symbol)
        elif family == "resting" and symbol.security_type != 2:
            self._resting(symbol)
        elif family == "resting":
            self._resting(symbol, order_type=1)
        else:
            self._market(symbol, self.rng.choice([4, 5]) if family == "auction" else 0)

    def _new(self, order_type: int, symbol: _Symbol, quantity: float) -> _Draft:
        draft = _Draft(len(self.orders) + 1, order_type, symbol, quantity, self._now())
        if self.rng.random() < 0.3:
            draft.tag = self.rng.choice(_ORDER_TAGS)
        return draft

    def _market(self, symbol: _Symbol, order_type: int) -> None:
        """Market (0), market-on-open (4) or market-on-close (5)."""
        price = self._price(symbol)
        draft = self._new(order_type, symbol, self._quantity(symbol))
        bid, ask = self._quote(symbol, price)
        draft.price = ask if draft.quantity > 0 else bid
        draft.submission = self._submission(symbol, bid, ask, price)
        draft.marketable = order_type == 0
        if self.rng.random() < 0.03:
            self._invalid(draft)
        else:
            self._event(draft, "submitted", draft.created)
            delay = 0 if order_type == 0 else self.rng.randint(1, 18) * 1_800
            self._fill(draft, draft.created + delay, draft.price)
        self._finish(draft)

    def _resting(self, symbol: _Symbol, order_type: int | None = None) -> None:
        """Limit (1), stop market (2), stop limit (3), limit-if-touched (7), trailing stop (11)."""
        if order_type is None:
            order_type = self.rng.choices([1, 2, 3, 7, 11], [12, 5, 3, 3, 4])[0]
        price = self._price(symbol)
        draft = self._new(order_type, symbol, self._quantity(symbol))
        bid, ask = self._quote(symbol, price)
        side = 1 if draft.quantity > 0 else -1
        away = self.rng.uniform(0.002, 0.03)
        limit = self._round(symbol, price * (1 - side * away))
        stop = self._round(symbol, price * (1 + side * away))
        if self.rng.random() < 0.1:  # a limit through the market
            limit = self._round(symbol, price * (1 + side * away / 4))
        if self.rng.random() < 0.2:
            expiry = date.fromtimestamp(draft.created) + timedelta(days=self.rng.randint(1, 30))
            draft.properties = {"timeInForce": {"expiry": _iso(expiry)}}
        draft.price = price = self._round(symbol, price)
        draft.submission = self._submission(symbol, bid, ask, price)
        fill_price = self._typed_prices(draft, limit, stop, (bid, ask))

        outcome = self.rng.choices(
            ["filled", "canceled", "updated", "open", "partial", "invalid"], [60, 27, 4, 4, 3, 2]
        )[0]
        if outcome == "invalid":
            self._invalid(draft)
            self._finish(draft)
            return
        self._event(draft, "submitted", draft.created)
        if outcome == "updated":
            draft.last_update = draft.created + 60 * self.rng.randint(1, 30)
            self._event(draft, "updateSubmitted", draft.last_update)
        later = (draft.last_update or draft.created) + self.rng.randint(1, 600) * 60
        if outcome == "canceled":
            draft.canceled = later
            message = self.rng.choice(_CANCEL_MESSAGES)
            draft.status = 5
            self._event(draft, "canceled", later, message=message)
        elif outcome == "open":
            draft.status = 1
        else:
            self._fill(draft, later, fill_price, complete=outcome != "partial")
            self._mark_triggered(draft)
        self._finish(draft)

    def _typed_prices(
        self, draft: _Draft, limit: float, stop: float, quote: tuple[float, float]
    ) -> float:
        """Set the type-specific keys in Lean's key order (subclass keys first, as in Lean's
        ReadOrdersResponseJsonConverterTests; only on their types, ref §6); return the fill."""
        bid, ask = quote
        side = 1 if draft.quantity > 0 else -1
        if draft.type == 1:
            draft.before_type = {"limitPrice": limit}
            draft.event_prices = {"limitPrice": limit}
            draft.marketable = limit >= ask if side > 0 else limit <= bid
            return min(limit, ask) if side > 0 else max(limit, bid)
        if draft.type == 2:
            draft.before_type = {"stopPrice": stop}
            draft.event_prices = {"stopPrice": stop}
            return stop
        if draft.type == 3:
            limit = self._round(draft.symbol, stop * (1 + side * 0.002))
            draft.before_type = {"stopPrice": stop, "stopTriggered": False, "limitPrice": limit}
            draft.event_prices = {"stopPrice": stop, "limitPrice": limit}
            return limit
        if draft.type == 7:
            trigger = limit
            limit = self._round(draft.symbol, trigger * (1 + side * 0.001))
            draft.after_type = {
                "triggerPrice": trigger,
                "limitPrice": limit,
                "triggerTouched": False,
            }
            draft.event_prices = {"limitPrice": limit}
            return limit
        # Trailing stop: Lean writes `trailingAsPercentage` (the OAS says `trailingPercentage`).
        as_percentage = self.rng.random() < 0.6
        if as_percentage:
            amount = round(self.rng.uniform(0.002, 0.05), 4)
        else:
            amount = round(max(abs(stop - draft.price), 0.01), draft.symbol.decimals)
        draft.before_type = {"trailingAmount": amount, "trailingAsPercentage": as_percentage}
        draft.after_type = {"stopPrice": stop}
        draft.event_prices = {"stopPrice": stop}
        return stop

    @staticmethod
    def _mark_triggered(draft: _Draft) -> None:
        if "stopTriggered" in draft.before_type:
            draft.before_type["stopTriggered"] = True
        if "triggerTouched" in draft.after_type:
            draft.after_type["triggerTouched"] = True

    def _exercise(self, option: _Symbol) -> None:
        """Option exercise (6): one order, events on both the option and its underlying."""
        assert option.underlying is not None
        price = self._price(option)
        contracts = float(self.rng.randint(1, 5))
        assigned = self.rng.random() < 0.4
        draft = self._new(6, option, contracts if assigned else -contracts)
        draft.price = self._round(option, price)
        self._event(draft, "submitted", draft.created, itm=True)
        when = draft.created + self.rng.choice([0, 60])
        message = (
            "Simulated option assignment before expiration" if assigned else "Automatic Exercise"
        )
        self._event(
            draft,
            "filled",
            when,
            fill_qty=draft.quantity,
            message=message,
            assigned=assigned,
            itm=True,
        )
        shares = contracts * option.multiplier * (1 if option.is_call != assigned else -1)
        self._event(
            draft,
            "filled",
            when,
            fill_price=option.strike,
            fill_qty=shares,
            message="Option Assignment" if assigned else "Option Exercise",
            assigned=assigned,
            symbol=option.underlying,
            quantity=shares,
        )
        draft.last_fill = when
        self._finish(draft)

    def _combo(self, options: list[_Symbol], remaining: int) -> None:
        """A combo market (8), combo limit (9) or combo leg limit (10) group of 2-3 legs."""
        order_type = self.rng.choices([8, 9, 10], [5, 3, 2])[0]
        call, other = options[0], options[1]
        legs, tag = [(call, 1), (other, -1)], "Spread"
        if remaining >= 3 and call.underlying is not None and self.rng.random() < 0.35:
            legs, tag = [(call.underlying, 100), (other, 1), (call, -1)], "Collar"
        group_quantity = float(self.rng.randint(1, 10))
        self.groups += 1
        first_id = len(self.orders) + 1
        ids = list(range(first_id, first_id + len(legs)))
        prices = [self._round(s, self._price(s)) for s, _ in legs]
        net = round(sum(p * ratio for p, (_, ratio) in zip(prices, legs, strict=True)), 2)
        group = {
            "id": self.groups,
            "quantity": group_quantity,
            "count": len(legs),
            "limitPrice": net if order_type == 9 else 0.0,
            "orderIds": ids,
            "direction": 0 if net >= 0 else 1,
        }
        outcome = (
            "filled"
            if order_type == 8
            else self.rng.choices(["filled", "canceled", "open"], [70, 25, 5])[0]
        )
        tag = tag if self.rng.random() < 0.7 else ""
        later = self._now() + (0 if order_type == 8 else self.rng.randint(1, 240) * 60)
        for (symbol, ratio), price in zip(legs, prices, strict=True):
            draft = self._new(order_type, symbol, ratio * group_quantity)
            draft.tag, draft.group, draft.price = tag, group, price
            draft.after_type = {"quantity": draft.quantity}
            if order_type == 10:
                limit = self._round(symbol, price * (0.99 if ratio > 0 else 1.01))
                draft.after_type = {"limitPrice": limit, "quantity": draft.quantity}
                draft.event_prices = {"limitPrice": limit}
            bid, ask = self._quote(symbol, price)
            draft.submission = self._submission(symbol, bid, ask, price)
            draft.marketable = order_type == 8
            self._event(draft, "submitted", draft.created)
            if outcome == "filled":
                self._fill(draft, later, ask if ratio > 0 else bid, allow_partial=False)
            elif outcome == "canceled":
                draft.status, draft.canceled = 5, later
                self._event(draft, "canceled", later)
            else:
                draft.status = 1
            self._finish(draft)

    # -- shared pieces --

    def _submission(self, symbol: _Symbol, bid: float, ask: float, last: float) -> JsonDict | None:
        if self.rng.random() < 0.02:  # a few orders carry no submission data
            return None
        return {"bidPrice": bid, "askPrice": ask, "lastPrice": self._round(symbol, last)}

    def _invalid(self, draft: _Draft) -> None:
        draft.status = 7
        value = round(abs(draft.quantity * draft.price), 2)
        template = self.rng.choice(_INVALID_MESSAGES)
        message = template.format(
            id=draft.id, value=value, margin=round(value / 2, 2), symbol=draft.symbol.value
        )
        self._event(draft, "invalid", draft.created, message=message)

    def _fill(
        self,
        draft: _Draft,
        when: int,
        price: float,
        complete: bool = True,
        allow_partial: bool = True,
    ) -> None:
        """Fill events: sometimes several partial fills, the last one "filled" if complete."""
        parts = self.rng.randint(2, 5) if allow_partial and self.rng.random() < 0.4 else 1
        sizes = self._split(draft.quantity, draft.symbol.lot, parts if complete else max(parts, 2))
        complete = complete or len(sizes) < 2  # a single lot cannot stay partially filled
        if not complete:
            sizes = sizes[:-1]
        fills: list[tuple[float, float]] = []
        fill_time = when
        for index, size in enumerate(sizes):
            fill_price = self._round(draft.symbol, price * (1 + self.rng.gauss(0, 0.0003)))
            last = complete and index == len(sizes) - 1
            fill_time += self.rng.choice([0, 60, 300]) if index else 0
            fee = self._fee(draft.symbol, size, fill_price)
            status = "filled" if last else "partiallyFilled"
            self._event(draft, status, fill_time, fill_price=fill_price, fill_qty=size, fee=fee)
            fills.append((size, fill_price))
            draft.last_fill = fill_time
        filled = sum(size for size, _ in fills)
        draft.price = self._round(draft.symbol, sum(s * p for s, p in fills) / filled)
        draft.status = 3 if complete else 2

    def _split(self, quantity: float, lot: float, parts: int) -> list[float]:
        units = max(round(abs(quantity) / lot), 1)
        parts = min(parts, units)
        cuts = sorted(self.rng.sample(range(1, units), parts - 1)) if parts > 1 else []
        bounds = [0, *cuts, units]
        sign = 1 if quantity > 0 else -1
        return [round(sign * (b - a) * lot, 8) for a, b in itertools.pairwise(bounds)]

    def _event(
        self,
        draft: _Draft,
        status: str,
        when: float,
        *,
        fill_price: float = 0.0,
        fill_qty: float = 0.0,
        fee: float = 0.0,
        message: str = "",
        assigned: bool = False,
        itm: bool | None = None,
        symbol: _Symbol | None = None,
        quantity: float | None = None,
    ) -> None:
        """Append an order event with SerializedOrderEvent's keys and omissions (ref §6)."""
        symbol = symbol or draft.symbol
        backtest_id = self.backtest.backtest_id
        number = len(draft.events) + 1
        event: JsonDict = {
            "id": f"{backtest_id}-{draft.id}-{number}",
            "algorithmId": backtest_id,
            "orderId": draft.id,
            "orderEventId": number,
            "symbol": symbol.id,
            "symbolValue": symbol.value,
            "symbolPermtick": symbol.event_permtick,
            "time": float(when),
            "status": status,
        }
        if fee:
            event["orderFeeAmount"] = fee
            event["orderFeeCurrency"] = "USD"
        event["fillPrice"] = fill_price
        event["fillPriceCurrency"] = symbol.currency
        event["fillQuantity"] = fill_qty
        event["direction"] = "buy" if (quantity or draft.quantity) > 0 else "sell"
        if message or self.backtest.null_messages:
            event["message"] = message or None
        event["isAssignment"] = assigned
        event["quantity"] = draft.quantity if quantity is None else quantity
        event.update(draft.event_prices)
        if symbol.security_type == 2:
            event["isInTheMoney"] = bool(itm) if itm is not None else self._in_the_money(symbol)
        draft.events.append(event)

    def _adjustment_mode(self, symbol: _Symbol) -> int:
        """Equities use the backtest's normalization; options and futures contracts trade raw."""
        if symbol.security_type == 1:
            return self.backtest.equity_mode
        return 0 if symbol.security_type in (2, 5) else 1

    def _in_the_money(self, option: _Symbol) -> bool:
        assert option.underlying is not None
        spot = self.prices.get(option.underlying.value, option.underlying.price)
        return spot > option.strike if option.is_call else spot < option.strike

    def _finish(self, draft: _Draft) -> None:
        """Assemble the order in Lean's key order; optional keys only when set (ref §6)."""
        symbol = draft.symbol
        order: JsonDict = {**draft.before_type, "type": draft.type, **draft.after_type}
        order["id"] = draft.id
        order["contingentId"] = 0
        order["brokerId"] = [] if draft.status == 7 else [str(draft.id)]
        order["symbol"] = symbol.as_json
        order["price"] = draft.price
        order["priceCurrency"] = symbol.currency
        order["time"] = order["createdTime"] = _iso_epoch(draft.created)
        for key, moment in (
            ("lastFillTime", draft.last_fill),
            ("lastUpdateTime", draft.last_update),
            ("canceledTime", draft.canceled),
        ):
            if moment is not None:
                order[key] = _iso_epoch(moment)
        if "quantity" not in order:
            order["quantity"] = draft.quantity
        order["status"] = draft.status
        if draft.tag:
            order["tag"] = draft.tag
        order["properties"] = draft.properties
        order["securityType"] = symbol.security_type
        order["direction"] = 0 if draft.quantity > 0 else 1
        order["value"] = round(draft.quantity * draft.price, 9)
        if draft.submission is not None:
            order["orderSubmissionData"] = draft.submission
        order["isMarketable"] = draft.marketable
        if draft.group is not None:
            order["groupOrderManager"] = draft.group
        order["priceAdjustmentMode"] = self._adjustment_mode(symbol)
        order["events"] = draft.events
        self.orders.append(order)


# --- The account ---------------------------------------------------------------------------------


class SandboxAccount:
    """A QuantConnect account's projects, backtests and orders, generated from a seed.

    Mutations (`complete_running`, `add_backtests`) are thread-safe; reads see consistent
    snapshots because backtest records are immutable and replaced whole.
    """

    def __init__(self, size: SandboxSize = SandboxSize(), seed: int = 7) -> None:
        self.size = size
        self.seed = seed
        self.organization_id = _hex_id(seed, "organization")
        self._lock = threading.Lock()
        self._projects: dict[int, JsonDict] = {}
        self._project_backtests: dict[int, tuple[str, ...]] = {}
        self._backtests: dict[str, _Backtest] = {}
        self._order_json = functools.lru_cache(maxsize=ORDER_CACHE_BACKTESTS)(self._serialize)
        self._kept_orders: dict[str, tuple[bytes, ...]] = {}  # filled by `warm`, never evicted
        for index in range(self.size.projects):
            self._add_project(index)

    # -- reads --

    def projects(self) -> list[JsonDict]:
        """Every project object, as `projects/read` serves them."""
        return [dict(project) for project in self._projects.values()]

    def backtests(self, project_id: int, include_statistics: bool = False) -> list[JsonDict]:
        """The `backtests/list` summaries of a project; KeyError for an unknown project."""
        return [
            self._summary(self._backtests[b], include_statistics)
            for b in self._project_backtests[project_id]
        ]

    def backtest(self, project_id: int, backtest_id: str) -> JsonDict:
        """The `backtests/read` object; KeyError when the project has no such backtest."""
        return self._read(self._record(project_id, backtest_id))

    def orders(self, backtest_id: str) -> list[JsonDict]:
        """Every order the API serves for a backtest now (a running one: its orders so far)."""
        page, _ = self.order_page(backtest_id, 0, self.total_orders(backtest_id))
        return [json.loads(blob) for blob in page]

    def total_orders(self, backtest_id: str) -> int:
        """The number of orders served now, across all pages (`length` of orders/read)."""
        return self._backtests[backtest_id].served_orders

    def order_page(self, backtest_id: str, start: int, end: int) -> tuple[list[bytes], int]:
        """Serialized orders `[start, end)` of what is served now, and the served total."""
        served = self._backtests[backtest_id].served_orders
        if start >= served:
            return [], served
        kept = self._kept_orders.get(backtest_id)
        blobs = kept if kept is not None else self._order_json(backtest_id)
        return list(blobs[start : min(end, served)]), served

    def project_of(self, backtest_id: str) -> int:
        """The project a backtest belongs to; KeyError for an unknown backtest."""
        return self._backtests[backtest_id].project_id

    # -- warming --

    def warm(self, processes: int = 1) -> int:
        """Generate every backtest's orders now, on `processes` processes, and keep them all.

        Pages are then served from memory from the first request on (about 1.7 kB per order),
        instead of being generated on first request into the bounded LRU cache. Call it before
        serving. Returns the number of orders kept.
        """
        pending = [b for b in self._backtests.values() if b.backtest_id not in self._kept_orders]
        seeds = itertools.repeat(self.seed)
        with ProcessPoolExecutor(max(1, processes)) as pool:
            generated = pool.map(_serialize_orders, pending, seeds, chunksize=4)
            for backtest, blobs in zip(pending, generated, strict=True):
                self._kept_orders[backtest.backtest_id] = blobs
        return sum(len(blobs) for blobs in self._kept_orders.values())

    # -- mutations --

    def complete_running(self) -> list[str]:
        """Finish every running or queued backtest: all orders, final statistics. Returns ids."""
        with self._lock:
            done = [b for b in self._backtests.values() if b.state in ("running", "queued")]
            for backtest in done:
                self._backtests[backtest.backtest_id] = dataclasses.replace(
                    backtest, state="completed", progress=1.0
                )
        return [b.backtest_id for b in done]

    def add_backtests(self, project_id: int | None = None, count: int = 1) -> list[str]:
        """Add `count` completed backtests to a project (default: the first one). Returns ids."""
        with self._lock:
            if project_id is None:
                project_id = next(iter(self._projects))
            existing = self._project_backtests[project_id]
            latest = max((self._backtests[b].created for b in existing), default=NOW)
            added = [
                self._new_backtest(
                    project_id,
                    len(existing) + n,
                    latest + timedelta(minutes=7 * (n + 1)),
                    "completed",
                )
                for n in range(count)
            ]
            for backtest in added:
                self._backtests[backtest.backtest_id] = backtest
            self._project_backtests[project_id] = existing + tuple(b.backtest_id for b in added)
        return [b.backtest_id for b in added]

    # -- generation --

    def _add_project(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:project:{index}")
        project_id = 21_374_102 + index * 104_729 + rng.randint(0, 99_999)
        # The first project is old enough to hold backtests from before the 2024-03 key renames.
        oldest, newest = (2022, 9, 1), (2023, 3, 1) if index == 0 else (2025, 6, 1)
        created = _random_moment(rng, datetime(*oldest, tzinfo=UTC), datetime(*newest, tzinfo=UTC))
        language = rng.choice(["Py", "Py", "C#"])
        names = tuple(rng.sample(_PARAMETER_NAMES, rng.randint(1, 3)))
        self._projects[project_id] = self._project_json(
            rng, project_id, index, created, language, names
        )
        self._project_backtests[project_id] = self._plan_backtests(rng, project_id, index, created)

    def _plan_backtests(
        self, rng: random.Random, project_id: int, project_index: int, created: datetime
    ) -> tuple[str, ...]:
        """Mostly completed; the newest running, sometimes one queued or one runtime error."""
        count = self.size.backtests_per_project
        states = ["completed"] * count
        if count >= 3:
            states[-1] = "running"
            if rng.random() < 0.35:
                states[-2:] = ["running", "queued"]
        if count >= 4 and (project_index == 1 or rng.random() < 0.3):
            states[rng.randint(2, count - 3) if count >= 5 else 2] = "error"
        first, last = created + timedelta(days=1), NOW - timedelta(days=2)
        moments = sorted(_random_moment(rng, first, last) for _ in range(count))
        ids = []
        for index, state in enumerate(states):
            moment = moments[index]
            if state in ("running", "queued"):  # started minutes ago, the queued one last
                moment = NOW - timedelta(minutes=10 * (count - index) + 5)
            backtest = self._new_backtest(project_id, index, moment, state, project_index)
            self._backtests[backtest.backtest_id] = backtest
            ids.append(backtest.backtest_id)
        return tuple(ids)

    def _new_backtest(
        self,
        project_id: int,
        index: int,
        created: datetime,
        state: str,
        project_index: int | None = None,
    ) -> _Backtest:
        backtest_id = _hex_id(self.seed, project_id, index)
        rng = random.Random(f"{self.seed}:backtest:{backtest_id}")
        order_count = round(self.size.orders_per_backtest * rng.uniform(0.3, 1.7))
        progress = 1.0
        if state == "running":
            progress = round(rng.uniform(0.1, 0.9), 2)
        elif state == "queued":
            progress = 0.0
        elif state == "error":
            progress = round(rng.uniform(0.1, 0.9), 2)
            order_count = int(order_count * progress)
        if project_index == 0 and index == 0:  # paging edge case: a whole number of pages
            order_count = max(100, round(order_count / 100) * 100)
        if project_index == 0 and index == 1:  # edge case: a backtest without orders
            order_count = 0
        optimization_id = (
            f"O-{_hex_id(backtest_id, 'optimization')}" if rng.random() < 0.15 else None
        )
        end = created.date() - timedelta(days=rng.randint(1, 400))
        tradeable_dates = rng.choice([63, 126, 252, 504, 756, 1260])
        weeks, days = divmod(tradeable_dates - 1, 5)
        start = _monday_before(end - timedelta(weeks=weeks, days=days))
        project = self._projects.get(project_id)
        language = project["language"] if project else "Py"
        parameter_names = tuple(rng.sample(_PARAMETER_NAMES, rng.randint(1, 3)))
        return _Backtest(
            project_id=project_id,
            backtest_id=backtest_id,
            name=_backtest_name(rng, optimization_id),
            created=created.replace(microsecond=0),
            iso_created=rng.random() < 0.15,
            state=state,
            progress=progress,
            order_count=order_count,
            start=start,
            tradeable_dates=tradeable_dates,
            universe=_pick_universe(rng),
            equity_mode=rng.choices([1, 0, 2, 3], [60, 30, 6, 4])[0],
            null_messages=rng.random() < 0.5,
            currency=rng.choices(["$", "€", "₮"], [90, 5, 5])[0],
            parameter_set=_parameter_set(rng, parameter_names) if rng.random() < 0.65 else {},
            tags=tuple(rng.sample(_TAGS, rng.choice([0, 0, 1, 2]))),
            optimization_id=optimization_id,
            snapshot_id=13_000_000 + int(backtest_id[:6], 16) % 9_000_000,
            note=rng.choice([None, None, None, "Compare with the baseline", "20-day lookback"]),
            node_name=rng.choice(_NODES),
            language=language,
        )

    def _project_json(
        self,
        rng: random.Random,
        project_id: int,
        index: int,
        created: datetime,
        language: str,
        parameter_names: tuple[str, ...],
    ) -> JsonDict:
        """A project object with the polymorphic fields of ref §3."""
        folder = rng.choice(["", "", "Research/", "/Live/", "Crypto/"])
        names = ("Momentum Rotation", "Mean Reversion SPY", "Pairs Trading", "Volatility Carry")
        name = f"{folder}{names[index % len(names)]}" + (
            f" {index // len(names) + 1}" if index >= 4 else ""
        )
        shape = rng.choice(["empty", "list", "dict"])
        values = [rng.choice(["20", "0.5", "weekly"]) for _ in parameter_names]
        parameters: Any = {
            "empty": [],
            "list": [{"key": k, "value": v} for k, v in zip(parameter_names, values, strict=True)],
            "dict": dict(zip(parameter_names, values, strict=True)),
        }[shape]
        collaborators = [_OWNER, _COLLABORATOR] if rng.random() < 0.4 else [_OWNER]
        modified = created + timedelta(days=rng.randint(1, 700))
        return {
            "projectId": project_id,
            "organizationId": self.organization_id,
            "name": name,
            "modified": _format_created(min(modified, NOW), False),
            "created": _format_created(created, rng.random() < 0.3),
            "ownerId": _OWNER["uid"],
            "language": language,
            "collaborators": collaborators,
            "leanVersionId": rng.choice([16542, 16873, 17020]),
            "leanPinnedToMaster": rng.random() < 0.8,
            "owner": True,
            "description": rng.choice(
                ["", "Monthly rotation across sector ETFs.", "WIP, ne pas déployer"]
            ),
            "channelId": _hex_id(project_id, "channel"),
            "parameters": parameters,
            "libraries": (
                [
                    {
                        "projectId": project_id + 17,
                        "libraryName": "Risk Library",
                        "ownerName": "Sandbox Quant",
                        "access": True,
                    }
                ]
                if rng.random() < 0.3
                else []
            ),
            "grid": {"xs": [], "sm": [], "md": [], "lg": [_GRID_ITEM], "xl": []},
            "liveGrid": {"xs": [], "sm": [], "md": [], "lg": [], "xl": []},
            "paperEquity": rng.choice([None, 100000.0]),
            "lastLiveDeployment": rng.choice([None, _format_created(min(modified, NOW), False)]),
            "liveForm": [],  # empty map serialized as [] (ref §2)
            "encrypted": False,
            "codeRunning": False,
            "leanEnvironment": 0,
            "encryptionKey": None,
            "isPinned": rng.random() < 0.2,
        }

    # -- serving --

    def _record(self, project_id: int, backtest_id: str) -> _Backtest:
        backtest = self._backtests[backtest_id]
        if backtest.project_id != project_id:
            raise KeyError(backtest_id)
        return backtest

    def _summary(self, backtest: _Backtest, include_statistics: bool) -> JsonDict:
        """A `backtests/list` entry (ref §4)."""
        summary: JsonDict = {
            "backtestId": backtest.backtest_id,
            "status": backtest.status,
            "name": backtest.name,
            "created": _format_created(backtest.created, backtest.iso_created),
            "progress": backtest.progress,
            "optimizationId": backtest.optimization_id,
            "tradeableDates": backtest.tradeable_dates,
            "parameterSet": backtest.parameter_set or [],  # empty map as [] (ref §2)
            "snapshotId": backtest.snapshot_id,
            "error": None,
            "stacktrace": None,
            "tags": list(backtest.tags),
        }
        if backtest.state == "error":
            summary["error"], summary["stacktrace"] = self._error(backtest)
        if include_statistics:
            summary.update(self._summary_statistics(backtest))
        return summary

    def _summary_statistics(self, backtest: _Backtest) -> JsonDict:
        perf = _performance(self.seed, backtest)
        final = backtest.finished
        numbers = {
            "sharpeRatio": perf.sharpe,
            "alpha": perf.alpha,
            "beta": perf.beta,
            "compoundingAnnualReturn": perf.car,
            "drawdown": perf.drawdown,
            "lossRate": perf.loss_rate,
            "netProfit": perf.net_profit,
            "psr": perf.psr,
            "sortinoRatio": perf.sortino,
            "treynorRatio": perf.treynor,
            "winRate": perf.win_rate,
        }
        summary: JsonDict = {
            key: round(value, 3) if final else 0.0 for key, value in numbers.items()
        }
        summary["trades"] = backtest.served_orders
        summary["parameters"] = len(backtest.parameter_set)
        types = sorted({s.security_type for s in backtest.universe})
        summary["securityTypes"] = ",".join(SECURITY_TYPE_NAMES[t] for t in types)
        return summary

    def _error(self, backtest: _Backtest) -> tuple[str, str]:
        rng = random.Random(f"{self.seed}:error:{backtest.backtest_id}")
        return rng.choice(_ERRORS[backtest.language])

    def _read(self, backtest: _Backtest) -> JsonDict:
        """A `backtests/read` object (ref §4); unfinished backtests have `[]` statistics."""
        perf = _performance(self.seed, backtest)
        error, stacktrace = self._error(backtest) if backtest.state == "error" else (None, None)
        charts = [
            "Strategy Equity",
            "Drawdown",
            "Benchmark",
            "Capacity",
            "Portfolio Turnover",
            "Exposure",
            "Assets Sales Volume",
        ]
        if backtest.state == "running":
            charts = charts[:3]
        elif backtest.state == "queued":
            charts = []
        rng = random.Random(f"{self.seed}:read:{backtest.backtest_id}")
        return {
            "note": backtest.note,
            "name": backtest.name,
            "organizationId": self.organization_id,
            "projectId": backtest.project_id,
            "completed": backtest.finished,
            "optimizationId": backtest.optimization_id,
            "backtestId": backtest.backtest_id,
            "tradeableDates": backtest.tradeable_dates,
            "researchGuide": {
                "minutes": rng.randint(5, 900),
                "backtestCount": rng.randint(1, 60),
                "parameters": len(backtest.parameter_set),
            },
            "backtestStart": _iso(backtest.start),
            "backtestEnd": _iso(backtest.end),
            "created": _format_created(backtest.created, backtest.iso_created),
            "snapshotId": backtest.snapshot_id,
            "status": backtest.status,
            "error": error,
            "stacktrace": stacktrace,
            "progress": backtest.progress,
            "hasInitializeError": False,
            "charts": {name: {"name": name} for name in charts} or [],
            "parameterSet": backtest.parameter_set or [],
            "runtimeStatistics": (
                [] if backtest.state == "queued" else _runtime_statistics(backtest, perf)
            ),
            "statistics": _statistics(backtest, perf) if backtest.finished else [],
            "totalPerformance": _total_performance(backtest, perf) if backtest.finished else None,
            "nodeName": backtest.node_name,
            "outOfSampleMaxEndDate": None,
            "outOfSampleDays": 0,
        }

    def _serialize(self, backtest_id: str) -> tuple[bytes, ...]:
        return _serialize_orders(self._backtests[backtest_id], self.seed)


def _serialize_orders(backtest: _Backtest, seed: int) -> tuple[bytes, ...]:
    """All of a backtest's orders as compact JSON, as Json.NET writes them (non-ASCII raw)."""
    orders = _OrderGenerator(backtest, seed).run()
    return tuple(
        json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode() for order in orders
    )
