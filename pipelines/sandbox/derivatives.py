"""The orders of options and futures that plain orders don't cover: combos, exercise and
assignment, expiry, futures rolls, and orders on an index (which LEAN refuses).

Each function places its orders on a `Simulation`. Exercise follows LEAN's DefaultExerciseModel
(its messages and event order); an index option is settled in cash at its intrinsic value.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

from pipelines.sandbox.instruments import Contract
from pipelines.sandbox.market import Line
from pipelines.sandbox.triggers import Check, all_check, limit_check, net_check, scan, touch

if TYPE_CHECKING:
    from pipelines.sandbox.orders import Simulation

_NON_TRADABLE = "The security with symbol '{}' is marked as non-tradable."  # QCAlgorithm
_LEG_EXPOSURE = 0.5  # a combo's legs each add at most this share of the equity in exposure


def option_lines(sim: Simulation, moment: float) -> list[tuple[Line, Contract]]:
    """The option lines trading at `moment`, with their contracts then."""
    found = []
    for line in sim.tradable:
        contract = line.contract_at(moment)
        if contract is not None and contract.is_option and line.schedule.is_open(moment):
            found.append((line, contract))
    return found


def _legs(
    sim: Simulation, call: Contract, other: Contract, remaining: int
) -> tuple[list[tuple[Contract, float]], str]:
    """A spread of two options, or (room allowing) a collar with the underlying."""
    underlying = call.underlying
    tradable = any(underlying in line.contracts for line in sim.tradable)
    if remaining >= 3 and underlying is not None and tradable and sim.rng.random() < 0.35:
        return [
            (underlying, round(call.multiplier / underlying.multiplier)),
            (other, 1),
            (call, -1),
        ], "Collar"
    return [(call, 1), (other, -1)], "Spread"


def combo(sim: Simulation, moment: int, remaining: int) -> None:
    """A combo market (8), combo limit (9) or combo leg limit (10) order of 2-3 legs: all legs
    fill together, at the touch (8), when their net is within the group's limit (9), or when
    each leg's own limit can fill (10); else they are canceled together."""
    order_type = sim.rng.choices([8, 9, 10], [5, 3, 2])[0]
    (line, call), (_, other) = option_lines(sim, moment)[:2]
    legs, tag = _legs(sim, call, other, remaining)
    room = _LEG_EXPOSURE * max(sim.portfolio.equity, 0.0) / sim.exposure(call, moment)
    group_quantity = float(sim.rng.randint(1, max(1, min(5, int(room)))))
    sides = [1 if ratio > 0 else -1 for _, ratio in legs]
    net = round(sum(r * touch(c, moment, s) for (c, r), s in zip(legs, sides, strict=True)), 2)
    limits = [
        c.round(c.mid(moment) * (1 + s * 0.01)) for (c, _), s in zip(legs, sides, strict=True)
    ]
    first_id = len(sim.orders) + 1
    group = {
        "id": first_id,
        "quantity": group_quantity,
        "count": len(legs),
        "limitPrice": round(net - abs(net) * 0.01, 2) if order_type == 9 else 0.0,
        "orderIds": list(range(first_id, first_id + len(legs))),
        "direction": 0 if net >= 0 else 1,
    }
    prices: list[Check] = [partial(touch, c, side=s) for (c, _), s in zip(legs, sides, strict=True)]
    if order_type == 10:
        prices = [
            partial(limit_check, c, s, limit)
            for (c, _), s, limit in zip(legs, sides, limits, strict=True)
        ]
    fill_at: float | None = moment
    end = math.inf
    if order_type != 8:
        life = line.schedule.later(moment, 60 * sim.rng.randint(5, 600)) or math.inf
        end = min(life, call.last_trade, other.last_trade)
        ratios = [ratio for _, ratio in legs]
        check = (
            partial(net_check, ratios, prices, group["limitPrice"])
            if order_type == 9
            else partial(all_check, prices)
        )
        found = scan(line.schedule, moment, min(end, sim.last), check)
        fill_at = found[0] if found else None
    tag = tag if sim.rng.random() < 0.7 else ""
    for (contract, ratio), price, limit in zip(legs, prices, limits, strict=True):
        draft = sim.new_order(order_type, contract, ratio * group_quantity, moment)
        draft.tag, draft.group, draft.price = tag, group, contract.round(contract.mid(moment))
        draft.after_type = {"quantity": draft.quantity}
        if order_type == 10:
            draft.after_type = {"limitPrice": limit, "quantity": draft.quantity}
            draft.event_prices = {"limitPrice": limit}
        draft.submission = sim.submission(contract, moment)
        draft.marketable = order_type == 8
        sim.add_event(draft, "submitted", moment)
        if fill_at is not None:
            sim.fill(draft, line, fill_at, price, may_split=False)
        elif end <= sim.last:
            draft.status, draft.canceled = 5, end
            sim.add_event(draft, "canceled", end)
        sim.finish_order(draft)


def manual_exercise(sim: Simulation, line: Line, option: Contract, moment: int) -> None:
    """Exercise (6) some of a long, in-the-money option held; else trade it."""
    held = sim.portfolio.quantity(option)
    spot = option.underlying.mid(moment) if option.underlying else 0.0
    if held <= 0 or option.intrinsic(spot) <= 0:
        sim.market_order(line, option, moment, 0)
        return
    room = int(_LEG_EXPOSURE * max(sim.portfolio.equity, 0.0) / sim.exposure(option, moment))
    contracts = float(sim.rng.randint(1, max(1, min(int(held), room)))) if held >= 1 else held
    exercise(sim, option, -contracts, moment)


def exercise(sim: Simulation, option: Contract, quantity: float, moment: float) -> None:
    """An option exercise order: the option leg at no price, then (in the money) the underlying
    delivered at the strike; an index option is paid its intrinsic value instead."""
    underlying = option.underlying
    assert underlying is not None
    spot = underlying.mid(moment)
    draft = sim.new_order(6, option, quantity, moment)
    draft.price = option.round(option.mid(moment))
    itm = option.intrinsic(spot) > 0
    assigned = itm and quantity > 0
    action = "Assigned" if assigned else "Automatic Exercise"
    message = f"{action if itm else 'OTM'}. Underlying: {underlying.round(spot)}"
    sim.add_event(draft, "submitted", moment, itm=itm)
    cash = option.security_type == "IndexOption"
    price = option.intrinsic(spot) if cash else 0.0
    details = {"message": message, "assigned": assigned, "itm": itm}
    sim.add_event(draft, "filled", moment, fill_price=price, fill_qty=quantity, **details)
    sim.book(draft, moment, option, quantity, price)
    if itm and not cash:
        delivered = (
            -quantity * option.multiplier / underlying.multiplier * (-1 if option.put else 1)
        )
        message = "Option Assignment" if assigned else "Option Exercise"
        sim.add_event(
            draft,
            "filled",
            moment,
            fill_price=option.strike,
            fill_qty=delivered,
            message=message,
            assigned=assigned,
            contract=underlying,
            quantity=delivered,
        )
        sim.book(draft, moment, underlying, delivered, option.strike)
        sim.watch(underlying)
    draft.last_fill = moment
    draft.status = 3
    sim.finish_order(draft)


def expire(sim: Simulation, option: Contract) -> None:
    """At expiry: exercise what is held long and be assigned what is held short, in the money;
    let the rest expire worthless."""
    held = sim.portfolio.quantity(option)
    if held and len(sim.orders) < sim.backtest.order_count:
        exercise(sim, option, -held, option.expiry)


def roll(sim: Simulation, line: Line, future: Contract) -> None:
    """Close a future's position when its contract stops trading."""
    held = sim.portfolio.quantity(future)
    if not held or len(sim.orders) >= sim.backtest.order_count:
        return
    draft = sim.new_order(0, future, -held, future.expiry)
    draft.tag = "Roll"
    side = -1 if held > 0 else 1
    draft.price = touch(future, future.expiry, side)
    draft.submission = sim.submission(future, future.expiry)
    draft.marketable = True
    sim.add_event(draft, "submitted", future.expiry)
    sim.fill(draft, line, future.expiry, partial(touch, future, side=side), may_split=False)
    sim.finish_order(draft)


def non_tradable(sim: Simulation, moment: int) -> None:
    """An order on an index, which LEAN refuses: indexes are not tradable."""
    contract = next(line for line in sim.lines if not line.tradable).contracts[0]
    draft = sim.new_order(0, contract, float(sim.rng.randint(1, 10)), moment)
    draft.price = touch(contract, moment, 1)
    draft.submission = sim.submission(contract, moment)
    sim.invalid(draft, _NON_TRADABLE.format(contract.value))
