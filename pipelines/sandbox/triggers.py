"""When a resting order fills: checks of the market at a moment, and the look-ahead over them.

A check takes a moment and gives the fill price then, or None while the order does not fill.
Checks look at a quick quote off the tick grid (`Contract.rough_quote`) and take the real quote
only once they fill, so that a look-ahead over dozens of moments stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.sandbox.events import Draft
from pipelines.sandbox.hours import Schedule
from pipelines.sandbox.instruments import Contract

Check = Callable[[float], float | None]
CHECKS = 16  # a resting order looks at the market this many times over its life, at most
_MIN_STEP = 1_800.0  # and at most every 30 minutes of open time


def touch(contract: Contract, moment: float, side: int) -> float:
    """What a market order pays: the ask to buy (`side` 1), the bid to sell (-1)."""
    bid, ask = contract.quote(moment)
    return ask if side > 0 else bid


def limit_check(contract: Contract, side: int, limit: float, moment: float) -> float | None:
    """A limit fills at its price or better, never through it."""
    bid, ask = contract.rough_quote(moment)
    if (ask if side > 0 else bid) * side > limit * side:
        return None
    bid, ask = contract.quote(moment)
    return min(limit, ask) if side > 0 else max(limit, bid)


def stop_check(contract: Contract, side: int, stop: float, moment: float) -> float | None:
    """A stop triggers once the touch reaches it, and fills at the touch (never before it)."""
    bid, ask = contract.rough_quote(moment)
    if (ask if side > 0 else bid) * side < stop * side:
        return None
    bid, ask = contract.quote(moment)
    return max(stop, ask) if side > 0 else min(stop, bid)


def touched_check(contract: Contract, side: int, trigger: float, moment: float) -> float | None:
    """A limit-if-touched arms once the price comes down (buy) or up (sell) to its trigger."""
    bid, ask = contract.rough_quote(moment)
    mid = (bid + ask) / 2
    return mid if mid * side <= trigger * side else None


def all_check(checks: list[Check], moment: float) -> float | None:
    """A combo leg limit order fills when every leg's limit can fill at once."""
    return 0.0 if all(check(moment) is not None for check in checks) else None


def net_check(
    ratios: list[float], checks: list[Check], limit: float, moment: float
) -> float | None:
    """A combo limit fills when its legs' net price at the touch is within its limit."""
    net = sum(ratio * (check(moment) or 0.0) for ratio, check in zip(ratios, checks, strict=True))
    return net if net <= limit else None


class Triggered:
    """A check armed by another: a stop limit's stop, a limit-if-touched's trigger."""

    def __init__(self, trigger: Check, then: Check) -> None:
        self.trigger, self.then, self.armed = trigger, then, False

    def __call__(self, moment: float) -> float | None:
        if not self.armed:
            self.armed = self.trigger(moment) is not None
        return self.then(moment) if self.armed else None


class Trailing:
    """A trailing stop: its stop follows the price by `amount` (or that fraction of it), and it
    fills once the touch reaches the stop; the order keeps the stop it ended with."""

    def __init__(self, draft: Draft, side: int, amount: float, as_percentage: bool) -> None:
        self.draft, self.side, self.amount, self.percent = draft, side, amount, as_percentage

    def __call__(self, moment: float) -> float | None:
        contract, side = self.draft.contract, self.side
        bid, ask = contract.quote(moment)
        touched = ask if side > 0 else bid
        stop = self.draft.after_type["stopPrice"]
        if touched * side >= stop * side:
            return touched
        trail = touched * (1 + side * self.amount) if self.percent else touched + side * self.amount
        self.draft.after_type["stopPrice"] = contract.round(min(stop * side, trail * side) * side)
        return None


def scan(schedule: Schedule, start: float, stop: float, check: Check) -> tuple[float, float] | None:
    """The first moment from `start` to `stop` at which `check` gives a fill price, looking along
    the schedule's open time at most `CHECKS` times after `start` itself."""
    first, last = schedule.offset(start), schedule.offset(stop)
    step = max(_MIN_STEP, (last - first) / CHECKS)
    offset = first
    while offset <= last:
        moment = max(
            schedule.at(offset), start
        )  # (`at` gives a session's close over the next open)
        price = check(moment)
        if price is not None:
            return moment, price
        offset += step
    return None
