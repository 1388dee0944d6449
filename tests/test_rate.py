"""The adaptive rate's decisions, on a fake clock: the polite start, the increase while replies
come back fast and clean, the multiplicative back-off, the ceilings and `Retry-After`."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from pipelines.qc import rate
from pipelines.qc.rate import AdaptiveLimiter, Signal, Ticket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def start(limiter: AdaptiveLimiter, clock: FakeClock, key: str = "") -> Ticket:
    """The next ticket, advancing the clock by what the limiter asks to wait."""
    for _ in range(10_000):
        ticket = limiter.try_acquire(key)
        if isinstance(ticket, Ticket):
            return ticket
        clock.advance(ticket)
    raise AssertionError("the limiter never let a request through")


def run_requests(
    limiter: AdaptiveLimiter,
    clock: FakeClock,
    seconds: float,
    reply_seconds: float = 0.01,
    signal: Signal = Signal.CLEAN,
) -> list[tuple[float, float | None]]:
    """One request after another, each answered after `reply_seconds`, for `seconds` of the
    fake clock; the (time, rate) after each."""
    end, seen = clock.now + seconds, []
    while clock.now < end:
        ticket = start(limiter, clock)
        clock.advance(reply_seconds)
        limiter.release(ticket, signal)
        seen.append((clock.now, limiter.state().requests_per_second))
    return seen


def test_it_starts_polite_at_two_requests_per_second_and_two_in_flight():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    state = limiter.state()
    assert (state.requests_per_second, state.concurrency) == (2.0, 2)
    first = start(limiter, clock)
    assert limiter.try_acquire() == pytest.approx(0.5 - rate._EARLY_SECONDS)  # at 2/s
    second = start(limiter, clock)
    assert second.started - first.started == pytest.approx(0.5 - rate._EARLY_SECONDS)
    assert limiter.try_acquire() == rate._POLL_SECONDS  # both permits in flight
    limiter.release(first, Signal.CLEAN)
    assert isinstance(start(limiter, clock), Ticket)


def test_a_ceiling_below_the_start_is_the_start():
    limiter = AdaptiveLimiter(0.5, 1, clock=FakeClock())
    assert (limiter.state().requests_per_second, limiter.state().concurrency) == (0.5, 1)


def test_the_rate_doubles_while_replies_are_fast_and_clean_up_to_the_ceiling():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    seen = run_requests(limiter, clock, 5.0)
    rates = [r for _, r in seen]
    assert rates == sorted(rates)  # never down without a back-off
    assert max(rates) == 10  # never above the ceiling
    assert {2.0, 4.0, 8.0, 10.0} <= set(rates)  # slow start, capped by the ceiling
    reached = next(t for t, r in seen if r == 10) - seen[0][0]
    assert reached < 2.0
    assert limiter.state().backoffs == 0


def test_a_step_is_capped_at_high_rates():
    clock = FakeClock()
    limiter = AdaptiveLimiter(1000, 8, clock=clock)
    rates = [r for _, r in run_requests(limiter, clock, 6.0, reply_seconds=0.001)]
    steps = [b - a for a, b in itertools.pairwise(rates) if b is not None and a]
    assert max(steps) <= rate.MAX_STEP
    assert rates[-1] == 1000


def test_a_rate_nobody_waits_for_does_not_grow():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    for _ in range(20):  # one request a second, well under 2/s
        ticket = start(limiter, clock)
        clock.advance(0.01)
        limiter.release(ticket, Signal.CLEAN)
        clock.advance(1.0)
    assert limiter.state().requests_per_second == 2.0


def test_slow_replies_hold_the_rate():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    run_requests(limiter, clock, 0.6, reply_seconds=0.05)  # the endpoint's usual: 50 ms
    before = limiter.state().requests_per_second
    slow = run_requests(limiter, clock, 5.0, reply_seconds=3.0)  # over 2 s and 4x the usual
    assert {r for _, r in slow} == {before}


@pytest.mark.parametrize("signal", [Signal.THROTTLE, Signal.BACKOFF])
def test_a_backoff_is_multiplicative_and_only_a_429_teaches_the_limit(signal: Signal):
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    run_requests(limiter, clock, 3.0)  # at the ceiling, held back by it
    assert limiter.state().requests_per_second == 10
    ticket = start(limiter, clock)
    limiter.release(ticket, signal)
    state = limiter.state()
    assert state.requests_per_second == pytest.approx(10 * rate.BACKOFF_FACTOR)
    assert state.concurrency == 2  # ceil(2 x 0.7)
    assert state.learned_limit == (10 if signal is Signal.THROTTLE else None)
    assert state.backoffs == state.throttles == 1


def test_after_a_backoff_it_climbs_back_fast_then_probes_slowly():
    clock = FakeClock()
    limiter = AdaptiveLimiter(100, 8, clock=clock)
    run_requests(limiter, clock, 4.0, reply_seconds=0.005)
    limiter.release(start(limiter, clock), Signal.THROTTLE)
    learned = limiter.state().learned_limit
    assert learned is not None
    after_one = run_requests(limiter, clock, 1.0, reply_seconds=0.005)[-1][1]
    assert after_one is not None  # fast to 90 %, then slowly on
    assert rate.RECOVERY_SHARE * learned <= after_one
    assert after_one <= (rate.RECOVERY_SHARE + rate.PROBE_SHARE) * learned
    after_four = run_requests(limiter, clock, 3.0, reply_seconds=0.005)[-1][1]
    assert after_four is not None
    assert after_four <= learned * (rate.RECOVERY_SHARE + 4 * rate.PROBE_SHARE) + 1e-9
    rates = [r for _, r in run_requests(limiter, clock, 10.0, reply_seconds=0.005)]
    assert rates[-1] == 100  # past the limit with no 429: it has moved, speed up again


def test_one_backoff_per_round_however_many_replies_say_so():
    clock = FakeClock()
    limiter = AdaptiveLimiter(None, 8, clock=clock)
    in_flight = [start(limiter, clock), start(limiter, clock)]
    clock.advance(0.01)
    for ticket in in_flight:  # both sent before the back-off
        limiter.release(ticket, Signal.BACKOFF)
    assert (limiter.state().backoffs, limiter.state().throttles) == (1, 2)


def test_an_idle_backoff_slows_down_but_teaches_nothing():
    clock = FakeClock()
    limiter = AdaptiveLimiter(None, 8, clock=clock)
    limiter.release(start(limiter, clock), Signal.THROTTLE)  # the very first request
    state = limiter.state()
    assert state.learned_limit is None
    assert state.requests_per_second == pytest.approx(
        rate.INITIAL_REQUESTS_PER_SECOND * rate.BACKOFF_FACTOR
    )


def test_retry_after_holds_every_request_until_it_passes():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    limiter.release(start(limiter, clock), Signal.BACKOFF, retry_after=3)
    waited = limiter.try_acquire()
    assert waited == pytest.approx(3.0)
    clock.advance(2.9)
    assert not isinstance(limiter.try_acquire(), Ticket)
    clock.advance(0.2)
    assert isinstance(start(limiter, clock), Ticket)
    assert clock.now >= 1003.0


def test_retry_after_is_capped_at_the_longest_pause():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock, max_pause_seconds=60)
    limiter.release(start(limiter, clock), Signal.BACKOFF, retry_after=3600)
    assert limiter.try_acquire() == pytest.approx(60)


def test_no_rate_ceiling_means_no_rate_until_the_server_pushes_back():
    clock = FakeClock()
    for ceiling in (None, 0):
        limiter = AdaptiveLimiter(ceiling, 4, clock=clock)
        assert limiter.state().requests_per_second is None
        tickets = [start(limiter, clock), start(limiter, clock)]
        assert not isinstance(limiter.try_acquire(), Ticket)  # 2 in flight to start with
        clock.advance(0.2)
        for ticket in tickets:
            limiter.release(ticket, Signal.CLEAN)
        tickets = [start(limiter, clock) for _ in range(4)]  # the permits doubled
        assert [t.started for t in tickets] == [clock.now] * 4
        assert limiter.state().concurrency == 4  # the ceiling
        clock.advance(0.01)
        limiter.release(tickets[0], Signal.BACKOFF)
        assert limiter.state().requests_per_second is not None
        assert limiter.state().concurrency == 3  # ceil(4 x 0.7)
        for ticket in tickets[1:]:
            limiter.release(ticket, Signal.NEUTRAL)


def test_neutral_replies_change_nothing():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    run_requests(limiter, clock, 3.0, signal=Signal.NEUTRAL)
    state = limiter.state()
    assert (state.requests_per_second, state.concurrency, state.backoffs) == (2.0, 2, 0)


def test_threads_never_exceed_the_permits():
    limiter = AdaptiveLimiter(None, 3)
    lock, in_flight, most = threading.Lock(), [0], [0]

    def work() -> None:
        for _ in range(30):
            ticket = limiter.acquire()
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.001)
            with lock:
                in_flight[0] -= 1
            limiter.release(ticket, Signal.CLEAN)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert 2 <= most[0] <= 3


def test_the_state_reads_as_a_progress_line():
    limiter = AdaptiveLimiter(10, 8, clock=FakeClock())
    assert limiter.state().describe() == (
        "API 2.0 requests/s (ceiling 10), 2 in flight (of 8), 0 back-offs"
    )
    assert AdaptiveLimiter(None, 8).state().describe().startswith("API rate unlimited, 2 in")


def test_limiters_are_shared_per_account_and_ceilings_and_forgotten_when_idle(monkeypatch):
    one = rate.shared_limiter(("url", "user"), 10, 8)
    assert rate.shared_limiter(("url", "user"), 10, 8) is one
    assert rate.shared_limiter(("url", "user"), 20, 8) is not one
    assert rate.shared_limiter(("url", "other"), 10, 8) is not one
    monkeypatch.setattr(rate, "FORGET_AFTER_SECONDS", -1.0)
    assert rate.shared_limiter(("url", "user"), 10, 8) is not one


def test_other_trouble_while_idling_with_no_rate_sets_none_but_shrinks_the_permits():
    clock = FakeClock()
    limiter = AdaptiveLimiter(None, 8, clock=clock)
    limiter.release(start(limiter, clock), Signal.BACKOFF)  # a 500 on the first request
    state = limiter.state()
    assert (state.requests_per_second, state.concurrency, state.backoffs) == (None, 2, 1)


def test_a_429_saying_retry_at_once_teaches_no_limit():
    clock = FakeClock()
    limiter = AdaptiveLimiter(10, 8, clock=clock)
    run_requests(limiter, clock, 3.0)
    limiter.release(start(limiter, clock), Signal.THROTTLE, retry_after=0)
    state = limiter.state()
    assert state.learned_limit is None
    assert state.requests_per_second == pytest.approx(10 * rate.BACKOFF_FACTOR)
