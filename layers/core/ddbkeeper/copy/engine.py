"""The copy engine: one parallel-scan segment, page by page, from its checkpoint.

A page is written completely (UnprocessedItems re-sent, throttling retried with backoff and full jitter) before the
checkpoint moves past it, so a crash loses nothing: puts are idempotent, and the next attempt re-copies at most the
pages since the last checkpoint it can see (the caller persists them every few seconds: ddbkeeper.copy.checkpoints).
Items pass from Scan to BatchWriteItem in wire form (ddbkeeper.wire). Reads and writes are paced by adaptive limiters,
under the segment's share of the request's caps.

The segment never waits on one round trip at a time: several of a page's batches are on the wire at once
(`writes_in_flight`), and the next page is read while the current one is written. The checkpoint still moves past a
page only once every batch of it is written; the page read ahead is only in memory until then.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ddbkeeper.copy.board import Finished, Shares
from ddbkeeper.copy.models import SegmentCheckpoint, SegmentPace
from ddbkeeper.pacing import AdaptiveLimiter, Tuning, with_retries
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, WireTable, fewer_collections
from ddbkeeper.writes import BatchWriter, PendingWrites, puts

SLOW_START_WRITE_UNITS = 100.0  # units/s the segments of a copy start writing at together (doubling: pacing.py)


@dataclass
class CopyTuning(Tuning):
    """The data path's knobs, and the engine's own: tests turn the waits down, never the logic."""

    reserve_seconds: float = 10.0  # an invocation starts no page with less time than this left
    writes_in_flight: int = 32  # BatchWriteItem calls on the wire at once: enough to hide a far round trip
    read_ahead: bool = True  # read the next page while the current one is written
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
        *,
        shares: Shares | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.tuning = tuning or CopyTuning()
        self.shares = shares  # the other segments: this one's share grows as they finish
        self.reads = AdaptiveLimiter(read_cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self.writes = AdaptiveLimiter(write_cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        if shares is not None:  # a segment waiting for its share looks whether it has grown
            self.reads.on_wait = self.writes.on_wait = self._take_the_share_left
        self.batches = BatchWriter(
            target,
            self.writes,
            self.tuning,
            in_flight=self.tuning.writes_in_flight,
            sharing=shares.running if shares is not None else 1,
        )

    def run(
        self,
        checkpoint: SegmentCheckpoint,
        time_left: Callable[[], float],
        on_page: Callable[[SegmentCheckpoint], None] | None = None,
    ) -> SegmentCheckpoint:
        """Copy pages from `checkpoint` until the segment is done or `time_left()` (seconds) runs short.

        `on_page` sees the checkpoint each time it moves past a page (fully written): it may persist it."""
        try:
            with fewer_collections(), ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as reader:
                return self._run(checkpoint, time_left, reader, on_page)
        finally:
            self.batches.close()

    def _run(
        self,
        checkpoint: SegmentCheckpoint,
        time_left: Callable[[], float],
        reader: ThreadPoolExecutor,
        on_page: Callable[[SegmentCheckpoint], None] | None,
    ) -> SegmentCheckpoint:
        clock = self.tuning.clock
        started = clock()
        refreshes = self.source.refreshes + self.target.refreshes
        state = checkpoint.model_copy(update={"invocations": checkpoint.invocations + 1})
        slowest_page = 0.0
        throttled_before = self.reads.throttle_events + self.writes.throttle_events

        def throttles() -> int:  # every throttle this invocation met so far (pages overlap: counted once, here)
            return checkpoint.throttles + self.reads.throttle_events + self.writes.throttle_events - throttled_before

        ahead: Future[dict[str, Any]] | None = None
        start_key = state.exclusive_start_key
        begun = 0  # pages whose batches were put on the wire in this invocation
        writing: _Page | None = None  # the page whose last batches are still on the wire
        self._resume(checkpoint.pace)
        while not state.done and (writing is None or writing.key is not None):
            # At least one page per invocation, then only while a slow page would still fit.
            if begun and time_left() < self._page_room(slowest_page):
                break
            page_started = clock()
            page = ahead.result() if ahead is not None else self._read(start_key, state)
            start_key = page.get("LastEvaluatedKey")
            ahead = None
            if start_key is not None and self._reads_ahead(time_left, slowest_page):
                ahead = reader.submit(self._read, start_key, state)  # the next page, read while this one is written
            # This page's batches follow the last ones of the page before on the wire; the checkpoint moves past that
            # page once all of its batches are written, never past this one before all of its own are.
            index = state.pages + (writing is not None)
            pending = self._start_writes(page["Items"], state.model_copy(update={"pages": index}))
            begun += 1
            if writing is not None:
                state = self._paced(writing.finish(state, throttles))
                slowest_page = max(slowest_page, clock() - writing.started)
                if on_page is not None:
                    on_page(state)
            writing = _Page(page, pending, page_started)
        if writing is not None:
            state = self._paced(writing.finish(state, throttles))
            if on_page is not None:
                on_page(state)
        refreshed = self.source.refreshes + self.target.refreshes - refreshes
        return state.model_copy(
            update={
                "seconds": round(checkpoint.seconds + clock() - started, 3),
                "credential_refreshes": checkpoint.credential_refreshes + refreshed,
            }
        )

    def _resume(self, pace: SegmentPace | None) -> None:
        """Go on at the rates an earlier invocation learned, from where its view of the board stood."""
        if pace is not None:
            self.reads.resume(pace.read_rate)
            self.writes.resume(pace.write_rate)
        if self.shares is not None:
            if pace is not None:
                self.shares.seen = Finished(pace.finished_seen, pace.freed_read, pace.freed_write)
            self.shares.look()
            self._climb_by_share()
            if self.shares.running > 1:  # segments starting together find the table's rate from a shared start
                self.writes.start_slowly(SLOW_START_WRITE_UNITS / self.shares.running)

    def _climb_by_share(self) -> None:
        """Segments that share a table probe it together as one limiter would: each by its share."""
        if self.shares is not None:
            self.reads.climb_share = self.writes.climb_share = 1 / self.shares.running

    def _paced(self, state: SegmentCheckpoint) -> SegmentCheckpoint:
        """The checkpoint with what this segment knows of the tables' capacity, for the next invocation."""
        seen = self.shares.seen if self.shares is not None else Finished()
        pace = SegmentPace(
            read_rate=self.reads.learned_rate,
            write_rate=self.writes.learned_rate,
            finished_seen=seen.segments,
            freed_read=seen.read_rate,
            freed_write=seen.write_rate,
        )
        return state.model_copy(update={"pace": pace})

    def _take_the_share_left(self) -> None:
        """Other segments finished: take this segment's share of what they left, of the caps and of the table."""
        change = self.shares.changed() if self.shares is not None else None
        if change is None:
            return
        self._climb_by_share()
        for limiter, freed in ((self.reads, change.read_rate), (self.writes, change.write_rate)):
            if limiter.cap is not None:
                limiter.set_cap(limiter.cap * change.before / change.running)
            if freed > 0:
                limiter.grant(freed)  # the rate the finished ones had: the table took it from them
            else:
                limiter.scale(change.before / change.running)  # they left no rate: take a share of this one

    def _reads_ahead(self, time_left: Callable[[], float], slowest_page: float) -> bool:
        """Whether the next page will be copied in this invocation (so reading it now is not wasted)."""
        return self.tuning.read_ahead and time_left() >= slowest_page + self._page_room(slowest_page)

    def _page_room(self, slowest_page: float) -> float:
        """The time a page may start with: the reserve, and twice the slowest page so far."""
        return max(self.tuning.reserve_seconds, 2 * slowest_page)

    def _read(self, start: WireItem | None, state: SegmentCheckpoint) -> dict[str, Any]:
        """The page after `start`; `state` is where the segment stands (the read ahead's: the page before)."""

        def scan(wire: WireTable) -> dict[str, Any]:
            return wire.scan_page(state.segment, state.total_segments, start)

        self.reads.acquire(state.read_units / state.pages if state.pages else 0.0)
        page = with_retries(lambda: self.source.call("Scan", scan), self.tuning, self.reads)
        self.reads.record(_units(page))
        if self.tuning.fault is not None:
            self.tuning.fault("page-read", state)
        return page

    def _start_writes(self, items: list[WireItem], state: SegmentCheckpoint) -> PendingWrites:
        """Put a page on the wire in batches of 25; `state` is where the segment stands before it (crash tests)."""
        fault = self.tuning.fault
        return self.batches.start(
            puts(items),
            after_batch=(lambda: fault("batch-written", state)) if fault else None,
            before_batch=self._take_the_share_left if self.shares is not None else None,
        )


@dataclass
class _Page:
    """A page read, and its batches on the wire."""

    page: dict[str, Any]
    pending: PendingWrites
    started: float

    @property
    def key(self) -> WireItem | None:
        key: WireItem | None = self.page.get("LastEvaluatedKey")
        return key

    def finish(self, state: SegmentCheckpoint, throttles: Callable[[], int]) -> SegmentCheckpoint:
        """Wait until every batch of the page is written; the checkpoint after it (`throttles`: all so far)."""
        written = self.pending.result()
        return state.model_copy(
            update={
                "exclusive_start_key": self.key,
                "done": self.key is None,
                "items": state.items + written.items,
                "bytes": state.bytes + int(self.page.get("ResponseBytes", 0)),
                "pages": state.pages + 1,
                "read_units": state.read_units + _units(self.page),
                "write_units": state.write_units + written.units,
                "throttles": throttles(),
                "retried_items": state.retried_items + written.retried,
            }
        )


def _units(page: dict[str, Any]) -> float:
    capacity = page.get("ConsumedCapacity") or {}
    return float(capacity.get("CapacityUnits", 0.0))
