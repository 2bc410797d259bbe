"""Pacing: how fast calls go, and how they are retried.

- `RateLimiter`: at most N calls a second (DeleteBackup's account limit).
- `AdaptiveLimiter`: capacity pacing for the data path, a token bucket whose rate adapts to throttling and climbs back;
  any number of threads may share one (a segment keeps several writes in flight), and its cap may change mid-run (a
  segment's share of the request's cap grows as other segments finish).
- `with_retries`: the data path's retry policy (exponential backoff with full jitter, a bound on attempts without
  progress), with the knobs tests turn down in `Tuning`.

DynamoDB reports what each call consumed (ReturnConsumedCapacity) and refuses work beyond the table's capacity with
throttling errors or UnprocessedItems. The limiter charges every call its consumed units; when DynamoDB pushes back it
drops its rate to just under what was actually accepted over the last seconds, then climbs back slowly, so the copy sits
near the table's capacity without hammering it. An optional absolute cap (units/s) is never exceeded.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from ddbkeeper.errors import Throttled, TransientAwsError

T = TypeVar("T")
SLOW_START_DOUBLING = 0.3  # seconds in which a slow start's rate doubles
EVIDENCE_ANSWERS = 8  # answers the measured rate spans at least...
EVIDENCE_WINDOWS = 5  # ...within this many windows
UNSETTLED_QUIET_SECONDS = 5.0  # before a rate settles, its climb grows with the square of the quiet seconds up to these


class RateLimiter:
    """Spaces calls at most `rate` per second (one caller at a time, as in one Lambda)."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def acquire(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


class AdaptiveLimiter:
    def __init__(
        self,
        cap: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window_seconds: float = 1.5,
        backoff: float = 0.95,
        recovery: float = 0.002,
        climb: float = 0.01,
        floor: float = 1.0,
        decrease_interval: float = 0.3,
    ) -> None:
        self.cap = cap
        self.rate: float | None = cap  # units/s; None: no limit known yet
        self._clock = clock
        self._sleep = sleep
        self._window = window_seconds
        self._backoff = backoff
        self._recovery = recovery
        self._climb = climb
        self._last_record: float | None = None
        self._floor = floor
        self.on_wait: Callable[[], None] | None = None  # called while a caller waits (a segment looks at its board)
        self._issued = 0.0  # units handed out since the start
        self._credit = 0.0  # units the rate has paid for since the start (never more than were handed out)
        self._paid_at = clock()
        self._slept_to = float("-inf")  # the waiters slept at least until then
        self._accepted: deque[tuple[float, float]] = deque()
        self.throttle_events = 0
        self._learned = False  # the rate is one the table pushed back to (here, or in an earlier invocation)
        self._settled = False  # the rate settled under a second's evidence of what the table takes
        self.climb_share = 1.0  # this limiter's part of the probing of the table: 1 / the segments sharing it
        self._probing = False  # a starting rate that doubles until the table pushes back (start_slowly)
        self._decrease_interval = decrease_interval
        self._last_decrease = float("-inf")
        self._lock = threading.Lock()

    def acquire(self, units: float) -> float:
        """Wait until `units` may be spent at the current rate; returns the seconds waited.

        Callers take turns in the order they ask (several threads may share the limiter); the first goes at once, each
        next one when the capacity since has paid for those before it. A waiting caller looks again at least every
        0.2 s, so a rate that changes meanwhile (a cap grown as other segments finish) counts at once."""
        waited = 0.0
        with self._lock:
            self._accrue()
            turn = self._issued
            self._issued += max(units, 0.0)
        for _ in range(10**9):
            with self._lock:
                self._accrue()
                short = turn - self._credit
                rate = self.rate
            if short <= 1e-6 or rate is None:  # (a float's rounding is no debt)
                return waited
            if self.on_wait is not None:
                self.on_wait()  # may change the rate (set_cap, scale): looked at again right after
            pause = min(max(short / rate, 1e-3), 0.2)
            began = max(self._clock(), self._slept_to)
            self._sleep(pause)
            waited += pause
            with self._lock:  # at least `pause` has passed, whatever the clock says (a test's sleep that only counts)
                self._slept_to = max(self._slept_to, began + pause)
        return waited

    def _accrue(self) -> None:
        """Capacity paid since the last look, at the current rate; none is banked while nobody waits."""
        now = max(self._clock(), self._slept_to)
        if self.rate is None:
            self._credit = self._issued
        else:
            self._credit = min(self._issued, self._credit + (now - self._paid_at) * self.rate)
        self._paid_at = now

    def record(self, units: float) -> None:
        """Units DynamoDB accepted (consumed capacity): the evidence the rate adapts on."""
        with self._lock:
            now = self._clock()
            self._accepted.append((now, units))
            self._forget_old_evidence(now)
            since, self._last_record = (now - self._last_record if self._last_record is not None else 0.0), now
            if self.rate is not None and not self._learned and self._probing:
                # Not pushed back yet: the starting rate doubles every SLOW_START_DOUBLING seconds until it is.
                self.rate *= 2 ** (min(since, self._window) / SLOW_START_DOUBLING)
                if self.cap is not None:
                    self.rate = min(self.rate, self.cap)
            elif self.rate is not None and self._learned:
                # Climb back by a share per batch accepted and a share per second that grows with the time the table
                # has not pushed back: 1%/s at first and 1% more each quiet second once the rate settled on a second's
                # evidence; with the square of the quiet seconds before (5%/s after two, 26%/s after five: a rate
                # halved at the first push-back may be far under the table's). Close to the rate the table refused the
                # climb is gentle, and a segment left with capacity to spare finds it within seconds.
                # A limiter that shares the table with others (a segment among `1 / climb_share` running) climbs by its
                # share, so that together they probe the table as one would.
                quiet = now - self._last_decrease
                pace = 1 + (quiet if self._settled else min(quiet, UNSETTLED_QUIET_SECONDS) ** 2)
                climb = self._climb * self.climb_share * pace * min(since, self._window)
                grown = self.rate * (1 + self._recovery * self.climb_share) * (1 + climb)
                # ...but never past twice what the table took lately: a rate far above it is no information, only a
                # wall of refusals once the table pushes back.
                observed = self._observed()
                self.rate = min(grown, max(self.rate, 2 * observed)) if observed > 0 else grown
                if self.cap is not None:
                    self.rate = min(self.rate, self.cap)

    def throttled(self) -> None:
        """DynamoDB pushed back: settle just under what it accepted recently.

        One burst of refusals is one signal: the rate drops at most once per `decrease_interval`. With a second's
        evidence of what the table took, the rate settles just under it; with less, it drops by at most half, so a
        run of partial answers cannot collapse it.
        """
        with self._lock:
            self.throttle_events += 1
            first, self._learned = not self._learned, True
            now = self._clock()
            if now - self._last_decrease < self._decrease_interval:
                return
            observed = self._observed()
            measured = observed > 0
            if not measured and self._accepted:
                # Less than a second of evidence: what was taken since the first answer, over at least half a second.
                observed = sum(units for _, units in self._accepted) / max(now - self._accepted[0][0], 0.5)
            if self.rate is None and observed <= 0:
                return  # nothing measured yet: the retry's backoff is all there is to go on
            self._last_decrease = now
            current = self.rate if self.rate is not None else observed
            if first:
                # The first push-back: what was taken until now came partly from the table's burst capacity, which
                # has just run out. Half of it, and only what the table takes from now on is evidence of its rate.
                self._accepted.clear()
                self.rate = max(self._floor, min(current, observed / 2 if observed > 0 else current / 2))
            elif measured:
                # A second's evidence of what the table takes: settle just under it, however far above it the rate was.
                self.rate = max(self._floor, min(observed * self._backoff, current))
                self._settled = True
            else:
                target = observed * self._backoff if observed > 0 else current * self._backoff
                self.rate = max(self._floor, current / 2, min(target, current))
            if self.cap is not None:
                self.rate = min(self.rate, self.cap)

    def set_cap(self, cap: float | None) -> None:
        """A new absolute cap (a segment's share of the request's cap, grown as other segments finish).

        A rate the table pushed back to stays where it is (under the new cap); a rate that was the old cap follows it.
        """
        with self._lock:
            if cap == self.cap:
                return
            old, self.cap = self.cap, cap
            if self.rate is None or (old is not None and self.rate >= old and not self._learned):
                self.rate = cap
            elif cap is not None:
                self.rate = min(self.rate, cap)
            elif not self._learned:
                self.rate = None

    def _forget_old_evidence(self, now: float) -> None:
        """Answers older than the window are dropped, but the last EVIDENCE_ANSWERS are kept (for at most
        EVIDENCE_WINDOWS windows): a segment sharing a table with many others takes a batch a second or less, and its
        rate measured over one or two answers swings by half from one look to the next."""
        while self._accepted:
            age = now - self._accepted[0][0]
            if age > self._window * EVIDENCE_WINDOWS or (age > self._window and len(self._accepted) > EVIDENCE_ANSWERS):
                self._accepted.popleft()
            else:
                return

    def observed_rate(self) -> float:
        with self._lock:
            return self._observed()

    def _observed(self) -> float:
        """Units/s accepted over the last seconds; 0 (nothing known) until the evidence spans a second, so that a
        first burst the table took from its burst capacity, or a few batches answered together, do not pass for its
        rate (too high), nor two lone answers for it (too low)."""
        if len(self._accepted) < 2:
            return 0.0
        span = self._accepted[-1][0] - self._accepted[0][0]
        if span < min(1.0, self._window / 2):
            return 0.0
        return sum(units for _, units in list(self._accepted)[1:]) / span

    def scale(self, factor: float) -> None:
        """Take a larger (or smaller) share of the table at once: other segments left it (or joined)."""
        with self._lock:
            if self.rate is not None and self._learned:
                self.rate = max(self._floor, self.rate * factor)
                if self.cap is not None:
                    self.rate = min(self.rate, self.cap)

    def grant(self, units: float) -> None:
        """Take `units`/s more of the table at once: a finished segment's rate, shared out among those left."""
        with self._lock:
            if self.rate is not None and self._learned and units > 0:
                self.rate += units
                if self.cap is not None:
                    self.rate = min(self.rate, self.cap)

    def start_slowly(self, rate: float) -> None:
        """Begin at `rate` (under the cap), doubling every SLOW_START_DOUBLING seconds until the table pushes back:
        for writers that start together, whose first batches would otherwise meet a table's burst all at once."""
        with self._lock:
            if self._learned:
                return
            self._probing = True
            self.rate = min(rate, self.cap) if self.cap is not None else rate

    @property
    def learned_rate(self) -> float | None:
        """The rate the table pushed back to (and climbed from since); None while the table has not pushed back."""
        with self._lock:
            return self.rate if self._learned else None

    def resume(self, rate: float | None) -> None:
        """Go on at a rate an earlier invocation learned (`learned_rate`), under the cap: no new probe of the table."""
        if rate is None:
            return
        with self._lock:
            self._learned = self._settled = True
            self.rate = max(self._floor, min(rate, self.cap) if self.cap is not None else rate)
            self._last_decrease = self._clock()  # climb from it gently, as from a push-back


@dataclass
class Tuning:
    """Knobs for the data path; tests turn the waits down, never the logic."""

    max_stalls: int = 12  # consecutive attempts without progress before a batch or page gives up
    base_delay: float = 0.05
    max_delay: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class PartialProgress(Exception):
    """An attempt did part of its work (a batch came back with UnprocessedItems): the rest is worth another try."""


def with_retries(
    action: Callable[[], T],
    tuning: Tuning,
    limiter: AdaptiveLimiter | None = None,
    stalled: Callable[[], int] | None = None,
) -> T:
    """Run `action`, retrying throttling, transient errors and partial progress with exponential backoff and full
    jitter.

    Gives up after `tuning.max_stalls` attempts without progress (`stalled` counts them when an attempt can make partial
    progress, as a batch write can) and re-raises: the caller's checkpoint is still the last one fully written. The wait
    grows with the attempts without progress, not with all attempts: a batch that keeps getting most of its items in
    is paced by the limiter, and idles no longer after its twentieth partial answer than after its first.
    """
    attempts = {"n": 0}

    def failures() -> int:
        return stalled() if stalled else attempts["n"]

    def stop(_: Any) -> bool:
        return failures() >= tuning.max_stalls

    def wait(_: RetryCallState) -> float:
        exponent = min(max(failures(), 1), 30)  # full jitter over base * 2**n, at most max_delay
        return random.uniform(0, min(tuning.max_delay, tuning.base_delay * 2**exponent))

    def counted() -> T:
        attempts["n"] += 1
        try:
            return action()
        except (Throttled, TransientAwsError):
            if limiter is not None and stalled is None:
                limiter.throttled()
            raise

    retrying = Retrying(
        retry=retry_if_exception_type((Throttled, TransientAwsError, PartialProgress)),
        wait=wait,
        stop=stop,
        sleep=tuning.sleep,
        reraise=True,
    )
    return retrying(counted)
