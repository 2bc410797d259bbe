"""Writing items to one table in BatchWriteItem batches, in wire form: what every data path shares (a copy's segment,
an export applied to a table).

Each batch is written completely before `write_batch` returns: UnprocessedItems are re-sent as they came back,
throttling and 5xx are retried with backoff and full jitter, and every push-back slows the adaptive limiter. When
retries run out the caller gets `Throttled` and decides what its checkpoint is: nothing is logged and dropped.

A writer keeps up to `in_flight` batches on the wire at once (one by default): a table far away is then written at the
speed of its capacity, not of its round trip. `write` returns only when every batch is written; `start` returns once
they are all on their way, so the next requests (a copy's next page) can follow while the last batches are answered.
When a batch fails, no further batch starts, those on the wire finish, and the failure is raised: the caller's
checkpoint has not moved. Batches in flight together may land in any order, so only requests with distinct keys (Scan
pages) may be written concurrently.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ddbkeeper.errors import Throttled, TransientAwsError
from ddbkeeper.pacing import AdaptiveLimiter, PartialProgress, Tuning, with_retries
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem

BATCH_SIZE = 25  # BatchWriteItem's limit
WriteRequest = dict[str, Any]  # {"PutRequest": {"Item": ...}} or {"DeleteRequest": {"Key": ...}}, wire form


def puts(items: list[WireItem]) -> list[WriteRequest]:
    return [{"PutRequest": {"Item": item}} for item in items]


class UnprocessedItemsRemain(PartialProgress):
    """DynamoDB handed back part of a batch; the retry loop re-sends it."""


@dataclass(frozen=True)
class Written:
    """What writing some requests cost: items written, units consumed, items re-sent."""

    items: int = 0
    units: float = 0.0
    retried: int = 0

    def __add__(self, other: Written) -> Written:
        return Written(self.items + other.items, self.units + other.units, self.retried + other.retried)


class PendingWrites:
    """The batches of some requests, on the wire or written: `result()` waits for all of them."""

    def __init__(self) -> None:
        self.futures: list[Future[Written]] = []

    def result(self) -> Written:
        """What the batches wrote, once every one of them has ended; the first failure is raised instead."""
        total, failure = Written(), None
        for future in self.futures:
            try:
                total += future.result()
            except Exception as error:  # noqa: BLE001 - the first one is raised below, once every batch has ended
                failure = failure or error
        if failure is not None:
            raise failure
        return total


class BatchWriter:
    """Writes wire-form requests to one table, 25 at a time, paced by `limiter` (the table's write capacity), with up
    to `in_flight` batches on the wire at once (requests with distinct keys only: see the module's note)."""

    def __init__(
        self,
        target: TableSide,
        limiter: AdaptiveLimiter,
        tuning: Tuning,
        *,
        in_flight: int = 1,
        sharing: int = 1,
    ) -> None:
        self.target = target
        self.limiter = limiter
        self.tuning = tuning
        self.in_flight = max(1, in_flight)
        self._units_per_item = 1.0
        self._pool: ThreadPoolExecutor | None = None
        self._failure: BaseException | None = None
        # How many items may be on the wire now: it starts at a batch shared among the `sharing` writers of the table
        # (eight segments start with batches of three items). One writer doubles it each round trip while the table
        # takes all; writers that start together each grow it by their share of a batch a round trip (eight doubling
        # together would put eight times as much on the wire as one). It halves when the table pushes back (at most
        # once a second), then grows by that share a round trip: a table of small capacity is not met with a wall of
        # batches it must hand back (those on the wire when it first pushes back all come back).
        self._step = max(1.0, BATCH_SIZE / max(sharing, 1))
        self._window = self._step
        self._threshold = float(BATCH_SIZE * self.in_flight) if sharing <= 1 else self._window
        self._last_halving = float("-inf")
        self._on_wire = 0  # items
        self._round_trip = 0.05  # seconds a BatchWriteItem takes, a moving average
        self._turns = threading.Condition()

    def write(self, requests: list[WriteRequest], after_batch: Callable[[], None] | None = None) -> Written:
        """Write every request; `after_batch` runs once each batch is written (crash tests). Returns only when all are
        written; the first failure stops new batches, lets those on the wire finish, and is raised."""
        return self.start(requests, after_batch).result()

    def start(
        self,
        requests: list[WriteRequest],
        after_batch: Callable[[], None] | None = None,
        before_batch: Callable[[], None] | None = None,
    ) -> PendingWrites:
        """Put every request on the wire and return once the last batch is on its way (waiting for a free slot as
        needed: the batches of earlier calls share the `in_flight` slots). With one slot, each batch is written before
        the next starts and a failure is raised at once. After any batch failed no new batch starts: that failure is
        raised here, or by `result()` of the call it belongs to. `before_batch` runs before each batch goes out (a
        copy's segment looks whether its share of the caps has grown)."""
        pending = PendingWrites()

        def one(batch: list[WriteRequest]) -> Written:
            written = self.write_batch(batch)
            if after_batch is not None:
                after_batch()
            return written

        begin = 0
        while begin < len(requests):
            if before_batch is not None:
                before_batch()
            if self.in_flight == 1:
                batch = requests[begin : begin + BATCH_SIZE]
                begin += len(batch)
                done: Future[Written] = Future()
                done.set_result(one(batch))
                pending.futures.append(done)
                continue
            with self._turns:
                size = min(BATCH_SIZE, len(requests) - begin, max(1, int(self._allowed())))
                self._turns.wait_for(functools.partial(self._room_for, size))
                if self._failure is not None:
                    raise self._failure
                self._on_wire += size
            batch = requests[begin : begin + size]
            begin += size
            future = self._executor().submit(one, batch)
            future.add_done_callback(functools.partial(self._finished, size))
            pending.futures.append(future)
        return pending

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="batch-writer")
        return self._pool

    def _finished(self, size: int, future: Future[Written]) -> None:
        error = future.exception()
        with self._turns:
            if error is not None and self._failure is None:
                self._failure = error
            self._on_wire -= size
            self._turns.notify_all()

    def _room_for(self, size: int) -> bool:
        """Whether a batch of `size` items may go on the wire now (or the writing has failed)."""
        return self._failure is not None or self._on_wire + size <= max(self._allowed(), size)

    def _allowed(self) -> float:
        """Items that may be on the wire: the window, and once the table has a known rate only as many as that rate
        needs to hide a round trip, and a batch (more would only be refused together when the capacity runs out)."""
        rate = self.limiter.learned_rate
        if rate is None:
            return self._window
        return min(self._window, rate * self._round_trip / self._units_per_item + BATCH_SIZE)

    def _taken(self, items: int) -> None:
        """Items went in: as many more may go on the wire (a batch more a round trip past the threshold)."""
        with self._turns:
            grown = items if self._window < self._threshold else items * self._step / self._window
            self._window = min(BATCH_SIZE * float(self.in_flight), self._window + grown)
            self._turns.notify_all()

    def _pushed_back(self) -> None:
        """The table refused some of a batch: half as many on the wire (once per burst of refusals)."""
        with self._turns:
            now = self.tuning.clock()
            if now - self._last_halving >= 1.0:
                self._last_halving = now
                self._window = max(1.0, self._window / 2)
                self._threshold = self._window

    def close(self) -> None:
        """Wait for the batches on the wire and let the writing threads go."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def write_batch(self, batch: list[WriteRequest]) -> Written:
        """Write every request of one batch (at most 25), re-sending UnprocessedItems, retrying throttles."""
        pending = batch
        units = 0.0
        retried = 0
        stalls = 0

        def attempt() -> None:
            nonlocal pending, units, retried, stalls
            self.limiter.acquire(self._units_per_item * len(pending))
            sent = self.tuning.clock()
            try:
                unprocessed, consumed = self.target.call("BatchWriteItem", lambda wire: wire.batch_write(pending))
                self._round_trip = 0.8 * self._round_trip + 0.2 * (self.tuning.clock() - sent)
            except (Throttled, TransientAwsError):
                stalls += 1
                self.limiter.throttled()
                self._pushed_back()
                raise
            accepted = len(pending) - len(unprocessed)
            # Every written item costs at least one unit; some servers report less (or nothing) than DynamoDB would.
            consumed = max(consumed, float(accepted))
            units += consumed
            if accepted:
                self._units_per_item = max(1.0, consumed / accepted)
                self.limiter.record(consumed)
            if unprocessed:
                retried += len(unprocessed)
                stalls = 0 if accepted else stalls + 1
                self.limiter.throttled()
                self._pushed_back()
                if accepted:  # the table is taking items, if not all: keep the wire busy (the limiter paces the units)
                    self._taken(accepted)
                pending = unprocessed
                raise UnprocessedItemsRemain(f"{len(unprocessed)} of {len(pending)} items unprocessed")
            pending = []
            self._taken(accepted)

        try:
            with_retries(attempt, self.tuning, self.limiter, stalled=lambda: stalls)
        except UnprocessedItemsRemain as error:
            raise Throttled(
                f"BatchWriteItem {self.target.name}: {len(pending)} items still unprocessed after "
                f"{self.tuning.max_stalls} attempts without progress; the last checkpoint stands"
            ) from error
        return Written(len(batch), units, retried)
