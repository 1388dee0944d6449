"""The adaptive request rate: start polite, speed up while the API answers fast and clean, back
off when it pushes back, and never go above the ceilings.

QuantConnect documents no rate limit (reference §8), so no fixed rate is right: one polite
enough for any server wastes a fast one, and one fast enough is rude to a slow one.
`AdaptiveLimiter` gates every attempt of a client, across its threads, on two adaptive limits:
a rate (a token bucket) and the requests in flight (a semaphore whose permits grow and shrink).

Starting point
    2 requests/s and 2 in flight (`INITIAL_*`), or the ceilings if lower. With no rate ceiling
    (`max_requests_per_second` None or 0) no rate applies until the server first pushes back:
    only the permits in flight gate the requests, as `QC_MAX_REQUESTS_PER_SECOND=0` always
    meant "no client-side rate limit".

Increase (at most once per `ADJUST_SECONDS`)
    An interval is *clean* when at least one reply came back good, none came back slow (over
    `SLOW_REPLY_FACTOR` times the endpoint's usual time and over `SLOW_REPLY_FLOOR_SECONDS`),
    and no back-off happened. After a clean interval, each limit that held a request back
    during it grows; a limit nobody waited for stays where it is, so it never runs far ahead of
    what the requests need.
    - The rate, multiplicatively with a cap on the step: it doubles, by at most `MAX_STEP`
      requests/s (slow start: from 2/s, 10/s is reached in 3 steps, 100/s in 7).
    - Near a limit the server taught with a 429 (W, below): x`RECOVERY_GROWTH` per step up to
      `RECOVERY_SHARE` x W, then `PROBE_SHARE` x W per second up to `PROBE_UNTIL_SHARE` x W
      (a slow probe around the limit, so that 429s stay few: 10 s from 90 % to 110 %; each
      429 that teaches the same limit again, within `CONFIRM_SHARE`, halves the probe's speed,
      down to 1/8 after `MAX_CONFIRMATIONS`), and x`RECOVERY_GROWTH` per step above (no 429
      came: the limit has moved).
    - The permits in flight: double, or grow by one near a taught limit.

Back-off (multiplicative decrease)
    On 429, 5xx, "try again later", a dropped connection, a timeout or a garbled reply (the
    client decides: `Signal.THROTTLE` for a 429, on every attempt; `Signal.BACKOFF` for the
    others, on a request's first attempt only): both limits are multiplied by
    `BACKOFF_FACTOR`, the rate never below `MIN_REQUESTS_PER_SECOND` and the permits never
    below 1. Once per round only: a signal from a request that started before the last
    back-off, or within `BACKOFF_SPACING_SECONDS` of it, is counted but decides nothing.
    - A 429 that came while the client pushed its own limits (a request waited for a token or
      a permit in the last second) first brings the rate down to the requests started in the
      last second (what a per-second limit counts) and *teaches the limit* W, unless it said
      `Retry-After: 0`. One that teaches about the same W again confirms it (above).
    - With no rate yet (no ceiling), other trouble sets one from the rate the requests were
      going at if the permits held them back (the faster of the last second's and the last few
      requests', so that a client whose requests come in bursts slows its bursts down, not
      to its average), and none if they did not: trouble that met a trickle of requests says
      nothing of the client's pace. A 429 then sets one below the trickle.
    `Retry-After` is honoured by every thread: no request starts before it passes (capped at
    `max_pause_seconds`).

Ceilings
    The rate never exceeds `max_requests_per_second` and the permits never exceed
    `max_concurrency` (the client's thread pools are that size).

A process shares one limiter per API account and ceilings (`shared_limiter`), so the steps of
one sync, each with its own client, start polite once and honour each other's `Retry-After`.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

INITIAL_REQUESTS_PER_SECOND = 2.0
INITIAL_CONCURRENCY = 2
MIN_REQUESTS_PER_SECOND = 0.5
ADJUST_SECONDS = 0.1
MAX_STEP = 25.0  # requests/s added by one increase, at most
RECOVERY_GROWTH = 1.25
RECOVERY_SHARE = 0.9
PROBE_SHARE = 0.02  # of the taught limit W, per second
PROBE_UNTIL_SHARE = 1.1
CONFIRM_SHARE = 0.1  # a 429 within 10 % of the taught limit confirms it
MAX_CONFIRMATIONS = 3  # each confirmation halves the probe's speed, 3 times at most
BACKOFF_FACTOR = 0.7
BACKOFF_SPACING_SECONDS = 0.5
SLOW_REPLY_FACTOR = 4.0
SLOW_REPLY_FLOOR_SECONDS = 2.0
PUSHING_SECONDS = 1.0  # a limit that held a request back this recently was being pushed
_MEASURE_SECONDS = 1.0  # the window of the measured rate
_RECENT_STARTS = 8  # the requests whose starts give the rate of a burst
_POLL_SECONDS = 0.5  # longest sleep before a waiting thread looks again
_EARLY_SECONDS = 0.02  # how early a request may start on the token bucket's schedule


class Signal(enum.Enum):
    """What one attempt's reply says about the rate."""

    CLEAN = "clean"  # a good reply: evidence that the server copes
    THROTTLE = "throttle"  # a 429: too fast for the server's rate limit
    BACKOFF = "backoff"  # other trouble (5xx, try again later, dropped): slow down
    NEUTRAL = "neutral"  # says nothing about the rate (a 4xx, rejected credentials)


@dataclass(frozen=True)
class Ticket:
    """One attempt let through: when it started, and the endpoint (for its usual time)."""

    started: float
    key: str = ""


@dataclass(frozen=True)
class RateState:
    """A snapshot of the limiter's decisions."""

    requests_per_second: float | None  # the rate now; None: none applies (no ceiling, and
    # no back-off set one)
    concurrency: int  # requests allowed in flight now
    backoffs: int  # back-offs decided so far
    throttles: int  # replies that asked to slow down, counted or not
    learned_limit: float | None  # the rate a back-off taught (W), if any
    max_requests_per_second: float | None  # the ceilings
    max_concurrency: int
    measured_per_second: float  # requests started per second, over the last second

    def describe(self) -> str:
        """`API 8.0 requests/s (ceiling 10), 4 in flight (of 8), 1 back-off`."""
        ceiling = self.max_requests_per_second
        if self.requests_per_second is None:
            rate = "API rate unlimited"
        else:
            rate = f"API {self.requests_per_second:,.1f} requests/s"
            rate += f" (ceiling {ceiling:,g})" if ceiling else ""
        plural = "" if self.backoffs == 1 else "s"
        return (
            f"{rate}, {self.concurrency} in flight (of {self.max_concurrency}), "
            f"{self.backoffs} back-off{plural}"
        )


class AdaptiveLimiter:
    """The adaptive rate and permits of one API account, shared by threads (see the module).

    `acquire()` blocks until an attempt may start and returns its ticket; `release(ticket,
    signal, retry_after)` hands the permit back with what the reply said. `clock` is
    injectable for tests, which then use `try_acquire`, which never blocks.
    """

    def __init__(
        self,
        max_requests_per_second: float | None,
        max_concurrency: int,
        *,
        initial_requests_per_second: float = INITIAL_REQUESTS_PER_SECOND,
        initial_concurrency: int = INITIAL_CONCURRENCY,
        max_pause_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        ceiling = max_requests_per_second or None
        if ceiling is not None and ceiling < 0:
            raise ValueError(f"max_requests_per_second must not be negative, got {ceiling}")
        self.max_requests_per_second = ceiling
        self.max_concurrency = max_concurrency
        self.max_pause_seconds = max_pause_seconds
        self._clock = clock
        self._cond = threading.Condition()
        now = clock()
        self._rate: float | None = (
            None if ceiling is None else min(ceiling, initial_requests_per_second)
        )
        self._permits = max(1, min(max_concurrency, initial_concurrency))
        self._in_flight = 0
        self._next_free = now  # the token bucket, as the time the next token is due
        self._not_before = now  # Retry-After
        self._last_backoff = -math.inf
        self._learned: float | None = None
        self._confirmed = 0  # 429s in a row that taught about the same limit
        self._backoffs = self._throttles = 0
        self._started: deque[float] = deque()  # start times within the last second
        self._usual: dict[str, float] = {}  # each endpoint's usual reply time
        self._rate_bound_at = self._permits_bound_at = -math.inf
        self._last_activity = now
        self._reset_interval(now)

    # --- Letting attempts through ------------------------------------------------------------

    def acquire(self, key: str = "") -> Ticket:
        """Wait until an attempt may start (Retry-After passed, a permit free, a token due)."""
        with self._cond:
            while True:
                ticket_or_wait = self._try_start(key)
                if isinstance(ticket_or_wait, Ticket):
                    return ticket_or_wait
                self._cond.wait(min(ticket_or_wait, _POLL_SECONDS))

    def try_acquire(self, key: str = "") -> Ticket | float:
        """A ticket if an attempt may start now, else how many seconds to wait (at most)."""
        with self._cond:
            return self._try_start(key)

    def release(
        self,
        ticket: Ticket,
        signal: Signal,
        retry_after: float | None = None,
        seconds: float | None = None,
    ) -> None:
        """An attempt ended: free its permit and learn from its reply (`seconds`: how long
        the reply took, default since its ticket)."""
        with self._cond:
            now = self._last_activity = self._clock()
            self._in_flight -= 1
            if retry_after is not None and retry_after > 0:
                pause = min(retry_after, self.max_pause_seconds)
                self._not_before = max(self._not_before, now + pause)
            if signal in (Signal.THROTTLE, Signal.BACKOFF):
                self._throttles += 1
                if (
                    ticket.started >= self._last_backoff
                    and now - self._last_backoff >= BACKOFF_SPACING_SECONDS
                ):
                    # A 429 saying to retry at once (`Retry-After: 0`) sets no limit to learn.
                    teaches = signal is Signal.THROTTLE and retry_after != 0
                    self._back_off(now, teaches)
            elif signal is Signal.CLEAN:
                elapsed = now - ticket.started if seconds is None else seconds
                self._clean += 1
                self._slow += self._is_slow(ticket.key, elapsed)
                if now - self._interval_start >= ADJUST_SECONDS:
                    self._adjust(now)
            self._cond.notify_all()

    def state(self) -> RateState:
        """The limits now, the back-offs so far and the rate measured over the last second."""
        with self._cond:
            self._forget_old_starts(self._clock())
            return RateState(
                requests_per_second=self._rate,
                concurrency=self._permits,
                backoffs=self._backoffs,
                throttles=self._throttles,
                learned_limit=self._learned,
                max_requests_per_second=self.max_requests_per_second,
                max_concurrency=self.max_concurrency,
                measured_per_second=self._measured(self._clock()),
            )

    @property
    def idle_since(self) -> float | None:
        """When nothing is in flight and no pause is pending: when the last attempt started or
        ended (or the limiter was made); else None."""
        with self._cond:
            if self._in_flight or self._not_before > self._clock():
                return None
            return self._last_activity

    # --- Decisions ---------------------------------------------------------------------------

    def _try_start(self, key: str) -> Ticket | float:
        now = self._clock()
        if now < self._not_before:
            return self._not_before - now
        if self._in_flight >= self._permits:
            self._permits_bound = True
            self._permits_bound_at = now
            return _POLL_SECONDS  # a release wakes the waiters
        if self._rate is not None:
            interval = 1.0 / self._rate
            # A request may start a little early (a thread wakes late, the next one catches
            # up), never so early that a second holds more than its share.
            due = self._next_free - min(interval, _EARLY_SECONDS)
            if now < due:
                self._rate_bound = True
                self._rate_bound_at = now
                return due - now
            self._next_free = max(self._next_free, now) + interval
        self._in_flight += 1
        self._last_activity = now
        self._started.append(now)
        self._forget_old_starts(now)
        return Ticket(now, key)

    def _forget_old_starts(self, now: float) -> None:
        while self._started and self._started[0] <= now - _MEASURE_SECONDS:
            self._started.popleft()

    def _measured(self, now: float) -> float:
        """Requests started in the last second: the measure of a per-second limit."""
        self._forget_old_starts(now)
        return len(self._started) / _MEASURE_SECONDS

    def _recent(self, now: float) -> float:
        """The rate the last few requests started at (a burst's rate, not the second's)."""
        self._forget_old_starts(now)
        last = list(self._started)[-_RECENT_STARTS:]
        if len(last) < 3 or last[-1] <= last[0]:
            return 0.0
        return (len(last) - 1) / (last[-1] - last[0])

    def _is_slow(self, key: str, seconds: float) -> bool:
        """Whether a reply took much longer than the endpoint's usual time, which follows
        every faster reply at once and slower ones slowly."""
        usual = self._usual.get(key)
        if usual is None:
            self._usual[key] = seconds
            return False
        self._usual[key] = seconds if seconds < usual else usual + 0.05 * (seconds - usual)
        return seconds > max(SLOW_REPLY_FLOOR_SECONDS, SLOW_REPLY_FACTOR * usual)

    def _reset_interval(self, now: float) -> None:
        self._interval_start = now
        self._clean = self._slow = 0
        self._rate_bound = self._permits_bound = False

    def _adjust(self, now: float) -> None:
        """End an interval: grow each limit that held requests back, if it was clean."""
        if self._clean and not self._slow:
            if self._rate_bound and self._rate is not None:
                self._set_rate(self._increased(self._rate, now - self._interval_start), now)
            if self._permits_bound:
                grown = self._permits * 2 if self._learned is None else self._permits + 1
                self._permits = min(self.max_concurrency, grown)
        self._reset_interval(now)

    def _set_rate(self, rate: float, now: float) -> None:
        """Change the rate, rescaling the wait already owed to the token bucket."""
        if self._rate is not None and self._next_free > now:
            self._next_free = now + (self._next_free - now) * self._rate / rate
        else:
            self._next_free = max(self._next_free, now)
        self._rate = rate

    def _increased(self, rate: float, seconds: float) -> float:
        learned = self._learned
        if learned is None:
            grown = rate * 2
        elif rate < RECOVERY_SHARE * learned:
            grown = min(rate * RECOVERY_GROWTH, RECOVERY_SHARE * learned)
        elif rate < PROBE_UNTIL_SHARE * learned:
            probe = PROBE_SHARE / 2 ** min(self._confirmed, MAX_CONFIRMATIONS)
            grown = rate + probe * learned * min(seconds, 1.0)
        else:
            grown = rate * RECOVERY_GROWTH
        grown = min(grown, rate + MAX_STEP)
        ceiling = self.max_requests_per_second
        return grown if ceiling is None else min(grown, ceiling)

    def _back_off(self, now: float, teaches: bool) -> None:
        """Multiply both limits by `BACKOFF_FACTOR`. A 429 that came while the client pushed
        its limits first brings the rate down to the requests of the last second (what a
        per-second limit counts), and teaches it. Other trouble multiplies the rate; with no
        rate yet, the rate the requests were going at if the permits held them back (the
        faster of the last second's and the last few requests', so that a client whose
        requests come in bursts slows its bursts down, not to its average), and none if they
        did not (the server's trouble was not the client's pace). A 429 while the client
        idled with no rate sets one below the trickle it sent."""
        pushing = now - max(self._rate_bound_at, self._permits_bound_at) <= PUSHING_SECONDS
        per_second = self._measured(now)
        going: float | None = self._rate
        if teaches and pushing:
            going = per_second if going is None else min(going, per_second)
            learned = max(going, MIN_REQUESTS_PER_SECOND)
            same = self._learned is not None and abs(learned / self._learned - 1) <= CONFIRM_SHARE
            self._confirmed = self._confirmed + 1 if same else 0
            self._learned = learned
        elif going is None and teaches:
            going = max(per_second, INITIAL_REQUESTS_PER_SECOND)
        elif going is None and now - self._permits_bound_at <= PUSHING_SECONDS:
            going = max(per_second, self._recent(now), INITIAL_REQUESTS_PER_SECOND)
        if going is not None:
            rate = max(MIN_REQUESTS_PER_SECOND, going * BACKOFF_FACTOR)
            ceiling = self.max_requests_per_second
            self._set_rate(rate if ceiling is None else min(rate, ceiling), now)
        self._permits = max(1, math.ceil(self._permits * BACKOFF_FACTOR))
        self._backoffs += 1
        self._last_backoff = now
        self._reset_interval(now)


# --- One limiter per account in a process ---------------------------------------------------

FORGET_AFTER_SECONDS = 10.0
_shared: dict[Hashable, AdaptiveLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(
    key: Hashable,
    max_requests_per_second: float | None,
    max_concurrency: int,
    max_pause_seconds: float = 60.0,
) -> AdaptiveLimiter:
    """The process's limiter for `key` (an account) and these ceilings, made if there is none
    or the last one has been idle for `FORGET_AFTER_SECONDS`: by then what it learned is
    stale, and a polite start is the safe one."""
    full_key = (key, max_requests_per_second or None, max_concurrency, max_pause_seconds)
    now = time.monotonic()
    with _shared_lock:
        for old_key, old in list(_shared.items()):
            idle = old.idle_since
            if idle is not None and now - idle > FORGET_AFTER_SECONDS:
                del _shared[old_key]
        limiter = _shared.get(full_key)
        if limiter is None:
            limiter = AdaptiveLimiter(
                max_requests_per_second, max_concurrency, max_pause_seconds=max_pause_seconds
            )
            _shared[full_key] = limiter
        return limiter
