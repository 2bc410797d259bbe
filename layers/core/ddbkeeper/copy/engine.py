"""The copy engine: one parallel-scan segment, page by page, from its checkpoint.

A page is written completely (UnprocessedItems re-sent, throttling retried with backoff and full jitter) before the
checkpoint moves past it, so a crash loses nothing: puts are idempotent, and the next attempt re-copies at most the
pages since the last checkpoint it can see (the caller persists them every few seconds: ddbkeeper.copy.checkpoints).
Items pass from Scan to BatchWriteItem in wire form (ddbkeeper.wire). Reads and writes are paced by adaptive limiters,
under the segment's share of the request's caps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ddbkeeper.copy.models import SegmentCheckpoint
from ddbkeeper.pacing import AdaptiveLimiter, Tuning, with_retries
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, WireTable
from ddbkeeper.writes import BatchWriter, Written, puts


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
        self.batches = BatchWriter(target, self.writes, self.tuning)

    def run(
        self,
        checkpoint: SegmentCheckpoint,
        time_left: Callable[[], float],
        on_page: Callable[[SegmentCheckpoint], None] | None = None,
    ) -> SegmentCheckpoint:
        """Copy pages from `checkpoint` until the segment is done or `time_left()` (seconds) runs short.

        `on_page` sees the checkpoint each time it moves past a page (fully written): it may persist it."""
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
            written = self._write_all(page["Items"], state)
            key = page.get("LastEvaluatedKey")
            throttled = self.reads.throttle_events + self.writes.throttle_events - throttled_before
            state = state.model_copy(
                update={
                    "exclusive_start_key": key,
                    "done": key is None,
                    "items": state.items + written.items,
                    "bytes": state.bytes + int(page.get("ResponseBytes", 0)),
                    "pages": state.pages + 1,
                    "read_units": state.read_units + _units(page),
                    "write_units": state.write_units + written.units,
                    "throttles": state.throttles + throttled,
                    "retried_items": state.retried_items + written.retried,
                }
            )
            slowest_page = max(slowest_page, clock() - page_started)
            if on_page is not None:
                on_page(state)
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

    def _write_all(self, items: list[WireItem], state: SegmentCheckpoint) -> Written:
        """Write a page in batches of 25: items written, units consumed and items re-sent."""
        fault = self.tuning.fault
        return self.batches.write(puts(items), after_batch=(lambda: fault("batch-written", state)) if fault else None)


def _units(page: dict[str, Any]) -> float:
    capacity = page.get("ConsumedCapacity") or {}
    return float(capacity.get("CapacityUnits", 0.0))
