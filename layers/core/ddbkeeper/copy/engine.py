"""The copy engine: one parallel-scan segment, page by page, from its checkpoint.

A page is written completely (UnprocessedItems re-sent, throttling retried with backoff and full jitter) before the
checkpoint moves past it, so a crash re-reads at most one page and loses nothing: puts are idempotent. Items pass from
Scan to BatchWriteItem in wire form (ddbkeeper.wire). Reads and writes are paced by adaptive limiters, under the
segment's share of the request's caps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ddbkeeper.copy.models import SegmentCheckpoint
from ddbkeeper.errors import Throttled, TransientAwsError
from ddbkeeper.pacing import AdaptiveLimiter, PartialProgress, Tuning, with_retries
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, WireTable

BATCH_SIZE = 25  # BatchWriteItem's limit


class UnprocessedItemsRemain(PartialProgress):
    """DynamoDB handed back part of a batch; the retry loop re-sends it."""


@dataclass
class CopyTuning(Tuning):
    """The data path's knobs, and the engine's own: tests turn the waits down, never the logic."""

    reserve_seconds: float = 10.0  # an invocation starts no page with less time than this left
    fault: Callable[[str, SegmentCheckpoint], None] | None = field(default=None, repr=False)  # for crash tests


class SegmentCopier:
    """Copies one parallel-scan segment page by page; a page is fully written before the checkpoint moves past it."""

    def __init__(
        self,
        source: TableSide,
        target: TableSide,
        read_cap: float | None = None,
        write_cap: float | None = None,
        tuning: CopyTuning | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.tuning = tuning or CopyTuning()
        self.reads = AdaptiveLimiter(read_cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self.writes = AdaptiveLimiter(write_cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self._units_per_item = 1.0

    def run(self, checkpoint: SegmentCheckpoint, time_left: Callable[[], float]) -> SegmentCheckpoint:
        """Copy pages from `checkpoint` until the segment is done or `time_left()` (seconds) runs short."""
        clock = self.tuning.clock
        started = clock()
        refreshes = self.source.refreshes + self.target.refreshes
        state = checkpoint.model_copy(update={"invocations": checkpoint.invocations + 1})
        slowest_page = 0.0
        while not state.done:
            # At least one page per invocation, then only while a slow page would still fit.
            if state.pages > checkpoint.pages and time_left() < max(self.tuning.reserve_seconds, 2 * slowest_page):
                break
            page_started = clock()
            throttled_before = self.reads.throttle_events + self.writes.throttle_events
            page = self._read(state)
            written, units, retried = self._write_all(page["Items"], state)
            key = page.get("LastEvaluatedKey")
            throttled = self.reads.throttle_events + self.writes.throttle_events - throttled_before
            state = state.model_copy(
                update={
                    "exclusive_start_key": key,
                    "done": key is None,
                    "items": state.items + written,
                    "bytes": state.bytes + int(page.get("ResponseBytes", 0)),
                    "pages": state.pages + 1,
                    "read_units": state.read_units + _units(page),
                    "write_units": state.write_units + units,
                    "throttles": state.throttles + throttled,
                    "retried_items": state.retried_items + retried,
                }
            )
            slowest_page = max(slowest_page, clock() - page_started)
        refreshed = self.source.refreshes + self.target.refreshes - refreshes
        return state.model_copy(
            update={
                "seconds": round(checkpoint.seconds + clock() - started, 3),
                "credential_refreshes": checkpoint.credential_refreshes + refreshed,
            }
        )

    def _read(self, state: SegmentCheckpoint) -> dict[str, Any]:
        def scan(wire: WireTable) -> dict[str, Any]:
            return wire.scan_page(state.segment, state.total_segments, state.exclusive_start_key)

        self.reads.acquire(state.read_units / state.pages if state.pages else 0.0)
        page = with_retries(lambda: self.source.call("Scan", scan), self.tuning, self.reads)
        self.reads.record(_units(page))
        if self.tuning.fault is not None:
            self.tuning.fault("page-read", state)
        return page

    def _write_all(self, items: list[WireItem], state: SegmentCheckpoint) -> tuple[int, float, int]:
        """Write a page in batches of 25; returns items written, units consumed and items re-sent."""
        units = 0.0
        retried = 0
        for start in range(0, len(items), BATCH_SIZE):
            batch_units, batch_retried = self._write_batch(
                [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_SIZE]]
            )
            units += batch_units
            retried += batch_retried
            if self.tuning.fault is not None:
                self.tuning.fault("batch-written", state)
        return len(items), units, retried

    def _write_batch(self, batch: list[dict[str, Any]]) -> tuple[float, int]:
        """Write every request of the batch, re-sending UnprocessedItems and retrying throttles with full jitter."""
        pending = batch
        units = 0.0
        retried = 0
        stalls = 0

        def attempt() -> None:
            nonlocal pending, units, retried, stalls
            self.writes.acquire(self._units_per_item * len(pending))
            try:
                unprocessed, consumed = self.target.call("BatchWriteItem", lambda wire: wire.batch_write(pending))
            except (Throttled, TransientAwsError):
                stalls += 1
                self.writes.throttled()
                raise
            accepted = len(pending) - len(unprocessed)
            # Every written item costs at least one unit; some servers report less (or nothing) than DynamoDB would.
            consumed = max(consumed, float(accepted))
            units += consumed
            if accepted:
                self._units_per_item = max(1.0, consumed / accepted)
                self.writes.record(consumed)
            if unprocessed:
                retried += len(unprocessed)
                stalls = 0 if accepted else stalls + 1
                self.writes.throttled()
                pending = unprocessed
                raise UnprocessedItemsRemain(f"{len(unprocessed)} of {len(pending)} items unprocessed")
            pending = []

        try:
            with_retries(attempt, self.tuning, self.writes, stalled=lambda: stalls)
        except UnprocessedItemsRemain as error:
            raise Throttled(
                f"BatchWriteItem {self.target.name}: {len(pending)} items still unprocessed after "
                f"{self.tuning.max_stalls} attempts without progress; the segment stops at its last checkpoint"
            ) from error
        return units, retried


def _units(page: dict[str, Any]) -> float:
    capacity = page.get("ConsumedCapacity") or {}
    return float(capacity.get("CapacityUnits", 0.0))
