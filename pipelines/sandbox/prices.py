"""Prices as pure functions of time: mean-reverting random walks, and options priced on them.

Each walk draws one log price per UTC day from `(seed, its name)` (an Ornstein-Uhlenbeck
process around the model's level, so that years of it stay in the model's band) and adds a
small intraday wiggle that is a hash of the second. `Walk.at(t)` thus gives the same price for
the same moment however often and in whatever order it is asked, which lets the order
simulation look ahead (when does a resting limit order fill?) without replaying anything.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DAY = 86_400
_HASH_MULTIPLIER = 2_654_435_761  # Knuth's multiplicative hash
_INTRADAY_SHARE = 0.2  # the intraday wiggle's size, as a share of the daily volatility


@dataclass(frozen=True)
class PriceModel:
    """A walk's long-run `level`, daily `volatility` (of the log price) and the band
    `[low, high]` it stays in."""

    level: float
    volatility: float
    low: float
    high: float


class Walk:
    """One price series over whole UTC days from `first_day` (epoch days) for `days` days:
    a price per day (`knots`), joined by straight lines."""

    def __init__(self, model: PriceModel, first_day: int, days: int, name: str) -> None:
        rng = random.Random(name)
        low, high = math.log(model.low), math.log(model.high)
        mean, spread = math.log(model.level), (high - low) / 6
        pull = model.volatility**2 / (2 * spread**2)  # mean reversion per day
        keep = math.exp(-pull)
        shock = model.volatility * math.sqrt((1 - keep * keep) / (2 * pull))
        log_price = mean + rng.gauss(0, spread)
        knots = []
        for _ in range(days + 2):
            log_price = min(max(log_price, low), high)
            knots.append(log_price)
            log_price = mean + (log_price - mean) * keep + shock * rng.gauss(0, 1)
        self.knots = [math.exp(k) for k in knots]
        self.last_knot = len(self.knots) - 2
        self.first_day = first_day
        self.low, self.high = model.low, model.high
        self.wiggle = 2 * _INTRADAY_SHARE * model.volatility
        self.salt = rng.getrandbits(32)

    def at(self, moment: float) -> float:
        """The price at `moment` (epoch seconds)."""
        # Conditionals rather than min/max: this runs hundreds of thousands of times a backtest.
        position = moment / DAY - self.first_day
        day = int(position) if position > 0 else 0
        day = day if day < self.last_knot else self.last_knot
        before, after = self.knots[day], self.knots[day + 1]
        price = before + (after - before) * (position - day)
        hashed = (int(moment) * _HASH_MULTIPLIER + self.salt) & 0xFFFFFFFF
        price *= 1 + self.wiggle * (hashed / 0xFFFFFFFF - 0.5)
        return self.low if price < self.low else self.high if price > self.high else price

    def close(self, day: int) -> float:
        """The price at the end of epoch day `day` (its knot, without the wiggle)."""
        index = min(max(day + 1 - self.first_day, 0), len(self.knots) - 1)
        return self.knots[index]


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def option_value(spot: float, strike: float, years: float, volatility: float, put: bool) -> float:
    """Black-Scholes with no rates or dividends; the intrinsic value at or after expiry."""
    intrinsic = max(strike - spot, 0.0) if put else max(spot - strike, 0.0)
    if years <= 0:
        return intrinsic
    deviation = volatility * math.sqrt(years)
    d1 = (math.log(spot / strike) + deviation * deviation / 2) / deviation
    call = spot * _normal_cdf(d1) - strike * _normal_cdf(d1 - deviation)
    return max(call - spot + strike if put else call, intrinsic)
