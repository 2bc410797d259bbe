"""How the segments of one copy share its capacity caps without a process in common: a board of finished segments.

Segments run in separate Lambdas. A request's cap (`max_write_units`, `max_read_units`) is shared out evenly among the
segments still running; when a segment finishes it leaves a marker (one S3 object, `done/<segment>`, under the
execution's folder of the stack's bucket), and every running segment looks at the markers now and then (one LIST) and
takes its share of what the finished ones left: cap / running. So the last segments never crawl at a fraction of the
cap, and the cap holds: a segment that has not yet seen a marker takes a smaller share, never a larger one (a stale
view under-uses the cap, it cannot exceed it). Its share of the capacity the table has shown (no cap) grows the same
way: the adaptive limiter scales by running-before / running-now.

A failed segment fails the copy (no Catch in the Map), so a marker per finished segment is all there is to count;
a redrive keeps the execution's name and so its board. Segments look at the board at most once a second, and with
more than 50 running once every `running / 50` seconds: the board is read at most ~50 times a second in all, however
many segments run (at 500 segments, each looks every 10 s, a finished segment's share is taken up within ~10 s).
When the board cannot be read or written the segments keep the share they have (an even share at the start):
the cap still holds, and nothing is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)
BOARD_PREFIX = "ddbkeeper-copies"  # beside the checkpoints: <execution>/done/, one lifecycle rule, one grant
READS_PER_SECOND = 50  # LISTs of the board per second, all segments together (at most)


MAX_CONCURRENT_SEGMENTS = 500  # the copy's Map runs at most this many segments at once (MaxConcurrency)


def running_segments(total: int, done: int, concurrency: int = MAX_CONCURRENT_SEGMENTS) -> int:
    """Segments running while `done` of `total` have finished: the Map keeps `concurrency` of them going."""
    return max(1, min(total - done, concurrency))


def share(cap: float | None, running: int) -> float | None:
    """One running segment's share of a request's cap."""
    return cap / running if cap is not None else None


class Board(Protocol):
    def finished(self, segment: int) -> None: ...

    def done(self) -> int | None: ...  # segments finished; None when the board cannot be read


class S3Board:
    """The board as objects in a bucket: `<prefix>/done/<segment>`, one per finished segment."""

    def __init__(self, s3: S3Client, bucket: str, execution: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"{BOARD_PREFIX}/{execution}/done/"

    def finished(self, segment: int) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}{segment:05d}", Body=b"")
        except (BotoCoreError, ClientError) as error:
            logger.warning("copy board not written: the others keep their share", extra={"error": str(error)})

    def done(self) -> int | None:
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            return sum(int(page.get("KeyCount", 0)) for page in pages)
        except (BotoCoreError, ClientError) as error:
            logger.warning("copy board not read: keeping this segment's share", extra={"error": str(error)})
            return None


class Shares:
    """One segment's view of the board: how many segments run, looked up now and then, and what that makes its share.

    `changed()` answers how many segments ran before and run now, when that changed since the last look.
    """

    def __init__(
        self,
        board: Board | None,
        total: int,
        clock: Callable[[], float],
        min_interval: float = 1.0,
        concurrency: int = MAX_CONCURRENT_SEGMENTS,
    ) -> None:
        self.board = board
        self.total = total
        self.concurrency = concurrency
        self.running = running_segments(total, 0, concurrency)
        self._clock = clock
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._next_look = clock() + self._interval()

    def _interval(self) -> float:
        return max(self._min_interval, self.running / READS_PER_SECOND)

    def changed(self) -> tuple[int, int] | None:
        """(running before, running now) when fewer segments run than at the last look; any thread may ask."""
        if self.board is None or self.running <= 1:
            return None
        with self._lock:
            now = self._clock()
            if now < self._next_look:
                return None
            done = self.board.done()
            running = self.running if done is None else running_segments(self.total, done, self.concurrency)
            changed = (self.running, running) if running < self.running else None
            self.running = min(self.running, running)
            self._next_look = now + self._interval()  # fewer running: the board may be looked at more often
            return changed

    def look(self) -> None:
        """Look at the board now (at the start of an invocation: segments may have finished meanwhile)."""
        self._next_look = self._clock()
