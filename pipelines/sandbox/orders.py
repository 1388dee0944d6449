"""Orders and their events: one backtest's simulated order flow, as the API serves it.

`_OrderGenerator` walks each symbol's price through the backtest's trading sessions and emits
market, resting, auction, exercise and combo orders with their events (submitted, partial and
full fills with fees, updates, cancellations, invalid orders); `serialize_orders` turns them
into the compact JSON pages are cut from. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pipelines.sandbox.market import SESSION_OPEN, SESSION_SECONDS, JsonDict, Symbol
from pipelines.sandbox.records import Backtest, iso

# How LEAN's TimeInForceJsonConverter writes a GoodTilDate time in force: `$type`, `Expiry`.
GOOD_TIL_DATE_TYPE = "QuantConnect.Orders.TimeInForces.GoodTilDateTimeInForce"

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


@functools.lru_cache(maxsize=8192)
def _iso_day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _iso_epoch(seconds: float) -> str:
    """`2013-10-07T13:31:00Z` for epoch seconds (strftime is slow on the order hot path)."""
    day, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    return f"{_iso_day(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


@dataclass
class _Draft:
    """An order being built; `_OrderGenerator._finish` turns it into the API's JSON."""

    id: int
    type: int  # ref §6 order type enum
    symbol: Symbol
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

    def __init__(self, backtest: Backtest, seed: int) -> None:
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

    def _price(self, symbol: Symbol) -> float:
        elapsed_days = (self.clock - self.walked_at[symbol.value]) / SESSION_SECONDS
        shock = symbol.volatility * math.sqrt(max(elapsed_days, 1e-4)) * self.rng.gauss(0, 1)
        price = max(self.prices[symbol.value] * math.exp(shock), 0.05)
        self.prices[symbol.value], self.walked_at[symbol.value] = price, self.clock
        return price

    def _decimals(self, symbol: Symbol) -> int:
        # Adjusted equity prices carry long decimals ("price": 138.513986945, ref §6).
        return (
            9 if symbol.security_type == 1 and self.backtest.equity_mode == 1 else symbol.decimals
        )

    def _round(self, symbol: Symbol, price: float) -> float:
        return round(price, self._decimals(symbol))

    def _quote(self, symbol: Symbol, price: float) -> tuple[float, float]:
        half = {1: 0.0002 * price, 2: 0.03, 4: 0.00004 * price, 7: 0.0004 * price, 5: 0.125}
        bid = self._round(symbol, price - max(half[symbol.security_type], 0.005))
        ask = self._round(symbol, price + max(half[symbol.security_type], 0.005))
        return bid, ask

    def _quantity(self, symbol: Symbol) -> float:
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
    def _fee(symbol: Symbol, quantity: float, price: float) -> float:
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

    def _new(self, order_type: int, symbol: Symbol, quantity: float) -> _Draft:
        draft = _Draft(len(self.orders) + 1, order_type, symbol, quantity, self._now())
        if self.rng.random() < 0.3:
            draft.tag = self.rng.choice(_ORDER_TAGS)
        return draft

    def _market(self, symbol: Symbol, order_type: int) -> None:
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

    def _resting(self, symbol: Symbol, order_type: int | None = None) -> None:
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
            created = datetime.fromtimestamp(draft.created, UTC).date()
            expiry = created + timedelta(days=self.rng.randint(1, 30))
            draft.properties = {"timeInForce": {"$type": GOOD_TIL_DATE_TYPE, "Expiry": iso(expiry)}}
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

    def _exercise(self, option: Symbol) -> None:
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

    def _combo(self, options: list[Symbol], remaining: int) -> None:
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

    def _submission(self, symbol: Symbol, bid: float, ask: float, last: float) -> JsonDict | None:
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
        symbol: Symbol | None = None,
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

    def _adjustment_mode(self, symbol: Symbol) -> int:
        """Equities use the backtest's normalization; options and futures contracts trade raw."""
        if symbol.security_type == 1:
            return self.backtest.equity_mode
        return 0 if symbol.security_type in (2, 5) else 1

    def _in_the_money(self, option: Symbol) -> bool:
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


def serialize_orders(backtest: Backtest, seed: int) -> tuple[bytes, ...]:
    """All of a backtest's orders as compact JSON, as Json.NET writes them (non-ASCII raw)."""
    orders = _OrderGenerator(backtest, seed).run()
    return tuple(
        json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode() for order in orders
    )
