"""How a copy is cut into parallel-scan segments, and how the request's capacity caps are shared among them."""

from __future__ import annotations

import math

from ddbkeeper.copy.board import running_segments, share
from ddbkeeper.copy.models import MAX_SEGMENTS, Caps, CopyRequest

SEGMENT_BYTES = 256 * 1024**2  # one segment per 256 MiB: a few minutes of work for one Lambda
MIN_UNITS_PER_SEGMENT = 25  # under a cap, fewer segments rather than many that each crawl
FEW_ITEMS = 1000  # below this, one segment whatever DynamoDB's (six-hourly) size estimate says


def choose_segments(
    size_bytes: int, max_read_units: float | None, max_write_units: float | None, item_count: int = 0
) -> int:
    """Segments for `auto`: one per 256 MiB, fewer when a capacity cap leaves each too little to do (>= 25 units/s)."""
    by_size = max(1, math.ceil(size_bytes / SEGMENT_BYTES))
    if item_count and item_count < FEW_ITEMS:
        by_size = 1
    caps = [cap for cap in (max_read_units, max_write_units) if cap is not None]
    by_capacity = min((max(1, int(cap // MIN_UNITS_PER_SEGMENT)) for cap in caps), default=MAX_SEGMENTS)
    return max(1, min(by_size, by_capacity, MAX_SEGMENTS))


def segment_count(request: CopyRequest, size_bytes: int, item_count: int) -> int:
    """The request's segment count, or the one `auto` chooses for a table of this size."""
    if request.segments == "auto":
        return choose_segments(size_bytes, request.max_read_units, request.max_write_units, item_count)
    return request.segments


def share_caps(request: CopyRequest, segments: int) -> Caps:
    """Each segment's share of the request's caps at the start: the segments the Map runs at once share it evenly, so
    together they hold the cap; as they finish, the others take their share (ddbkeeper.copy.board)."""
    running = running_segments(segments, 0)
    return Caps(read=share(request.max_read_units, running), write=share(request.max_write_units, running))
