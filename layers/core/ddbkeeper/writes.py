"""Writing items to one table in BatchWriteItem batches, in wire form: what every data path shares (a copy's segment,
an export applied to a table).

Each batch is written completely before `write_batch` returns: UnprocessedItems are re-sent as they came back,
throttling and 5xx are retried with backoff and full jitter, and every push-back slows the adaptive limiter. When
retries run out the caller gets `Throttled` and decides what its checkpoint is: nothing is logged and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
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


class BatchWriter:
    """Writes wire-form requests to one table, 25 at a time, paced by `limiter` (the table's write capacity)."""

    def __init__(self, target: TableSide, limiter: AdaptiveLimiter, tuning: Tuning) -> None:
        self.target = target
        self.limiter = limiter
        self.tuning = tuning
        self._units_per_item = 1.0

    def write(self, requests: list[WriteRequest], after_batch: Callable[[], None] | None = None) -> Written:
        """Write every request, batch after batch; `after_batch` runs once each batch is written (crash tests)."""
        total = Written()
        for start in range(0, len(requests), BATCH_SIZE):
            total += self.write_batch(requests[start : start + BATCH_SIZE])
            if after_batch is not None:
                after_batch()
        return total

    def write_batch(self, batch: list[WriteRequest]) -> Written:
        """Write every request of one batch (at most 25), re-sending UnprocessedItems, retrying throttles."""
        pending = batch
        units = 0.0
        retried = 0
        stalls = 0

        def attempt() -> None:
            nonlocal pending, units, retried, stalls
            self.limiter.acquire(self._units_per_item * len(pending))
            try:
                unprocessed, consumed = self.target.call("BatchWriteItem", lambda wire: wire.batch_write(pending))
            except (Throttled, TransientAwsError):
                stalls += 1
                self.limiter.throttled()
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
                pending = unprocessed
                raise UnprocessedItemsRemain(f"{len(unprocessed)} of {len(pending)} items unprocessed")
            pending = []

        try:
            with_retries(attempt, self.tuning, self.limiter, stalled=lambda: stalls)
        except UnprocessedItemsRemain as error:
            raise Throttled(
                f"BatchWriteItem {self.target.name}: {len(pending)} items still unprocessed after "
                f"{self.tuning.max_stalls} attempts without progress; the last checkpoint stands"
            ) from error
        return Written(len(batch), units, retried)
