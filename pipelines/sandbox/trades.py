"""Closed trades, built from a backtest's fills as LEAN's TradeBuilder builds them.

LEAN's defaults (Lean `Common/Statistics/TradeBuilder.cs`, as of 2025-09): fills are grouped
FillToFill and matched FIFO. A fill that opens or adds to a position opens a trade of its own;
a fill against the position closes the oldest open trades first (splitting the one it closes
only part of), and what is left of it opens a trade the other way. An order's fee goes to the
first of its fills only, and a closing fill's fee to the first trade it closes. Profit, MAE
and MFE are converted at the closing fill's rate, times the contract multiplier, and rounded to
cents; MAE and MFE come from the lowest and highest prices seen since the position opened
(LEAN's `Position.MinPrice`/`MaxPrice`): the fills' prices and, here, the price at each daily
mark. `EndTradeDrawdown` is `ProfitLoss - MFE` (Trade.cs before Lean PR #9249, 2026-01).
`IsWin` is `ProfitLoss > 0`, except for the option leg of an exercise or assignment
(Lean `Extensions.IsWin`, PR #7354): a long option exercised in the money wins when the premium
lost is less than the intrinsic value received; a short option assigned loses when the intrinsic
value paid exceeds the premium received.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.sandbox.instruments import Contract, JsonDict

_EPSILON = 1e-9


@dataclass(slots=True)
class ClosedTrade:
    """One closed trade. Times are epoch microseconds; money is in the account currency, its
    profit, MAE and MFE in whole cents (LEAN rounds them to 2 places)."""

    contract: Contract
    entry: int
    exit: int
    entry_price: float
    exit_price: float
    long: bool
    quantity: float  # unsigned
    profit: int
    fees: float
    mae: int
    mfe: int
    win: bool
    order_ids: tuple[int, ...]

    @property
    def given_back(self) -> int:
        """The end-trade drawdown, in cents: `ProfitLoss - MFE` (never positive)."""
        return self.profit - self.mfe

    @property
    def ticks(self) -> int:
        """The duration in .NET ticks (100 ns)."""
        return (self.exit - self.entry) * 10


@dataclass(slots=True)
class _Open:
    """An open trade: where it was entered, how much of it is left, its fees so far, and the
    order that opened it."""

    entry: int
    price: float
    long: bool
    quantity: float
    fees: float
    order_id: int


@dataclass(slots=True)
class _Position:
    """A symbol's open trades (oldest first) and the price range since the position opened."""

    trades: list[_Open]
    low: float
    high: float

    def see(self, price: float) -> None:
        """Widen the range to `price` (LEAN `TradeBuilder.SetMarketPrice`)."""
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price


@dataclass
class TradeBuilder:
    """Turns fills, in time order, into closed trades (`closed`, in the order they closed)."""

    closed: list[ClosedTrade] = field(default_factory=list)
    _positions: dict[Contract, _Position] = field(default_factory=dict)
    _charged: set[int] = field(default_factory=set)  # orders whose fee is already assigned

    def mark(self, moment: float) -> None:
        """Sample the price of every symbol with open trades (a daily mark)."""
        for contract, position in self._positions.items():
            position.see(contract.mid(moment))

    def fill(
        self,
        order_id: int,
        contract: Contract,
        quantity: float,
        price: float,
        moment: float,
        rate: float,
        fee: float,
        exercise: bool = False,
    ) -> None:
        """Process one fill: `rate` converts the quote currency to the account currency, `fee`
        is the order's fee in the account currency, `exercise` marks an option exercise order."""
        if order_id in self._charged:
            fee = 0.0
        self._charged.add(order_id)
        at = round(moment * 1_000_000)
        long = quantity > 0
        position = self._positions.get(contract)
        if position is None:
            opened = _Open(at, price, long, abs(quantity), fee, order_id)
            self._positions[contract] = _Position([opened], price, price)
            return
        position.see(price)
        if position.trades[0].long == long:
            position.trades.append(_Open(at, price, long, abs(quantity), fee, order_id))
            return
        left = abs(quantity)
        closing = _Closing(order_id, contract, quantity, price, at, rate, fee, exercise, moment)
        while position.trades and left > _EPSILON:
            trade = position.trades[0]
            part = min(trade.quantity, left)
            self.closed.append(closing.close(trade, part, position))
            closing.fee = 0.0  # a closing fill's fee goes to the first trade it closes
            if part >= trade.quantity - _EPSILON:
                position.trades.pop(0)
            else:
                trade.quantity, trade.fees = round(trade.quantity - part, 8), 0.0
            left = round(left - part, 8)
        if left > _EPSILON:  # the fill reverses the position
            opened = _Open(at, price, long, left, 0.0, order_id)
            self._positions[contract] = _Position([opened], price, price)
        elif not position.trades:
            del self._positions[contract]


@dataclass(slots=True)
class _Closing:
    """A fill that closes trades, and what a trade it closes is worth."""

    order_id: int
    contract: Contract
    quantity: float
    price: float
    at: int
    rate: float
    fee: float
    exercise: bool
    moment: float

    def close(self, trade: _Open, part: float, position: _Position) -> ClosedTrade:
        """The closed trade of `part` of `trade`, with the fill's fee if it still has it."""
        sign = 1 if trade.long else -1
        scale = self.rate * self.contract.multiplier * part
        profit = round((self.price - trade.price) * sign * scale * 100)
        low, high = position.low - trade.price, position.high - trade.price
        adverse, favorable = (low, high) if trade.long else (-high, -low)
        return ClosedTrade(
            contract=self.contract,
            entry=trade.entry,
            exit=self.at,
            entry_price=trade.price,
            exit_price=self.price,
            long=trade.long,
            quantity=round(part, 8),
            profit=profit,
            fees=round(trade.fees + self.fee, 6),
            mae=round(adverse * scale * 100),
            mfe=round(favorable * scale * 100),
            win=self._win(profit),
            order_ids=(trade.order_id, self.order_id),  # an order fills one way: never equal
        )

    def _win(self, cents: int) -> bool:
        """Lean `Extensions.IsWin`: profit, unless this is an option exercise's option leg."""
        option = self.contract
        if not (self.exercise and option.is_option and option.underlying is not None):
            return cents > 0
        intrinsic = option.intrinsic(option.underlying.mid(self.moment))
        in_the_money = intrinsic > 0
        value = abs(self.quantity) * intrinsic * option.multiplier * self.rate
        profit = abs(cents) / 100
        if self.quantity < 0:  # exercising a long option
            return in_the_money and profit < value
        return not in_the_money or profit > value  # assigned on a short option


class Ticks(int):
    """A duration in .NET ticks (100 ns), served as a TimeSpan."""


class Moment(int):
    """A time in epoch microseconds, served as an ISO date-time."""


def _median(values: list[int]) -> int:
    """LinqExtensions.Median: the upper middle of the sorted values."""
    return sorted(values)[len(values) // 2] if values else 0


def _deviation(total: int, squares: int, count: int) -> float:
    """The sample standard deviation (n - 1) of `count` amounts in cents, from their sum and
    their sum of squares (exact: integers), in money; 0 below two amounts."""
    if count < 2:
        return 0.0
    return math.sqrt((count * squares - total * total) / (count * (count - 1))) / 100


def trade_statistics(trades: Sequence[ClosedTrade]) -> JsonDict:
    """Lean `TradeStatistics` of closed trades (in the order they closed), by camelCase name:
    numbers unrounded, durations as `Ticks`, times as `Moment` (None without trades). A trade
    with profit is a winner; a losing one too when it `win`s (an option exercised in the money:
    counted a winner, its loss still a loss). Money adds up in whole cents, exactly, as LEAN's
    decimals do. One pass: it runs for every rolling window."""
    n = won = 0
    fees = 0.0
    total = profit = loss = squares = loss_squares = mae = mfe = 0
    largest_profit = largest_loss = largest_mae = largest_mfe = end_drawdown = 0
    peak = peak_with_mfe = closed_drawdown = intra_drawdown = 0
    wins = losses = most_wins = most_losses = longest = 0
    entered, in_drawdown, last_peak = None, False, trades[0].entry if trades else 0
    durations: list[int] = []
    gain_durations: list[int] = []
    loss_durations: list[int] = []
    # Comparisons rather than min/max: this runs for every trade of every window.
    for trade in trades:
        pnl, adverse, favorable = trade.profit, trade.mae, trade.mfe
        given_back = pnl - favorable
        ticks = (trade.exit - trade.entry) * 10
        n += 1
        fees += trade.fees
        mae += adverse
        mfe += favorable
        if entered is None or trade.entry < entered:
            entered = trade.entry
        if adverse < largest_mae:
            largest_mae = adverse
        if favorable > largest_mfe:
            largest_mfe = favorable
        if given_back < end_drawdown:
            end_drawdown = given_back
        squares += pnl * pnl
        durations.append(ticks)
        if total + favorable > peak_with_mfe:
            peak_with_mfe = total + favorable
        if total + adverse - peak_with_mfe < intra_drawdown:
            intra_drawdown = total + adverse - peak_with_mfe
        total += pnl
        if pnl > 0:
            profit += pnl
            if pnl > largest_profit:
                largest_profit = pnl
            gain_durations.append(ticks)
            if total > peak:
                peak = total
                if in_drawdown and trade.exit - last_peak > longest:
                    longest = trade.exit - last_peak
                last_peak, in_drawdown = trade.exit, False
        else:
            loss += pnl
            loss_squares += pnl * pnl
            if pnl < largest_loss:
                largest_loss = pnl
            loss_durations.append(ticks)
            if total - peak < closed_drawdown:
                closed_drawdown = total - peak
            in_drawdown = True
        if pnl > 0 or trade.win:
            won, wins, losses = won + 1, wins + 1, 0
            if wins > most_wins:
                most_wins = wins
        else:
            wins, losses = 0, losses + 1
            if losses > most_losses:
                most_losses = losses
    lost, gained, dropped = n - won, len(gain_durations), len(loss_durations)
    average = total / n / 100 if n else 0.0
    average_gain = profit / gained / 100 if gained else 0.0
    average_loss = loss / dropped / 100 if dropped else 0.0
    average_mfe = mfe / n / 100 if n else 0.0
    deviation = _deviation(total, squares, n)
    downside = _deviation(loss, loss_squares, dropped)
    return {
        "startDateTime": Moment(entered) if entered is not None else None,
        "endDateTime": Moment(trades[-1].exit) if trades else None,
        "totalNumberOfTrades": n,
        "numberOfWinningTrades": won,
        "numberOfLosingTrades": lost,
        "totalProfitLoss": total / 100,
        "totalProfit": profit / 100,
        "totalLoss": loss / 100,
        "largestProfit": largest_profit / 100,
        "largestLoss": largest_loss / 100,
        "averageProfitLoss": average,
        "averageProfit": average_gain,
        "averageLoss": average_loss,
        "averageTradeDuration": Ticks(round(sum(durations) / n) if n else 0),
        "averageWinningTradeDuration": Ticks(round(sum(gain_durations) / gained) if gained else 0),
        "averageLosingTradeDuration": Ticks(round(sum(loss_durations) / dropped) if dropped else 0),
        "medianTradeDuration": Ticks(_median(durations)),
        "medianWinningTradeDuration": Ticks(_median(gain_durations)),
        "medianLosingTradeDuration": Ticks(_median(loss_durations)),
        "maxConsecutiveWinningTrades": most_wins,
        "maxConsecutiveLosingTrades": most_losses,
        "profitLossRatio": average_gain / abs(average_loss) if average_loss else 0.0,
        "winLossRatio": (won / lost if lost else 10.0) if n else 0.0,
        "winRate": won / n if n else 0.0,
        "lossRate": 1 - won / n if n else 0.0,
        "averageMAE": mae / n / 100 if n else 0.0,
        "averageMFE": average_mfe,
        "largestMAE": largest_mae / 100,
        "largestMFE": largest_mfe / 100,
        "maximumClosedTradeDrawdown": closed_drawdown / 100,
        "maximumIntraTradeDrawdown": intra_drawdown / 100,
        "profitLossStandardDeviation": deviation,
        "profitLossDownsideDeviation": downside,
        "profitFactor": (profit / abs(loss) if loss < 0 else 10.0) if profit else 0.0,
        "sharpeRatio": average / deviation if deviation > 0 else 0.0,
        "sortinoRatio": average / downside if downside > 0 else 0.0,
        "profitToMaxDrawdownRatio": (
            (total / abs(closed_drawdown) if closed_drawdown < 0 else 10.0) if total else 0.0
        ),
        "maximumEndTradeDrawdown": end_drawdown / 100,
        "averageEndTradeDrawdown": average - average_mfe,
        "maximumDrawdownDuration": Ticks(longest * 10),
        "totalFees": fees,
    }
