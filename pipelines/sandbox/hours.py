"""Trading hours: when each market is open, as sessions of UTC epoch seconds.

Hours are local to the exchange and converted with `zoneinfo`, so daylight saving moves them
in UTC (US equities trade 13:30-20:00 UTC in summer, 14:30-21:00 in winter) and the machine's
own time zone never matters. Holidays are not modelled: every weekday trades.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Hours:
    """A market's weekday session in its exchange's time zone. `overnight` sessions open the
    evening before the weekday they close on (Sunday evening for Monday), as Globex and FX do;
    `always` markets (crypto) never close."""

    zone: tzinfo
    open: time
    close: time
    overnight: bool = False
    always: bool = False


HOURS = {
    "us_equity": Hours(NEW_YORK, time(9, 30), time(16, 0)),
    "cme": Hours(NEW_YORK, time(18, 0), time(17, 0), overnight=True),
    "forex": Hours(NEW_YORK, time(17, 0), time(17, 0), overnight=True),
    "eurex": Hours(BERLIN, time(1, 10), time(22, 0)),
    "crypto": Hours(UTC, time(0, 0), time(0, 0), always=True),
}
"""Sessions by market kind: US equities and options 9:30-16:00 New York; CME Globex Sunday to
Friday 18:00-17:00 New York with the daily hour's break; FX Sunday 17:00 to Friday 17:00 New
York; Eurex 01:10-22:00 Frankfurt; crypto around the clock."""


def _epoch(day: date, moment: time, zone: tzinfo) -> int:
    return int(datetime.combine(day, moment, zone).timestamp())


def _weekday_sessions(hours: Hours, first: date, last: date) -> Iterable[tuple[int, int]]:
    day = first
    while day <= last:
        if day.weekday() < 5:
            opened = day - timedelta(days=1) if hours.overnight else day
            yield _epoch(opened, hours.open, hours.zone), _epoch(day, hours.close, hours.zone)
        day += timedelta(days=1)


def merge(sessions: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sessions sorted, with touching or overlapping ones joined."""
    merged: list[tuple[int, int]] = []
    for opened, closed in sorted(sessions):
        if merged and opened <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closed))
        else:
            merged.append((opened, closed))
    return merged


class Schedule:
    """Open intervals `[open, close]` (epoch seconds, the close included) and a clock of open
    seconds over them, to place and move moments only where the market trades."""

    def __init__(self, sessions: Iterable[tuple[int, int]]) -> None:
        merged = merge(s for s in sessions if s[1] > s[0])
        self.opens = [s[0] for s in merged]
        self.closes = [s[1] for s in merged]
        self.before: list[int] = []  # open seconds before each session
        total = 0
        for opened, closed in merged:
            self.before.append(total)
            total += closed - opened
        self.total = total

    @classmethod
    def of(cls, kind: str, first: int, last: int) -> Schedule:
        """The sessions of a market kind, cut to `[first, last]`."""
        hours = HOURS[kind]
        if hours.always:
            return cls([(first, last)])
        days = datetime.fromtimestamp(first, UTC).date(), datetime.fromtimestamp(last, UTC).date()
        sessions = _weekday_sessions(hours, days[0], days[1] + timedelta(days=1))
        return cls((max(o, first), min(c, last)) for o, c in sessions)

    def cut(self, first: int, last: int) -> list[tuple[int, int]]:
        """These sessions within `[first, last]`."""
        start = bisect.bisect_left(self.closes, first)
        stop = bisect.bisect_right(self.opens, last)
        pairs = zip(self.opens[start:stop], self.closes[start:stop], strict=True)
        return [(max(o, first), min(c, last)) for o, c in pairs]

    def _session(self, moment: float) -> int:
        return bisect.bisect_right(self.opens, moment) - 1

    def is_open(self, moment: float) -> bool:
        """Whether `moment` is inside a session (its close included)."""
        index = self._session(moment)
        return index >= 0 and moment <= self.closes[index]

    def close_of(self, moment: float) -> int:
        """The close of the session holding `moment` (which must be open)."""
        return self.closes[self._session(moment)]

    def close_before(self, moment: float) -> int | None:
        """The last session close at or before `moment`, or None."""
        index = bisect.bisect_right(self.closes, moment) - 1
        return self.closes[index] if index >= 0 else None

    def next_open(self, moment: float) -> int | None:
        """The first session open after `moment`, or None."""
        index = self._session(moment) + 1
        return self.opens[index] if index < len(self.opens) else None

    def at(self, offset: float) -> int:
        """The moment `offset` open seconds after the first open (at a session's end, its
        close rather than the next open)."""
        index = max(bisect.bisect_left(self.before, offset) - 1, 0)
        return min(self.opens[index] + int(offset - self.before[index]), self.closes[index])

    def offset(self, moment: float) -> float:
        """Open seconds from the first open to `moment` (closed time counts nothing)."""
        index = self._session(moment)
        if index < 0:
            return 0.0
        return self.before[index] + min(moment, self.closes[index]) - self.opens[index]

    def later(self, moment: float, seconds: float) -> int | None:
        """The moment `seconds` of open time after `moment`, or None past the last close."""
        target = self.offset(moment) + seconds
        return None if target > self.total else self.at(target)
