"""One backtest's simulation: its orders, their events, and the portfolio their fills make.

`Simulation.run` walks a clock of open time over the backtest's window (only moments when one
of its lines trades), and at each arrival places an order on a line open then: market orders
fill at the touch plus slippage; resting orders (limit, stop, stop limit, limit-if-touched,
trailing stop) look ahead along their line's hours for the first moment their condition holds
(prices are pure functions of time; `triggers`) and fill then, or are canceled, expire, or stay
open at the end; market-on-open/close fill at the session's open or close; combos, exercise,
expiry and rolls are in `derivatives`. Fills are booked on the portfolio in time order (a
heap), with daily marks of its value in between. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import partial

from pipelines.sandbox import derivatives
from pipelines.sandbox.events import Draft, finish, new_event
from pipelines.sandbox.hours import HOURS, Schedule
from pipelines.sandbox.instruments import Contract, JsonDict
from pipelines.sandbox.market import Line, Market, trading_lines
from pipelines.sandbox.portfolio import Portfolio
from pipelines.sandbox.prices import DAY
from pipelines.sandbox.records import Backtest
from pipelines.sandbox.trades import TradeBuilder
from pipelines.sandbox.triggers import (
    Check,
    Trailing,
    Triggered,
    limit_check,
    scan,
    stop_check,
    touch,
    touched_check,
)
from pipelines.sandbox.wire import DAY_TIF, good_til_date

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
_CANCEL_MESSAGES = ("", "", "Canceled by the algorithm", "Order canceled: signal reversed")
_EXPIRED = "The order has expired."  # LEAN BacktestingBrokerage, on a time in force's expiry
_BUYING_POWER = (
    "Order Error: ids: [{id}], Insufficient buying power to complete orders (Value:[{value}]),"
    " Reason: Id: {id}, Initial Margin: {margin}, Free Margin: {free}."
)
_CAPITAL = {  # starting cash by strategy style: contracts worth $40k-$500k each need more
    "futures": (1_000_000.0, 5_000_000.0),
    "index_options": (1_000_000.0, 5_000_000.0),
    "future_options": (1_000_000.0, 5_000_000.0),
    "options": (100_000.0, 1_000_000.0),
    "mixed": (100_000.0, 1_000_000.0),
}
_SMALL_CAPITAL = (100_000.0, 100_000.0, 1_000_000.0, 25_000.0)
_LEVERAGE = 2.0  # the most exposure (notional over equity) a strategy adds to
_DATED = frozenset({"Option", "IndexOption", "FutureOption", "Future"})


class Simulation:
    """The simulated run of one backtest (deterministic in `(seed, backtest id)`)."""

    def __init__(self, backtest: Backtest, seed: int) -> None:
        self.backtest = backtest
        self.rng = random.Random(f"{seed}:orders:{backtest.backtest_id}")
        first = int(datetime.combine(backtest.start, time.min, UTC).timestamp())
        self.last = int(datetime.combine(backtest.last_day, time.max, UTC).timestamp())
        self.market = Market(f"{seed}:{backtest.backtest_id}", first, self.last)
        self.style, self.lines = trading_lines(self.market, self.rng, backtest.equity_mode == 1)
        self.tradable = [line for line in self.lines if line.tradable]
        self._options = any(line.contracts[0].is_option for line in self.tradable)
        self.clock = Schedule(
            session
            for line in self.tradable
            for session in zip(line.schedule.opens, line.schedule.closes, strict=True)
        )
        capital = self.rng.choice(_CAPITAL.get(self.style, _SMALL_CAPITAL))
        self.portfolio = Portfolio(self.market, backtest.account, capital)
        self.trades = TradeBuilder()
        self.benchmark = self.market.walk("SPY")
        self.orders: list[JsonDict] = []
        self.skill = self.rng.uniform(-0.15, 0.45)
        self._pending: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = 0
        self._day = first // DAY - 1
        self._watched: set[Contract] = set()

    # -- the loop --

    def run(self) -> Simulation:
        """Place every order, book every fill, mark every weekday; returns self."""
        self.portfolio.mark(self._day, self._day * DAY + DAY - 1)
        count = self.backtest.order_count
        if count and self.clock.total:
            offset, step = 0.0, self.clock.total / (count + 1)
            while len(self.orders) < count:
                offset = min(offset + self.rng.expovariate(1 / step), self.clock.total - 1)
                moment = self.clock.at(offset)
                self._advance(moment)
                if len(self.orders) < count:
                    self._place(moment, count - len(self.orders))
        self._advance(self.last)
        return self

    def later(self, moment: float, action: Callable[[], None]) -> None:
        """Run `action` once the simulation reaches `moment` (after what is due before)."""
        self._sequence += 1
        heapq.heappush(self._pending, (moment, self._sequence, action))

    def book(
        self,
        draft: Draft,
        moment: float,
        contract: Contract,
        quantity: float,
        price: float,
        fee: tuple[float, str] = (0.0, "USD"),
    ) -> None:
        """Book a fill of `draft` on the portfolio, and on the trades, when the simulation
        reaches its moment."""
        exercise = draft.type == 6
        self.later(
            moment,
            partial(self._booked, draft.id, exercise, contract, quantity, price, moment, fee),
        )

    def _booked(
        self,
        order_id: int,
        exercise: bool,
        contract: Contract,
        quantity: float,
        price: float,
        moment: float,
        fee: tuple[float, str],
    ) -> None:
        fee_value = self.portfolio.fill(contract, quantity, price, moment, fee)
        rate = self.portfolio.rate(contract.currency, moment)
        self.trades.fill(order_id, contract, quantity, price, moment, rate, fee_value, exercise)

    def _advance(self, moment: float) -> None:
        """Run what is due by `moment`: booked fills, expiries, rolls and daily marks."""
        while True:
            due = self._pending[0][0] if self._pending else math.inf
            mark_at = (self._day + 2) * DAY - 1
            if mark_at <= moment and mark_at < due:
                self._day += 1
                if (self._day + 3) % 7 < 5:  # a weekday (epoch day 0 was a Thursday)
                    self.portfolio.mark(self._day, mark_at)
                    self.trades.mark(mark_at)
            elif due <= moment:
                heapq.heappop(self._pending)[2]()
            else:
                return

    def watch(self, contract: Contract) -> None:
        """Book a dated contract's expiry (options) or roll (futures), once."""
        if contract in self._watched or contract.security_type not in _DATED:
            return
        self._watched.add(contract)
        if contract.is_option:
            self.later(contract.expiry, partial(derivatives.expire, self, contract))
            return
        line = next(line for line in self.tradable if contract in line.contracts)
        self.later(contract.expiry, partial(derivatives.roll, self, line, contract))

    # -- choosing an order --

    def _place(self, moment: int, remaining: int) -> None:
        lines = [line for line in self.tradable if line.schedule.is_open(moment)]
        if self.failing:  # trade what is held, to reduce it
            held = [line for line in lines if self.portfolio.quantity(line.contract_at(moment))]
            lines = held or lines
        line = self.rng.choice(lines)
        contract = line.contract_at(moment)
        if contract is None:
            return
        weights = {"market": 55, "resting": 30}
        if contract.security_type == "Equity":
            weights["auction"] = 6
        if contract.is_option and contract.security_type != "IndexOption":
            weights["exercise"] = 4
        if remaining >= 2 and self._options and not self.failing:
            weights["combo"] = 8 if len(derivatives.option_lines(self, moment)) >= 2 else 0
        if len(self.lines) > len(self.tradable):
            weights["index"] = 1
        family = self.rng.choices(list(weights), list(weights.values()))[0]
        if family == "combo":
            derivatives.combo(self, moment, remaining)
        elif family == "exercise":
            derivatives.manual_exercise(self, line, contract, moment)
        elif family == "index":
            derivatives.non_tradable(self, moment)
        elif family == "resting":
            self._resting(line, contract, moment)
        else:
            self.market_order(
                line, contract, moment, self.rng.choice([4, 5]) if family == "auction" else 0
            )

    def new_order(
        self, order_type: int, contract: Contract, quantity: float, moment: float
    ) -> Draft:
        """A new order (the next id), on a contract now watched for expiry or roll."""
        self.watch(contract)
        draft = Draft(len(self.orders) + 1, order_type, contract, quantity, int(moment))
        if self.rng.random() < 0.3:
            draft.tag = self.rng.choice(_ORDER_TAGS)
        self.orders.append({})  # its place, filled by `finish_order`
        return draft

    def finish_order(self, draft: Draft) -> None:
        """Write the order's JSON in its place."""
        self.orders[draft.id - 1] = finish(draft, self._adjustment_mode(draft.contract))

    def _adjustment_mode(self, contract: Contract) -> int:
        """Equities use the backtest's normalization (raw under options); derivatives raw."""
        if contract.security_type == "Equity":
            return self.backtest.equity_mode if self.style == "equity" else 0
        return 0 if contract.security_type in _DATED else 1

    @property
    def failing(self) -> bool:
        """Whether the portfolio has lost most of its value or holds more than the leverage
        limit (as of the last daily mark): the strategy only reduces positions then."""
        portfolio = self.portfolio
        crowded = portfolio.holdings > _LEVERAGE * max(portfolio.equity, 0.0)
        return crowded or portfolio.equity < 0.3 * portfolio.capital

    def exposure(self, contract: Contract, moment: float) -> float:
        """The account-currency exposure of one unit: the underlying's value for options."""
        rate = self.portfolio.rate(contract.currency, moment) * contract.multiplier
        return (contract.underlying or contract).mid(moment) * rate

    def _quantity(self, contract: Contract, moment: float) -> float:
        """Buy or sell a slice of the portfolio, leaning toward the price's long-run level as far
        as the strategy's skill goes; often reducing what is held instead, always when more would
        pass the leverage limit or the portfolio has lost most of its value. Options are only
        bought to open (no naked short options)."""
        held = self.portfolio.quantity(contract)
        equity = max(self.portfolio.equity, 1.0)
        rate = self.portfolio.rate(contract.currency, moment) * contract.multiplier
        exposure = self.exposure(contract, moment)
        price = max(contract.mid(moment), contract.properties.tick) * rate
        share = self.rng.uniform(0.005, 0.03) if contract.is_option else self.rng.uniform(0.02, 0.2)
        lot = contract.properties.lot
        lots = min(share * equity / price, _LEVERAGE / 4 * equity / exposure) / lot
        size = max(1, round(lots)) * lot
        crowded = (abs(held) + size) * exposure > _LEVERAGE * equity
        if held and (crowded or self.failing or self.rng.random() < 0.45):
            return round(-math.copysign(min(abs(held), size), held), 8)
        if contract.is_option:
            return size
        model = contract.asset.model
        level = contract.mid(moment) / contract.scale
        stretch = math.log(level / model.level) / math.log(model.high / model.low)
        lean = -math.tanh(6 * stretch) * self.skill
        return round(size if self.rng.random() < 0.5 + lean else -size, 8)

    # -- order families --

    def market_order(self, line: Line, contract: Contract, moment: int, order_type: int) -> None:
        """Market (0), market-on-open (4) or market-on-close (5): at the touch plus slippage,
        now, at the next session's open or at this session's close."""
        draft = self.new_order(order_type, contract, self._quantity(contract, moment), moment)
        side = 1 if draft.quantity > 0 else -1
        draft.price = touch(contract, moment, side)
        draft.submission = self.submission(contract, moment)
        draft.marketable = order_type == 0
        if self.rng.random() < 0.03:
            self.invalid(draft, self._buying_power_message(draft))
            return
        self.add_event(draft, "submitted", moment)
        when: float | None = moment
        if order_type == 4:
            when = line.schedule.next_open(moment)
        elif order_type == 5:
            when = line.schedule.close_of(moment)
        if when is not None and when <= min(self.last, contract.last_trade):
            tick = contract.properties.tick * contract.scale
            slip = side * self.rng.choice([0, 0, 1]) * tick

            def price(at: float) -> float:  # a sell at the lowest bid can slip no lower
                return max(touch(contract, at, side) + slip, tick)

            self.fill(draft, line, when, price, may_split=True)
        self.finish_order(draft)

    def _resting(self, line: Line, contract: Contract, moment: int) -> None:
        """Limit (1), stop market (2), stop limit (3), limit-if-touched (7), trailing stop (11)."""
        kinds = [1] if contract.is_option else self.rng.choices([1, 2, 3, 7, 11], [12, 5, 3, 3, 4])
        draft = self.new_order(kinds[0], contract, self._quantity(contract, moment), moment)
        side = 1 if draft.quantity > 0 else -1
        mid = contract.mid(moment)
        draft.price = contract.round(mid)
        draft.submission = self.submission(contract, moment)
        away = self.rng.uniform(0.001, 0.02) * (4 if contract.is_option else 1)
        check = self._typed(draft, side, mid, away)
        if self.rng.random() < 0.02:
            self.invalid(draft, self._buying_power_message(draft))
            return
        self.add_event(draft, "submitted", moment)
        end = self._lifetime(draft, line, moment)
        start: float = moment
        if self.rng.random() < 0.05:
            updated = line.schedule.later(moment, 60 * self.rng.randint(1, 30))
            if updated is not None and updated < (end or self.last):
                draft.last_update = start = updated
                self.add_event(draft, "updateSubmitted", updated)
        found = scan(line.schedule, start, end or min(self.last, contract.last_trade), check)
        if found is not None:
            when, price = found
            _mark_triggered(draft)
            self.fill(draft, line, when, lambda m: price, may_split=draft.type == 1)
        elif end is not None:
            draft.canceled, draft.status = end, 5
            message = _EXPIRED if draft.tif else self.rng.choice(_CANCEL_MESSAGES)
            self.add_event(draft, "canceled", end, message=message)
        self.finish_order(draft)

    def _typed(self, draft: Draft, side: int, mid: float, away: float) -> Check:
        """Set the type's prices in LEAN's key order (subclass keys first, as in Lean's
        ReadOrdersResponseJsonConverterTests; only on their types, ref §6); return its check."""
        contract, kind = draft.contract, draft.type
        limit = contract.round(mid * (1 - side * away))
        stop = contract.round(mid * (1 + side * away))
        if self.rng.random() < 0.1:  # a limit through the market: fills at once, at the touch
            limit = contract.round(mid * (1 + side * away / 4))
        if kind == 1:
            draft.before_type = {"limitPrice": limit}
            draft.event_prices = {"limitPrice": limit}
            bid, ask = contract.quote(draft.created)
            draft.marketable = limit >= ask if side > 0 else limit <= bid
            return partial(limit_check, contract, side, limit)
        if kind == 2:
            draft.before_type = {"stopPrice": stop}
            draft.event_prices = {"stopPrice": stop}
            return partial(stop_check, contract, side, stop)
        if kind in (3, 7):
            return self._armed(draft, side, stop if kind == 3 else limit)
        # Trailing stop: Lean writes `trailingAsPercentage` (the OAS says `trailingPercentage`).
        as_percentage = self.rng.random() < 0.6
        tick = contract.properties.tick
        amount = round(away, 4) if as_percentage else contract.round(max(abs(stop - mid), tick))
        draft.before_type = {"trailingAmount": amount, "trailingAsPercentage": as_percentage}
        draft.after_type = {"stopPrice": stop}
        draft.event_prices = {"stopPrice": stop}
        return Trailing(draft, side, amount, as_percentage)

    @staticmethod
    def _armed(draft: Draft, side: int, trigger: float) -> Check:
        """A stop limit (3) arms at its stop, a limit-if-touched (7) at its trigger; then it
        rests as a limit a little past that price."""
        contract = draft.contract
        if draft.type == 3:
            limit = contract.round(trigger * (1 + side * 0.002))
            draft.before_type = {"stopPrice": trigger, "stopTriggered": False, "limitPrice": limit}
            draft.event_prices = {"stopPrice": trigger, "limitPrice": limit}
            arming = partial(stop_check, contract, side, trigger)
        else:
            limit = contract.round(trigger * (1 + side * 0.001))
            touched = {"triggerPrice": trigger, "limitPrice": limit, "triggerTouched": False}
            draft.after_type, draft.event_prices = touched, {"limitPrice": limit}
            arming = partial(touched_check, contract, side, trigger)
        return Triggered(arming, partial(limit_check, contract, side, limit))

    def _lifetime(self, draft: Draft, line: Line, moment: int) -> float | None:
        """When the order stops resting unfilled: its time in force's expiry, the algorithm's
        cancel, or its contract's last trade (None: it would outlive the backtest)."""
        contract, roll = draft.contract, self.rng.random()
        ends = [contract.last_trade]
        if roll < 0.15:
            draft.tif = dict(DAY_TIF)
            ends.append(line.schedule.close_of(moment))
        elif roll < 0.25:
            zone = HOURS[contract.asset.hours].zone
            expiry = datetime.fromtimestamp(moment, zone).date()
            expiry += timedelta(days=self.rng.randint(1, 20))
            draft.tif = good_til_date(expiry)
            ends.append(_last_open(line, datetime.combine(expiry, time.max, zone).timestamp()))
        elif roll < 0.85:
            life = 60 * math.exp(self.rng.uniform(math.log(30), math.log(6_000)))
            ends.append(line.schedule.later(moment, life) or math.inf)
        end = min(ends)
        if end >= self.last:
            return None  # open orders stay open when the backtest ends
        return end if end < contract.last_trade else _last_open(line, end)

    # -- shared pieces --

    def fill(
        self, draft: Draft, line: Line, moment: float, price_at: Check, may_split: bool
    ) -> None:
        """Fill events from `moment` on, each booked on the portfolio when the simulation
        reaches it: sometimes several partial fills a minute or more apart (within the line's
        hours and the contract's life), sometimes leaving the rest unfilled."""
        contract = draft.contract
        parts = self.rng.randint(2, 4) if may_split and self.rng.random() < 0.3 else 1
        sizes = self._split(draft.quantity, contract.properties.lot, parts)
        complete = len(sizes) < 2 or self.rng.random() < 0.9
        if not complete:
            sizes = sizes[:-1]
        filled, paid, when = 0.0, 0.0, float(moment)
        for index, size in enumerate(sizes):
            if index:
                later = line.schedule.later(when, 60 * self.rng.randint(1, 5))
                if later is None or later > min(self.last, contract.last_trade):
                    complete = False
                    break
                when = later
            when = self._fraction(line, when, contract)
            price = contract.round(price_at(when))  # type: ignore[arg-type]
            fee = contract.fee(size, price)
            status = "filled" if complete and index == len(sizes) - 1 else "partiallyFilled"
            self.add_event(draft, status, when, fill_price=price, fill_qty=size, fee=fee)
            self.book(draft, when, contract, size, price, fee)
            filled, paid = filled + size, paid + size * price
            draft.last_fill = when
        if filled:
            draft.price = contract.round(paid / filled)
            draft.status = 3 if complete else 2

    def _fraction(self, line: Line, moment: float, contract: Contract) -> float:
        """LEAN writes event times with a fraction of a second in some backtests."""
        if not self.backtest.fractional_times:
            return moment
        shifted = round(moment + self.rng.random(), 6)
        inside = line.schedule.is_open(shifted) and shifted <= min(self.last, contract.last_trade)
        return shifted if inside else moment

    def _split(self, quantity: float, lot: float, parts: int) -> list[float]:
        units = max(round(abs(quantity) / lot), 1)
        parts = min(parts, units)
        cuts = sorted(self.rng.sample(range(1, units), parts - 1)) if parts > 1 else []
        bounds = [0, *cuts, units]
        sign = 1 if quantity > 0 else -1
        return [round(sign * (b - a) * lot, 8) for a, b in itertools.pairwise(bounds)]

    def add_event(self, draft: Draft, status: str, moment: float, **details: object) -> None:
        """Append an order event (see `events.new_event` for the details)."""
        draft.events.append(new_event(self.backtest, draft, status, moment, **details))  # type: ignore[arg-type]

    def submission(self, contract: Contract, moment: float) -> JsonDict | None:
        """The quote when the order was submitted (a few orders carry none)."""
        if self.rng.random() < 0.02:
            return None
        bid, ask = contract.quote(moment)
        return {"bidPrice": bid, "askPrice": ask, "lastPrice": contract.round(contract.mid(moment))}

    def _buying_power_message(self, draft: Draft) -> str:
        value = round(abs(draft.quantity * draft.price * draft.contract.multiplier), 2)
        free = round(max(self.portfolio.equity, 0) * self.rng.uniform(0.01, 0.3), 2)
        return _BUYING_POWER.format(id=draft.id, value=value, margin=round(value / 2, 2), free=free)

    def invalid(self, draft: Draft, message: str) -> None:
        """Refuse the order: one `invalid` event with LEAN's message."""
        draft.status = 7
        self.add_event(draft, "invalid", draft.created, message=message)
        self.finish_order(draft)


def _mark_triggered(draft: Draft) -> None:
    if "stopTriggered" in draft.before_type:
        draft.before_type["stopTriggered"] = True
    if "triggerTouched" in draft.after_type:
        draft.after_type["triggerTouched"] = True


def _last_open(line: Line, moment: float) -> float:
    """`moment` if the line trades then, else the close of its last session before."""
    if line.schedule.is_open(moment):
        return moment
    return line.schedule.close_before(moment) or moment
