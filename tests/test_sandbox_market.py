"""The sandbox is a small, coherent market: every number of a backtest follows from its fills.

Each invariant is checked over every size preset (all backtests of the small presets, a fixed
sample of the big ones), on the replies the API serves, read back into camelCase where a
backtest serves the 2024 dialect.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import statistics as stats
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipelines.sandbox import SIZES, SandboxAccount
from pipelines.sandbox.orders import Simulation
from pipelines.sandbox.properties import symbol_properties
from pipelines.sandbox.statistics import TRADING_DAYS, risk_free_rate

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
SAMPLE = 8  # backtests per big preset
FILLS = ("filled", "partiallyFilled")
MONTH_CODES = "FGHJKMNQUVXZ"
Json = dict[str, Any]


@dataclass
class Case:
    """One finished backtest as the API serves it."""

    preset: str
    account: SandboxAccount
    project_id: int
    read: Json
    orders: list[Json]

    @property
    def backtest_id(self) -> str:
        return self.read["backtestId"]

    @property
    def statistics(self) -> Json:
        return self.read["statistics"]

    def fills(self) -> list[tuple[Json, Json]]:
        """`(order, event)` of every fill event, in time order."""
        found = [(o, e) for o in self.orders for e in o["events"] if e["status"] in FILLS]
        return sorted(found, key=lambda pair: (pair[1]["time"], pair[0]["id"]))


def camel(value: Any, whole: bool = False) -> Any:
    """An order of the 2024 dialect (PascalCase, kebab-case events) in camelCase; the time in
    force object (`$type`, `Expiry`) as it is."""
    if isinstance(value, list):
        return [camel(v) for v in value]
    if not isinstance(value, dict) or whole:
        return value
    renamed = {}
    for key, item in value.items():
        name = "id" if key == "ID" else re.sub(r"-(\w)", lambda m: m.group(1).upper(), key)
        name = name[:1].lower() + name[1:]
        renamed[name] = camel(item, whole=name == "timeInForce")
    return renamed


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
            orders = [camel(o) for o in account.orders(backtest_id)]
            found.append(Case(preset, account, project_id, read, orders))
    return found


# --- Fills ---------------------------------------------------------------------------------------


def test_limit_orders_never_fill_through_their_limit(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        for order, event in case.fills():
            limit = order.get("limitPrice")
            if limit is None or event["symbol"] != order["symbol"]["id"]:
                continue
            side = 1 if event["fillQuantity"] > 0 else -1
            assert event["fillPrice"] * side <= limit * side + 1e-9, (case.backtest_id, order)
            checked += 1
    assert checked > 500


def test_stops_fill_only_once_the_price_reaches_them(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        for order, event in case.fills():
            if order["type"] not in (2, 11):  # stop market, trailing stop
                continue
            side = 1 if event["fillQuantity"] > 0 else -1
            assert event["fillPrice"] * side >= order["stopPrice"] * side - 1e-9, order
            checked += 1
    assert checked > 100


def test_market_orders_fill_at_the_touch_plus_slippage(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        for order in case.orders:
            submitted = order.get("orderSubmissionData")
            fills = [e for e in order["events"] if e["status"] in FILLS]
            if order["type"] != 0 or not fills or not submitted or order.get("tag") == "Roll":
                continue
            first = fills[0]
            if first["time"] != float(_epoch(order["time"])):
                continue  # a partial fill later, or a fraction of a second on
            tick = _tick(order)
            touch = submitted["askPrice"] if order["quantity"] > 0 else submitted["bidPrice"]
            slippage = (first["fillPrice"] - touch) * (1 if order["quantity"] > 0 else -1)
            assert -1e-9 <= slippage <= tick * 1.01 + 1e-9, order
            checked += 1
    assert checked > 1_000


def _tick(order: Json) -> float:
    """The order's tick size, from the symbol properties file (crypto, which it leaves out:
    the largest of the sandbox's crypto ticks)."""
    kinds = {1: "Equity", 2: "Option", 4: "Forex", 5: "Future", 6: "Cfd", 8: "FutureOption"}
    kind = {**kinds, 10: "IndexOption"}.get(order["securityType"])
    if kind is None:
        return 0.1
    root = _root(order)
    for market in ("usa", "cme", "comex", "cbot", "eurex", "fxcm"):
        try:
            return symbol_properties(market, root, kind).tick
        except KeyError:
            continue
    raise KeyError(root)


def _root(order: Json) -> str:
    value = order["symbol"]["value"]
    if order["securityType"] == 5:
        return value[:-3]
    return order["symbol"]["id"].split(" ")[0]


# --- Hours and lives -----------------------------------------------------------------------------


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _open(order: Json, moment: float) -> bool:
    """Whether the order's market trades at `moment`, by the exchanges' published hours."""
    kind, value = order["securityType"], order["symbol"]["value"]
    new_york = datetime.fromtimestamp(moment, NEW_YORK)
    weekday, clock = new_york.weekday(), new_york.time()
    if kind in (1, 2, 9, 10):  # US equities, options and index options: 9:30-16:00
        return weekday < 5 and time(9, 30) <= clock <= time(16, 0)
    if kind in (7, 11):  # crypto
        return True
    if kind == 5 and value.startswith("FESX"):  # Eurex: 01:10-22:00 Frankfurt
        berlin = datetime.fromtimestamp(moment, BERLIN)
        return berlin.weekday() < 5 and time(1, 10) <= berlin.time() <= time(22, 0)
    # Globex (futures, futures options, CFDs) and FX: Sunday evening to Friday 17:00.
    if weekday == 5 or (weekday == 4 and clock > time(17, 0)):
        return False
    start = time(17, 0) if kind == 4 else time(18, 0)
    if weekday == 6:
        return clock >= start
    return clock <= time(17, 0) or clock >= start


def test_every_moment_is_inside_the_backtest_and_its_market_hours(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        first = datetime.strptime(case.read["backtestStart"], "%Y-%m-%d %H:%M:%S")
        last = datetime.strptime(case.read["backtestEnd"], "%Y-%m-%d %H:%M:%S")
        window = (first.replace(tzinfo=UTC).timestamp(), last.replace(tzinfo=UTC).timestamp())
        for order in case.orders:
            moments = [
                _epoch(order[k]) for k in ("time", "lastFillTime", "canceledTime") if k in order
            ]
            times = [event["time"] for event in order["events"]]
            assert times == sorted(times) and times[0] >= _epoch(order["time"]), order
            for event in order["events"]:
                own = event["symbol"] == order["symbol"]["id"]
                moments += [event["time"]] if own else []
            for moment in moments:
                assert window[0] <= moment <= window[1], (case.backtest_id, order)
                assert _open(order, moment), (case.backtest_id, order["symbol"], moment)
                checked += 1
    assert checked > 10_000


def _option_expiry(value: str) -> float:
    expiry = datetime.strptime(value[6:12], "%y%m%d").date()
    return datetime.combine(expiry, time(16, 0), NEW_YORK).timestamp()


def _future_expiry(value: str) -> float:
    month, year = MONTH_CODES.index(value[-3]) + 1, 2000 + int(value[-2:])
    first = date(year, month, 1)
    third_friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
    return datetime.combine(third_friday, time(17, 0), NEW_YORK).timestamp()


def test_options_and_futures_trade_only_during_their_lives(cases: list[Case]) -> None:
    options = futures = 0
    for case in cases:
        for order, event in case.fills():
            if event["symbol"] != order["symbol"]["id"]:
                continue
            value = order["symbol"]["value"]
            if order["securityType"] in (2, 8, 10):
                assert event["time"] <= _option_expiry(value), (case.backtest_id, order)
                options += 1
            elif order["securityType"] == 5:
                expiry = _future_expiry(value)
                assert expiry - 400 * 86_400 <= event["time"] <= expiry, order
                futures += 1
    assert options > 200 and futures > 200


def test_exercise_and_assignment_follow_the_position(cases: list[Case]) -> None:
    checked = 0
    for case in cases:
        held: dict[str, float] = defaultdict(float)
        for order, event in case.fills():
            symbol = event["symbol"]
            if order["type"] == 6 and symbol == order["symbol"]["id"]:
                before = held[symbol]
                assert before and abs(event["fillQuantity"]) <= abs(before) + 1e-9, order
                assert (event["fillQuantity"] > 0) == (before < 0), order  # closes the position
                assert event["isAssignment"] == (before < 0 and event["isInTheMoney"]), order
                checked += 1
            held[symbol] += event["fillQuantity"]
    assert checked > 20


# --- Money and statistics ------------------------------------------------------------------------


def _money(text: str) -> float:
    return float(re.sub(r"[^\d.\-]", "", text))


def test_total_fees_are_the_fees_of_the_fills_in_the_account_currency(cases: list[Case]) -> None:
    currencies: set[str] = set()
    for case in cases:
        backtest = case.account._backtests[case.backtest_id]
        market = Simulation(backtest, case.account.seed).market
        total = 0.0
        for _, event in case.fills():
            if "orderFeeAmount" in event:
                currency, moment = event["orderFeeCurrency"], event["time"]
                rate = market.usd(currency, moment) / market.usd(backtest.account, moment)
                total += event["orderFeeAmount"] * rate
                currencies.add(currency)
        assert abs(total - _money(case.statistics["Total Fees"])) <= 0.005 + 1e-9, case.read
    assert {"USD", "EUR", "JPY", "USDT"} <= currencies


def portfolio_numbers(case: Case) -> Json:
    """The numeric portfolio statistics, camelCase: legacy backtests serve them PascalCase,
    as strings rounded to 4 places (real_backtests_read_2023-09)."""
    total = case.read["totalPerformance"]
    if "portfolioStatistics" in total:
        return total["portfolioStatistics"]
    return {k[:1].lower() + k[1:]: float(v) for k, v in total["PortfolioStatistics"].items()}


def _equities(case: Case) -> tuple[float, float] | None:
    performance = portfolio_numbers(case)
    if "startEquity" not in performance:
        return None  # a legacy backtest from before StartEquity (2024-03)
    return performance["startEquity"], performance["endEquity"]


def test_net_profit_is_end_equity_over_start_equity(cases: list[Case]) -> None:
    for case in cases:
        equities = _equities(case)
        if equities is None:
            continue
        start, end = equities
        if "End Equity" in case.statistics:
            assert (
                float(case.statistics["Start Equity"]),
                float(case.statistics["End Equity"]),
            ) == (
                start,
                end,
            )
        expected = end / start - 1
        shown = case.statistics["Net Profit"]
        assert shown == (f"{expected * 100:.3f}%" if expected else "0%"), case.read
        equity = case.read["runtimeStatistics"]["Equity"]
        assert _money(equity) == pytest.approx(end, abs=0.006), case.read


def test_sharpe_ratio_has_the_sign_of_the_mean_daily_excess_return(cases: list[Case]) -> None:
    signs = set()
    for case in cases:
        simulation = case.account.simulation(case.backtest_id)
        marks = simulation.portfolio.marks
        equity = [m.equity for m in marks]
        returns = [b / a - 1 for a, b in itertools.pairwise(equity)][1:]
        sharpe = float(case.statistics["Sharpe Ratio"])
        if len(returns) < 2 or stats.stdev(returns) == 0:
            assert sharpe == 0
            continue
        excess = (
            (1 + stats.fmean(returns)) ** TRADING_DAYS - 1 - risk_free_rate([m.day for m in marks])
        )
        assert math.copysign(1, sharpe) == math.copysign(1, excess) or round(sharpe, 3) == 0
        if sharpe > 0:
            assert stats.fmean(returns) > 0
        signs.add(sharpe > 0)
    assert signs == {True, False}


def test_list_numbers_and_total_performance_agree_with_the_statistics(cases: list[Case]) -> None:
    listings: dict[tuple[int, int], dict[str, Json]] = {}
    for case in cases:
        if case.preset not in ("demo", "small"):
            continue  # listing a big preset's project simulates all its backtests
        key = (id(case.account), case.project_id)
        if key not in listings:
            summaries = case.account.backtests(case.project_id, include_statistics=True)
            listings[key] = {b["backtestId"]: b for b in summaries}
        listed = listings[key][case.backtest_id]
        numbers = portfolio_numbers(case)
        pascal = "PortfolioStatistics" in case.read["totalPerformance"]  # 4 places, not 3
        text = case.statistics
        percent = {"netProfit": "Net Profit", "drawdown": "Drawdown", "winRate": "Win Rate"}
        for key, name in {**percent, "sharpeRatio": "Sharpe Ratio", "beta": "Beta"}.items():
            assert listed[key] == pytest.approx(float(text[name].rstrip("%"))), (key, case.read)
        sharpe = float(text["Sharpe Ratio"])
        assert numbers["sharpeRatio"] == pytest.approx(sharpe, abs=0.0005 if pascal else 0)
        assert numbers["drawdown"] * 100 == pytest.approx(float(text["Drawdown"].rstrip("%")))
        assert numbers["totalNetProfit"] * 100 == pytest.approx(
            float(text["Net Profit"].rstrip("%")), abs=0.0051 if pascal else 0.001
        )
        orders = text.get("Total Orders", text.get("Total Trades"))
        assert orders == str(len(case.orders)) == str(listed["trades"])


def test_win_and_loss_rates_add_up(cases: list[Case]) -> None:
    for case in cases:
        win, loss = (int(case.statistics[k].rstrip("%")) for k in ("Win Rate", "Loss Rate"))
        assert win + loss in (0, 100, 101, 99), case.statistics  # each rounded on its own
        average_win = float(case.statistics["Average Win"].rstrip("%"))
        average_loss = float(case.statistics["Average Loss"].rstrip("%"))
        assert average_win >= 0 >= average_loss


# --- Prices --------------------------------------------------------------------------------------

PRICE_RANGES = {"EURUSD": (1.0, 1.2), "GBPUSD": (1.15, 1.4), "USDJPY": (100, 160)}


def test_spreads_and_price_levels_are_realistic(cases: list[Case]) -> None:
    seen: dict[int, int] = defaultdict(int)
    for case in cases:
        for order in case.orders:
            quote = order.get("orderSubmissionData")
            if not quote:
                continue
            bid, ask, kind = quote["bidPrice"], quote["askPrice"], order["securityType"]
            value = order["symbol"]["value"]
            mid = (bid + ask) / 2
            spread_bps = (ask - bid) / mid * 10_000
            if kind == 1:
                assert 0.5 <= spread_bps <= 5.01 and 10 <= mid <= 1_000, order
            elif kind == 4:
                pip = 0.01 if value.endswith("JPY") else 0.0001
                assert 0.9 <= (ask - bid) / pip <= 2.1, order
                low, high = PRICE_RANGES[value]
                assert low <= bid <= ask <= high, order
            elif kind == 5:
                assert ask - bid == pytest.approx(_tick(order)), order
            elif kind in (2, 8, 10):
                assert ask - bid >= _tick(order) - 1e-9 and spread_bps >= 10, order
            seen[kind] += 1
    assert {1, 2, 4, 5, 6, 7, 8, 10, 11} <= set(seen)


# --- Determinism ---------------------------------------------------------------------------------


def test_the_same_id_gives_the_same_data_and_presets_share_no_id() -> None:
    ids: dict[str, set[str]] = {}
    projects: dict[int, Json] = {}
    for preset, size in SIZES.items():
        account = SandboxAccount(size)
        ids[preset] = set(account._backtests)
        for project in account.projects():  # a project is the same object in every preset
            assert projects.setdefault(project["projectId"], project) == project
    presets = list(ids)
    for index, first in enumerate(presets):
        for second in presets[index + 1 :]:
            assert not ids[first] & ids[second], (first, second)
    # The benchmark's `--projects --backtests --orders` over the default preset is `large`.
    large = SIZES["large"]
    overridden = dataclasses.replace(
        SIZES["demo"],
        projects=large.projects,
        backtests_per_project=large.backtests_per_project,
        orders_per_backtest=large.orders_per_backtest,
    )
    first, again = SandboxAccount(large), SandboxAccount(overridden)
    backtest_id = sorted(ids["large"])[3]
    project_id = first.project_of(backtest_id)
    assert first.orders(backtest_id) == again.orders(backtest_id)
    assert first.backtest(project_id, backtest_id) == again.backtest(project_id, backtest_id)


DIGEST = """
import hashlib, json
from pipelines.sandbox import SIZES, SandboxAccount
account = SandboxAccount(SIZES["demo"])
digest = hashlib.sha256()
for project in account.projects()[:2]:
    for backtest in account.backtests(project["projectId"], include_statistics=True):
        read = account.backtest(project["projectId"], backtest["backtestId"])
        orders = account.orders(backtest["backtestId"])
        digest.update(json.dumps([backtest, read, orders], sort_keys=True).encode())
for project in account.projects():
    for summary in account.optimizations.summaries(project["projectId"]):
        read = account.optimizations.read(summary["optimizationId"])
        digest.update(json.dumps([summary, read], sort_keys=True).encode())
print(digest.hexdigest())
"""


def test_output_is_the_same_in_any_time_zone() -> None:
    def digest(zone: str) -> str:
        env = {"TZ": zone, "PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-c", DIGEST], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert digest("Asia/Tokyo") == digest("America/Los_Angeles")
    assert re.fullmatch(r"[0-9a-f]{64}", digest("UTC"))


# --- Real reply shapes ---------------------------------------------------------------------------


def test_the_real_shapes_appear(cases: list[Case]) -> None:
    raw = [
        order
        for case in cases
        if case.preset == "demo"
        for order in case.account.orders(case.backtest_id)
    ]
    pascal = [o for o in raw if "Id" in o]
    assert pascal and all("Events" in o and "order-id" in o["Events"][0] for o in pascal)
    orders = [o for case in cases for o in case.orders]
    events = [e for o in orders for e in o["events"]]
    assert any(e["time"] % 1 for e in events)  # fractional epoch seconds
    assert {"EUR", "JPY", "USDT"} <= {o["priceCurrency"] for o in orders}
    forces = [o["properties"]["timeInForce"] for o in orders]
    assert {} in forces
    assert {"$type": "QuantConnect.Orders.TimeInForces.DayTimeInForce"} in forces
    dated = [f for f in forces if "Expiry" in f]
    assert dated and all(re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00", f["Expiry"]) for f in dated)
    assert all(f["$type"].endswith("GoodTilDateTimeInForce") for f in dated)
    index_orders = [o for o in orders if o["securityType"] == 9]
    assert index_orders and all(o["status"] == 7 for o in index_orders)
    read = cases[0].read
    assert isinstance(read["organizationId"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", read["backtestEnd"])


def test_queued_backtests_have_null_statistics_and_projects_list_parameters() -> None:
    account = SandboxAccount(SIZES["medium"])
    queued = [
        (project["projectId"], backtest["backtestId"])
        for project in account.projects()
        for backtest in account.backtests(project["projectId"])
        if backtest["status"] == "In Queue..."
    ]
    assert queued
    read = account.backtest(*queued[0])
    assert read["statistics"] is None and read["runtimeStatistics"] is None
    parameters = [p for project in account.projects() for p in project["parameters"]]
    assert parameters and all(set(p) == {"key", "value", "min", "max", "step"} for p in parameters)
