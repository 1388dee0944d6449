"""The sandbox's closed trades, `totalPerformance`, `rollingWindow` and `backtests/trades/read`:
every trade follows from its backtest's own fills, every statistic from the trades as served.

Checked over every size preset (all finished backtests of the small presets, a fixed sample of
the big ones), on the replies the API serves; the new endpoint over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SIZES,
    SandboxAccount,
    SandboxServer,
)
from pipelines.sandbox.results import ORDER_IDS_ADDED, TRADE_IDS_ADDED

Json = dict[str, Any]
SAMPLE = 4  # finished backtests per big preset
FILLS = ("filled", "partiallyFilled")
TRADE_KEYS = [
    "startDateTime",
    "endDateTime",
    "totalNumberOfTrades",
    "numberOfWinningTrades",
    "numberOfLosingTrades",
    "totalProfitLoss",
    "totalProfit",
    "totalLoss",
    "largestProfit",
    "largestLoss",
    "averageProfitLoss",
    "averageProfit",
    "averageLoss",
    "averageTradeDuration",
    "averageWinningTradeDuration",
    "averageLosingTradeDuration",
    "medianTradeDuration",
    "medianWinningTradeDuration",
    "medianLosingTradeDuration",
    "maxConsecutiveWinningTrades",
    "maxConsecutiveLosingTrades",
    "profitLossRatio",
    "winLossRatio",
    "winRate",
    "lossRate",
    "averageMAE",
    "averageMFE",
    "largestMAE",
    "largestMFE",
    "maximumClosedTradeDrawdown",
    "maximumIntraTradeDrawdown",
    "profitLossStandardDeviation",
    "profitLossDownsideDeviation",
    "profitFactor",
    "sharpeRatio",
    "sortinoRatio",
    "profitToMaxDrawdownRatio",
    "maximumEndTradeDrawdown",
    "averageEndTradeDrawdown",
    "maximumDrawdownDuration",
    "totalFees",
]
PORTFOLIO_KEYS = [
    "averageWinRate",
    "averageLossRate",
    "profitLossRatio",
    "winRate",
    "lossRate",
    "expectancy",
    "startEquity",
    "endEquity",
    "compoundingAnnualReturn",
    "drawdown",
    "totalNetProfit",
    "sharpeRatio",
    "probabilisticSharpeRatio",
    "sortinoRatio",
    "alpha",
    "beta",
    "annualStandardDeviation",
    "annualVariance",
    "informationRatio",
    "trackingError",
    "treynorRatio",
    "portfolioTurnover",
    "valueAtRisk99",
    "valueAtRisk95",
    "drawdownRecovery",
]
# The real 2023-09 reply's PortfolioStatistics keys (real_backtests_read_2023-09).
PORTFOLIO_2023 = [
    "AverageWinRate",
    "AverageLossRate",
    "ProfitLossRatio",
    "WinRate",
    "LossRate",
    "Expectancy",
    "CompoundingAnnualReturn",
    "Drawdown",
    "TotalNetProfit",
    "SharpeRatio",
    "ProbabilisticSharpeRatio",
    "Alpha",
    "Beta",
    "AnnualStandardDeviation",
    "AnnualVariance",
    "InformationRatio",
    "TrackingError",
    "TreynorRatio",
    "PortfolioTurnover",
]
CAMEL_TRADE = [
    "symbols",
    "entryTime",
    "entryPrice",
    "direction",
    "quantity",
    "exitTime",
    "exitPrice",
    "profitLoss",
    "totalFees",
    "mae",
    "mfe",
    "duration",
    "endTradeDrawdown",
    "isWin",
]
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d\d):(\d\d):(\d\d)(?:\.(\d{7}))?")


@dataclass
class Case:
    """One finished backtest as the API serves it, its trades and statistics in camelCase."""

    preset: str
    account: SandboxAccount
    project_id: int
    read: Json
    orders: list[Json]  # [] for legacy backtests (2024 dialect; their trades name no orders)

    @property
    def backtest_id(self) -> str:
        return self.read["backtestId"]

    @property
    def pascal(self) -> bool:
        return "TradeStatistics" in self.read["totalPerformance"]

    @property
    def created(self) -> datetime:
        text = self.read["created"].replace("Z", "")
        return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC)

    def total(self) -> Json:
        """`totalPerformance` in camelCase, numbers as numbers."""
        return camel_performance(self.read["totalPerformance"])

    def trades(self) -> list[Json]:
        return self.total()["closedTrades"]


def camel_performance(performance: Json) -> Json:
    """An AlgorithmPerformance in camelCase: the legacy shape's PascalCase keys and decimal
    strings read back (a trade's `Symbol` as a one-element `symbols`, `Direction` by name)."""
    if "tradeStatistics" in performance:
        return performance

    def lower(key: str) -> str:
        return {"MAE": "mae", "MFE": "mfe"}.get(key, key[:1].lower() + key[1:])

    def number(value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value)
        return value

    trades = []
    for trade in performance["ClosedTrades"]:
        converted = {lower(k): v for k, v in trade.items() if k not in ("Symbol", "Direction")}
        symbol = {k.lower(): v for k, v in trade["Symbol"].items() if k != "Underlying"}
        converted["symbols"] = [symbol]
        converted["direction"] = ("Long", "Short").index(trade["Direction"])
        trades.append(converted)
    return {
        "tradeStatistics": {lower(k): number(v) for k, v in performance["TradeStatistics"].items()},
        "portfolioStatistics": {
            lower(k): number(v) for k, v in performance["PortfolioStatistics"].items()
        },
        "closedTrades": trades,
    }


def _finished(account: SandboxAccount, preset: str) -> list[tuple[int, str]]:
    found = [
        (project["projectId"], backtest["backtestId"])
        for project in account.projects()
        for backtest in account.backtests(project["projectId"])
        if backtest["status"] in ("Completed.", "Runtime Error")
    ]
    if preset in ("demo", "small"):
        return found
    return sorted(found, key=lambda pair: pair[1])[:: max(1, len(found) // SAMPLE)][:SAMPLE]


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    """Every preset's finished backtests (or a sample of them), as served."""
    found = []
    for preset, size in SIZES.items():
        account = SandboxAccount(size)
        for project_id, backtest_id in _finished(account, preset):
            read = account.backtest(project_id, backtest_id)
            orders = account.orders(backtest_id)
            orders = orders if orders and "events" in orders[0] else []
            found.append(Case(preset, account, project_id, read, orders))
    return found


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _micros(text: str) -> int:
    """An ISO time in whole epoch microseconds (exact, unlike a float of seconds)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _ticks(text: str) -> int:
    """A .NET TimeSpan ("d.hh:mm:ss.fffffff") in ticks."""
    match = TIMESPAN.fullmatch(text)
    assert match, text
    days, hours, minutes, seconds, fraction = match.groups()
    whole = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)
    return whole * 10_000_000 + int(fraction or 0)


def _is_option(trade: Json) -> bool:
    return "|" in trade["symbols"][0]["id"]  # an option's id names its underlying's


# --- Trades and fills ----------------------------------------------------------------------------


def test_trades_name_the_filled_orders_they_came_from(cases: list[Case]) -> None:
    """Each trade's first order filled on its symbol when it was entered, its last when it was
    exited; on a symbol the backtest ends flat, an order's fills add up to the quantities of
    the trades that name it."""
    checked = 0
    for case in cases:
        trades = [t for t in case.trades() if "orderIds" in t]
        if not trades:
            continue
        fills: dict[tuple[int, str], list[Json]] = defaultdict(list)
        held: dict[str, float] = defaultdict(float)
        for order in case.orders:
            for event in order["events"]:
                if event["status"] in FILLS:
                    fills[order["id"], event["symbol"]].append(event)
                    held[event["symbol"]] += event["fillQuantity"]
        named: dict[tuple[int, str], float] = defaultdict(float)
        for trade in trades:
            symbol, ids = trade["symbols"][0]["id"], trade["orderIds"]
            assert len(ids) == len(set(ids)) >= 2, trade
            entry, exit_ = fills[ids[0], symbol], fills[ids[-1], symbol]
            assert any(abs(e["time"] - _epoch(trade["entryTime"])) < 1e-5 for e in entry), trade
            assert any(abs(e["time"] - _epoch(trade["exitTime"])) < 1e-5 for e in exit_), trade
            side = 1 if trade["direction"] == 0 else -1
            assert all(e["fillQuantity"] * side > 0 for e in entry), trade
            assert all(e["fillQuantity"] * side < 0 for e in exit_), trade
            assert any(e["fillPrice"] == trade["entryPrice"] for e in entry), trade
            assert any(e["fillPrice"] == trade["exitPrice"] for e in exit_), trade
            for order_id in ids:
                named[order_id, symbol] += trade["quantity"]
        for (order_id, symbol), quantity in named.items():
            if abs(held[symbol]) > 1e-9:
                continue  # still held at the end: part of its orders is in no closed trade
            filled = sum(abs(e["fillQuantity"]) for e in fills[order_id, symbol])
            assert quantity == pytest.approx(filled, abs=1e-6), (case.backtest_id, order_id)
            checked += 1
    assert checked > 1_000


def test_trades_are_well_formed(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        for trade in case.trades():
            entry, exit_ = _epoch(trade["entryTime"]), _epoch(trade["exitTime"])
            assert entry <= exit_, trade
            span = _micros(trade["exitTime"]) - _micros(trade["entryTime"])
            assert _ticks(trade["duration"]) == span * 10, trade
            assert trade["quantity"] > 0 and trade["direction"] in (0, 1), trade
            assert trade["mae"] <= 0 <= trade["mfe"] and trade["totalFees"] >= 0, trade
            assert trade["endTradeDrawdown"] == round(trade["profitLoss"] - trade["mfe"], 2)
            assert round(trade["profitLoss"], 2) == trade["profitLoss"], trade
            checked += 1
    assert checked > 10_000


def test_profit_follows_the_prices_and_wins_are_profits_except_options(
    cases: list[Case],
) -> None:
    options = 0
    for case in cases:
        for trade in case.trades():
            move = (trade["exitPrice"] - trade["entryPrice"]) * (1 - 2 * trade["direction"])
            profit = trade["profitLoss"]
            assert profit == 0 or math.copysign(1, profit) == math.copysign(1, move), trade
            if _is_option(trade):
                options += trade["isWin"] != (profit > 0)  # exercised in the money
            else:
                assert trade["isWin"] == (profit > 0), trade
    assert options > 0


# --- Statistics from the trades ------------------------------------------------------------------


def _drawdowns(trades: list[Json]) -> tuple[float, float, int]:
    """LEAN's closed-trade and intra-trade drawdowns and longest drawdown (ticks)."""
    total = peak = with_mfe = closed = intra = 0.0
    longest, falling = 0, False
    last_peak = _micros(trades[0]["entryTime"]) if trades else 0
    for trade in trades:
        with_mfe = max(with_mfe, total + trade["mfe"])
        intra = min(intra, total + trade["mae"] - with_mfe)
        total += trade["profitLoss"]
        if trade["profitLoss"] > 0:
            if total > peak + 1e-9:
                peak = total
                exit_ = _micros(trade["exitTime"])
                if falling:
                    longest = max(longest, (exit_ - last_peak) * 10)
                last_peak, falling = exit_, False
        else:
            closed = min(closed, total - peak)
            falling = True
    return closed, intra, longest


def _streak(flags: list[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def expected_trade_statistics(trades: list[Json]) -> Json:
    """Lean `TradeStatistics` recomputed from served closed trades."""
    n = len(trades)
    profits = [t["profitLoss"] for t in trades]
    gains = [p for p in profits if p > 0]
    losses = [p for p in profits if p <= 0]
    won = [t["profitLoss"] > 0 or t["isWin"] for t in trades]
    ticks = [_ticks(t["duration"]) for t in trades]
    gain_ticks = [d for d, p in zip(ticks, profits, strict=True) if p > 0]
    loss_ticks = [d for d, p in zip(ticks, profits, strict=True) if p <= 0]
    mean = sum(profits) / n if n else 0.0
    average_mfe = sum(t["mfe"] for t in trades) / n if n else 0.0

    def deviation(values: list[float]) -> float:
        if len(values) < 2:
            return 0.0
        middle = sum(values) / len(values)
        return math.sqrt(sum((v - middle) ** 2 for v in values) / (len(values) - 1))

    def median(values: list[int]) -> int:
        return sorted(values)[len(values) // 2] if values else 0

    closed, intra, longest = _drawdowns(trades)
    average_gain = sum(gains) / len(gains) if gains else 0.0
    average_loss = sum(losses) / len(losses) if losses else 0.0
    winners = sum(won)
    total, profit, loss = sum(profits), sum(gains), sum(losses)
    spread, downside = deviation(profits), deviation(losses)
    return {
        "totalNumberOfTrades": n,
        "numberOfWinningTrades": winners,
        "numberOfLosingTrades": n - winners,
        "totalProfitLoss": total,
        "totalProfit": profit,
        "totalLoss": loss,
        "largestProfit": max([0.0, *gains]),
        "largestLoss": min([0.0, *losses]),
        "averageProfitLoss": mean,
        "averageProfit": average_gain,
        "averageLoss": average_loss,
        "averageTradeDuration": sum(ticks) / n if n else 0,
        "averageWinningTradeDuration": sum(gain_ticks) / len(gain_ticks) if gain_ticks else 0,
        "averageLosingTradeDuration": sum(loss_ticks) / len(loss_ticks) if loss_ticks else 0,
        "medianTradeDuration": median(ticks),
        "medianWinningTradeDuration": median(gain_ticks),
        "medianLosingTradeDuration": median(loss_ticks),
        "maxConsecutiveWinningTrades": _streak(won),
        "maxConsecutiveLosingTrades": _streak([not w for w in won]),
        "profitLossRatio": average_gain / abs(average_loss) if average_loss else 0.0,
        "winLossRatio": (winners / (n - winners) if n - winners else 10.0) if n else 0.0,
        "winRate": winners / n if n else 0.0,
        "lossRate": 1 - winners / n if n else 0.0,
        "averageMAE": sum(t["mae"] for t in trades) / n if n else 0.0,
        "averageMFE": average_mfe,
        "largestMAE": min([0.0, *(t["mae"] for t in trades)]),
        "largestMFE": max([0.0, *(t["mfe"] for t in trades)]),
        "maximumClosedTradeDrawdown": closed,
        "maximumIntraTradeDrawdown": intra,
        "profitLossStandardDeviation": spread,
        "profitLossDownsideDeviation": downside,
        "profitFactor": (profit / abs(loss) if loss < 0 else 10.0) if profit else 0.0,
        "sharpeRatio": mean / spread if spread else 0.0,
        "sortinoRatio": mean / downside if downside else 0.0,
        "profitToMaxDrawdownRatio": (total / abs(closed) if closed < 0 else 10.0) if total else 0.0,
        "maximumEndTradeDrawdown": min([0.0, *(t["endTradeDrawdown"] for t in trades)]),
        "averageEndTradeDrawdown": mean - average_mfe,
        "maximumDrawdownDuration": longest,
        "totalFees": sum(t["totalFees"] for t in trades),
    }


def check_trade_statistics(served: Json, trades: list[Json], where: object) -> None:
    """The served statistics are those of the served trades, to the served rounding."""
    assert list(served) == TRADE_KEYS, where
    expected = expected_trade_statistics(trades)
    for key, value in expected.items():
        shown = served[key]
        if key.endswith("Duration"):
            assert abs(_ticks(shown) - value) <= 1, (key, where)
        elif isinstance(value, int):
            assert shown == value, (key, where)
        else:
            assert shown == pytest.approx(value, rel=1e-9, abs=5.1e-5), (key, shown, where)
    entries = [_epoch(t["entryTime"]) for t in trades]
    exits = [_epoch(t["exitTime"]) for t in trades]
    if trades:
        assert _epoch(served["startDateTime"]) == min(entries), where
        assert _epoch(served["endDateTime"]) == max(exits), where
    else:
        assert served["startDateTime"] is served["endDateTime"] is None, where


def test_trade_statistics_follow_from_the_closed_trades(cases: list[Case]) -> None:
    for case in cases:
        total = case.total()
        check_trade_statistics(total["tradeStatistics"], total["closedTrades"], case.backtest_id)
    assert sum(case.total()["tradeStatistics"]["totalNumberOfTrades"] for case in cases) > 10_000


def test_portfolio_statistics_are_lean_s_keys_of_their_time(cases: list[Case]) -> None:
    shapes = set()
    for case in cases:
        performance = case.read["totalPerformance"]
        if case.pascal:
            keys = list(performance["PortfolioStatistics"])
            assert [k for k in keys if k in PORTFOLIO_2023] == PORTFOLIO_2023, case.created
            assert "DrawdownRecovery" not in keys
            assert all(isinstance(v, str) for v in performance["PortfolioStatistics"].values())
            assert all(
                isinstance(v, str)
                for k, v in performance["TradeStatistics"].items()
                if not re.search(r"Number|Consecutive|DateTime|Duration", k)
            )
            shapes.add(("PascalCase", "SortinoRatio" in keys, "ValueAtRisk99" in keys))
        else:
            numbers = performance["portfolioStatistics"]
            assert list(numbers) == PORTFOLIO_KEYS, case.backtest_id
            assert all(isinstance(v, int | float) for v in numbers.values())
            assert numbers["valueAtRisk99"] <= numbers["valueAtRisk95"]
            shapes.add(("camelCase",))
    assert ("camelCase",) in shapes and ("PascalCase", False, False) in shapes


# --- Shapes over time ----------------------------------------------------------------------------


def test_trade_shapes_follow_the_backtest_s_date(cases: list[Case]) -> None:
    seen: set[tuple[bool, bool]] = set()
    for case in cases:
        raw = case.read["totalPerformance"]
        if case.pascal:
            assert "rollingWindow" not in case.read  # as the real 2023-09 reply
            for trade in raw["ClosedTrades"]:
                assert {"Symbol", "Direction", "IsWin", "MAE"} <= set(trade), trade
                assert not {"Id", "OrderIds", "Symbols", "id"} & set(trade), trade
                assert set(trade["Symbol"]) >= {"Value", "ID", "Permtick"}
                assert trade["Direction"] in ("Long", "Short")
            continue
        ids, orders = case.created >= TRADE_IDS_ADDED, case.created >= ORDER_IDS_ADDED
        for trade in raw["closedTrades"]:
            assert [k for k in trade if k not in ("id", "orderIds")] == CAMEL_TRADE, trade
            assert ("id" in trade) == ids and ("orderIds" in trade) == orders, case.created
            assert not ids or GUID.fullmatch(trade["id"]), trade
            assert set(trade["symbols"][0]) >= {"value", "id", "permtick"}
        if raw["closedTrades"]:
            seen.add((ids, orders))
        guids = [t["id"] for t in raw["closedTrades"] if "id" in t]
        assert len(guids) == len(set(guids))
    assert {(False, False), (False, True), (True, True)} <= seen


@pytest.mark.parametrize("preset", list(SIZES))
def test_every_preset_has_backtests_of_each_trade_shape(preset: str) -> None:
    account = SandboxAccount(SIZES[preset])
    eras = set()
    for project in account.projects():
        for summary in account.backtests(project["projectId"]):
            created = datetime.fromisoformat(summary["created"].replace("Z", "+00:00"))
            created = created.replace(tzinfo=UTC)
            if summary["status"] == "Completed.":
                eras.add(sum(created >= switch for switch in (ORDER_IDS_ADDED, TRADE_IDS_ADDED)))
    assert eras == {0, 1, 2}


def test_unfinished_backtests_have_no_performance() -> None:
    account = SandboxAccount(SIZES["medium"])
    states = set()
    for project in account.projects():
        for summary in account.backtests(project["projectId"]):
            if summary["status"] in ("Completed.", "Runtime Error"):
                continue
            read = account.backtest(project["projectId"], summary["backtestId"])
            assert read["totalPerformance"] is None and read["rollingWindow"] is None
            assert account.trade_page(summary["backtestId"], 0, 100) == ([], 0)
            states.add(summary["status"].split(":")[0])
    assert states == {"Running", "In Queue..."}


# --- Rolling windows -----------------------------------------------------------------------------


def _month_ends(first: date, last: date) -> list[date]:
    """LEAN GetPeriodRanges' end dates: the last date, then each month end back to the first."""
    ends, day = [last], last.replace(day=1) - timedelta(days=1)
    while day >= first:
        ends.append(day)
        day = day.replace(day=1) - timedelta(days=1)
    return ends[::-1]


def _window_end(key: str) -> date:
    """The last day of a rolling window, from its key (`M3_20231231`)."""
    return datetime.strptime(key.split("_")[1], "%Y%m%d").date()


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return day.replace(year=index // 12, month=index % 12 + 1)


def test_rolling_windows_are_lean_s_periods_with_their_own_trades(cases: list[Case]) -> None:
    windows = 0
    for case in cases:
        if case.pascal:
            continue
        rolling = case.read["rollingWindow"]
        total = case.total()
        first = date.fromisoformat(case.read["backtestStart"][:10])
        last = max(_window_end(key) for key in rolling)
        ends = _month_ends(first, last)
        expected = [f"M{n}_{end:%Y%m%d}" for n in (1, 3, 6, 12) for end in ends]
        assert list(rolling) == expected, case.backtest_id
        for key, window in rolling.items():
            months, index = int(key[1 : key.index("_")]), expected.index(key) % len(ends)
            end, start = ends[index], first
            if index:  # from the month after the previous end, `months` months back
                start = max(first, _months_back(ends[index - 1] + timedelta(days=1), months - 1))
            inside = [
                t
                for t in total["closedTrades"]
                if start <= datetime.fromisoformat(t["exitTime"][:10]).date() <= end
            ]
            assert window["closedTrades"] == inside, (case.backtest_id, key)
            check_trade_statistics(window["tradeStatistics"], inside, (case.backtest_id, key))
            assert list(window["portfolioStatistics"]) == PORTFOLIO_KEYS
            windows += 1
        for months in (1, 3, 6, 12):  # every length's last window ends with the backtest
            final = rolling[f"M{months}_{last:%Y%m%d}"]["portfolioStatistics"]
            assert final["endEquity"] == total["portfolioStatistics"]["endEquity"]
    assert windows > 5_000


def test_a_runtime_error_stops_the_performance_where_it_stopped(cases: list[Case]) -> None:
    stopped = [case for case in cases if case.read["status"] == "Runtime Error" and not case.pascal]
    assert stopped
    for case in stopped:
        planned = date.fromisoformat(case.read["backtestEnd"][:10])
        last = max(_window_end(key) for key in case.read["rollingWindow"])
        assert last < planned, case.backtest_id
        exits = [date.fromisoformat(t["exitTime"][:10]) for t in case.trades()]
        assert exits and max(exits) <= last, case.backtest_id


# --- backtests/trades/read -----------------------------------------------------------------------


def signed_headers() -> dict[str, str]:
    """QuantConnect's nonce-token auth: Basic base64(uid:sha256(token:ts)) plus Timestamp."""
    stamp = str(int(time.time()))
    digest = hashlib.sha256(f"{SANDBOX_API_TOKEN}:{stamp}".encode()).hexdigest()
    credentials = base64.b64encode(f"{SANDBOX_USER_ID}:{digest}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "Timestamp": stamp}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxAccount(SIZES["demo"])) as sandbox:
        yield sandbox


def call(server: SandboxServer, endpoint: str, **params: Any) -> Json:
    response = requests.post(server.url + endpoint, json=params, headers=signed_headers())
    assert response.status_code == 200, response.text
    return response.json()


def _pages(server: SandboxServer, endpoint: str, key: str, ids: tuple[int, str], size: int):
    project_id, backtest_id = ids
    found, start = [], 0
    while True:
        page = call(
            server,
            endpoint,
            projectId=project_id,
            backtestId=backtest_id,
            start=start,
            end=start + size,
        )
        assert page["success"] is True
        found += page[key]
        if len(page[key]) < size:
            return found, page["length"]
        start += size


def test_trades_read_pages_are_the_closed_trades_with_their_orders(
    server: SandboxServer,
) -> None:
    shapes = set()
    for project in call(server, "projects/read")["projects"]:
        project_id = project["projectId"]
        for summary in call(server, "backtests/list", projectId=project_id)["backtests"]:
            ids = (project_id, summary["backtestId"])
            read = call(server, "backtests/read", projectId=project_id, backtestId=ids[1])
            performance = read["backtest"]["totalPerformance"]
            for size in (100, 37):
                trades, length = _pages(server, "backtests/trades/read", "trades", ids, size)
                if performance is None:
                    assert trades == [] and length == 0
                    continue
                closed = performance.get("closedTrades", performance.get("ClosedTrades"))
                assert [{k: v for k, v in t.items() if k != "orders"} for t in trades] == closed
                assert length == len(closed)
            if performance is None:
                continue
            orders, _ = _pages(server, "backtests/orders/read", "orders", ids, 100)
            by_id = {order.get("id", order.get("Id")): order for order in orders}
            for trade in trades:
                assert trade["orders"] == [by_id[i] for i in trade.get("orderIds", [])], trade
            shapes.add(("pages", len(trades) > 100))
            shapes.add(("legacy", "PortfolioStatistics" in performance))
            shapes.add(("orders", any(t["orders"] for t in trades)))
    assert {("pages", True), ("legacy", True), ("orders", True)} <= shapes


def test_trades_read_windows_and_errors_are_those_of_orders_read(
    server: SandboxServer,
) -> None:
    project_id = call(server, "projects/read")["projects"][0]["projectId"]
    backtests = call(server, "backtests/list", projectId=project_id)["backtests"]
    backtest_id = backtests[0]["backtestId"]
    for params in (
        {"start": 0, "end": 101},
        {"start": 5, "end": 5},
        {"start": -1, "end": 10},
        {"start": 0},
        {"backtestId": "0" * 32, "start": 0, "end": 10},
        {"projectId": project_id + 1, "start": 0, "end": 10},
    ):
        body = {"projectId": project_id, "backtestId": backtest_id, **params}
        trades = call(server, "backtests/trades/read", **body)
        orders = call(server, "backtests/orders/read", **body)
        assert trades["success"] is orders["success"] is False, params
        assert trades["errors"] == orders["errors"], params
    page = call(
        server,
        "backtests/trades/read",
        projectId=project_id,
        backtestId=backtest_id,
        start=10**6,
        end=10**6 + 100,
    )
    assert page["trades"] == [] and page["length"] > 0 and page["errors"] == []


def test_the_same_seed_serves_the_same_trades_and_reads() -> None:
    first, again = SandboxAccount(SIZES["small"]), SandboxAccount(SIZES["small"])
    project_id = first.projects()[1]["projectId"]
    for summary in first.backtests(project_id):
        backtest_id = summary["backtestId"]
        read = first.read_reply(project_id, backtest_id)
        assert read == again.read_reply(project_id, backtest_id)
        assert first.trade_page(backtest_id, 0, 100) == again.trade_page(backtest_id, 0, 100)
