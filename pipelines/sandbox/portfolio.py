"""A backtest's money: cash per currency, positions, fees, closed-trade records, daily equity.

Fills are booked as LEAN's `SecurityPortfolioModel.ProcessFill` books them: the fee leaves the
fee's own currency; notional moves in the quote currency except for margined types (futures,
CFDs, crypto futures), which settle only profit and loss on closing; every closing fill leaves
a transaction record of its profit in the account currency less twice its fee. Values convert
to the account currency at the rate of the moment (`Market.usd`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.sandbox.instruments import Contract
from pipelines.sandbox.market import Market


@dataclass
class Position:
    """A holding: signed quantity and average price (quote currency)."""

    quantity: float = 0.0
    average: float = 0.0


@dataclass(frozen=True)
class Mark:
    """The portfolio at the end of a day, in the account currency: its value, the fees and sales
    volume so far, and its holdings' absolute value and unrealized profit."""

    day: int  # epoch days
    equity: float
    fees: float
    volume: float
    holdings: float
    unrealized: float


class Portfolio:
    """Cash, positions and the records statistics are made from, for one backtest."""

    def __init__(self, market: Market, account: str, capital: float) -> None:
        self.market = market
        self.account = account
        self.capital = capital
        self.cash: dict[str, float] = {account: capital}
        self.positions: dict[Contract, Position] = {}
        self.fees = 0.0
        self.volume = 0.0
        self.records: list[float] = []  # closing fills' profit less twice their fee
        self.record_moments: list[float] = []  # when each record was made
        self.marks: list[Mark] = []
        self.equity = capital  # the last mark's
        self.holdings = 0.0  # the last mark's

    def rate(self, currency: str, moment: float) -> float:
        """The account-currency value of one unit of `currency` at `moment`."""
        if currency == self.account:
            return 1.0
        return self.market.usd(currency, moment) / self.market.usd(self.account, moment)

    def quantity(self, contract: Contract | None) -> float:
        """The quantity held now."""
        position = self.positions.get(contract)
        return position.quantity if position else 0.0

    def fill(
        self,
        contract: Contract,
        quantity: float,
        price: float,
        moment: float,
        fee: tuple[float, str] = (0.0, "USD"),
    ) -> float:
        """Book a fill of `quantity` at `price`, paying `fee` (amount, currency); returns the
        fee in the account currency."""
        amount, currency = fee
        quote_rate = self.rate(contract.currency, moment)
        fee_value = amount * self.rate(currency, moment) if amount else 0.0
        self.fees += fee_value
        self._add(currency, -amount)
        notional = quantity * price * contract.multiplier
        self.volume += abs(notional) * quote_rate
        if not contract.margined:
            self._add(contract.currency, -notional)
        position = self.positions.get(contract)
        if position is None:
            position = self.positions[contract] = Position()
        held = position.quantity
        if held and (held > 0) != (quantity > 0):
            closed = math.copysign(min(abs(quantity), abs(held)), held)
            profit = closed * (price - position.average) * contract.multiplier
            if contract.margined:
                self._add(contract.currency, profit)
            self.records.append(profit * quote_rate - 2 * fee_value)
            self.record_moments.append(moment)
        self._move(position, quantity, price)
        if position.quantity == 0:
            del self.positions[contract]
        return fee_value

    @staticmethod
    def _move(position: Position, quantity: float, price: float) -> None:
        held = position.quantity
        total = round(held + quantity, 8)
        if held == 0 or ((held > 0) != (total > 0) and total != 0):
            position.average = price  # opened, or passed through zero
        elif (held > 0) == (quantity > 0):
            position.average = (position.average * held + price * quantity) / total
        position.quantity = total

    def _add(self, currency: str, amount: float) -> None:
        self.cash[currency] = self.cash.get(currency, 0.0) + amount

    def value(self, moment: float) -> tuple[float, float, float]:
        """Total value, absolute holdings value and unrealized profit, in the account currency."""
        total = sum(amount * self.rate(c, moment) for c, amount in self.cash.items() if amount)
        holdings = unrealized = 0.0
        for contract, position in self.positions.items():
            rate = self.rate(contract.currency, moment) * contract.multiplier
            price = contract.mid(moment)
            gain = position.quantity * (price - position.average) * rate
            worth = position.quantity * price * rate
            total += gain if contract.margined else worth
            holdings += abs(worth)
            unrealized += gain
        return total, holdings, unrealized

    def mark(self, day: int, moment: float) -> None:
        """Record the end of epoch day `day` (at `moment`)."""
        equity, holdings, unrealized = self.value(moment)
        equity = round(equity, 2)  # money: the equity curve is in cents
        self.marks.append(Mark(day, equity, self.fees, self.volume, holdings, unrealized))
        self.equity, self.holdings = equity, holdings
