"""How the segments of one copy share the table and its caps without a process in common: a board of finished segments.

Segments run in separate Lambdas. A request's cap (`max_write_units`, `max_read_units`) is shared out evenly among the
segments still running; when a segment finishes it leaves a marker (one S3 object, `done/<segment>-w<rate>-r<rate>`,
under the execution's folder of the stack's bucket: the rates the tables had pushed it back to, in the key, so one LIST
tells both how many segments finished and what they leave), and every running segment looks at the markers now and
then and takes its share of what the finished ones left: cap / running, and the finished segments' rates / running.
So the last segments never crawl at a fraction of the table or the cap: a segment that started slowly (the others
took the table's capacity first) gets the rate of each one that ends. The cap holds: a segment that has not yet seen a
marker takes a smaller share, never a larger one (a stale view under-uses the cap, it cannot exceed it); a rate taken
over that the table cannot give is met by its push-back like any other.

A failed segment fails the copy (no Catch in the Map), so a marker per finished segment is all there is to count;
a redrive keeps the execution's name and so its board. Segments look at the board at most once a second, and with
more than 50 running once every `running / 50` seconds: the board is read at most ~50 times a second in all, however
many segments run (at 500 segments, each looks every 10 s, a finished segment's share is taken up within ~10 s, and
a LIST of 1,000 keys holds the whole board). When the board cannot be read or written the segments keep the share
they have (an even share at the start): the cap still holds, and nothing is lost.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Finished:
    """What the board says: how many segments finished, and the sum of the rates (units/s) they had learned."""

    segments: int = 0
    read_rate: float = 0.0
    write_rate: float = 0.0


class Board(Protocol):
    def finished(self, segment: int, read_rate: float | None = None, write_rate: float | None = None) -> None: ...

    def done(self) -> Finished | None: ...  # None when the board cannot be read


def marker(segment: int, read_rate: float | None, write_rate: float | None) -> str:
    """A finished segment's marker name: its number and the rates it leaves (0: none learned)."""
    return f"{segment:05d}-w{write_rate or 0.0:.1f}-r{read_rate or 0.0:.1f}"


def tally(names: list[str]) -> Finished:
    """The board from its markers' names; one marker a segment counts (a segment retried after it finished may have
    left two), and a name not understood counts as a finished segment that leaves nothing."""
    rates: dict[str, tuple[float, float]] = {}
    for name in names:
        number, _, rest = name.partition("-")
        found = re.fullmatch(r"w([0-9.]+)-r([0-9.]+)", rest)
        rates[number] = (float(found[2]), float(found[1])) if found else (0.0, 0.0)
    return Finished(len(rates), sum(read for read, _ in rates.values()), sum(write for _, write in rates.values()))


class S3Board:
    """The board as objects in a bucket: `<prefix>/done/<segment>`, one per finished segment."""

    def __init__(self, s3: S3Client, bucket: str, execution: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"{BOARD_PREFIX}/{execution}/done/"

    def finished(self, segment: int, read_rate: float | None = None, write_rate: float | None = None) -> None:
        key = f"{self.prefix}{marker(segment, read_rate, write_rate)}"
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"")
        except (BotoCoreError, ClientError) as error:
            logger.warning("copy board not written: the others keep their share", extra={"error": str(error)})

    def done(self) -> Finished | None:
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            names = [entry["Key"][len(self.prefix) :] for page in pages for entry in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as error:
            logger.warning("copy board not read: keeping this segment's share", extra={"error": str(error)})
            return None
        return tally(names)


@dataclass(frozen=True)
class Change:
    """Segments finished since the last look: how many ran before and run now, and the rates they left."""

    before: int
    running: int
    read_rate: float = 0.0
    write_rate: float = 0.0


class Shares:
    """One segment's view of the board: how many segments run, looked up now and then, and what that makes its share.

    `changed()` answers how many segments ran before and run now, and the rates the newly finished ones left, when
    that changed since the last look. `seen` is where the view stands (an invocation hands it on to the next, so a
    rate taken over is never taken twice).
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
        self.seen = Finished()  # the finished segments taken into account (an invocation goes on from the last's)
        self._clock = clock
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._next_look = clock() + self._interval()

    def _interval(self) -> float:
        return max(self._min_interval, self.running / READS_PER_SECOND)

    def changed(self) -> Change | None:
        """What changed since the last look, when fewer segments run than then; any thread may ask."""
        if self.board is None or self.running <= 1:
            return None
        with self._lock:
            now = self._clock()
            if now < self._next_look:
                return None
            self._next_look = now + self._interval()
            found = self.board.done()
            if found is None:
                return None
            running = min(self.running, running_segments(self.total, found.segments, self.concurrency))
            change = None
            if running < self.running:
                # The rates the newly finished left, shared among those running now; a finished segment whose place
                # the Map gave to a new one (more segments than run at once) leaves its rate to the newcomer.
                ended = max(found.segments - self.seen.segments, 1)
                left = (self.running - running) / ended / running
                change = Change(
                    self.running,
                    running,
                    max(0.0, found.read_rate - self.seen.read_rate) * left,
                    max(0.0, found.write_rate - self.seen.write_rate) * left,
                )
            if found.segments >= self.seen.segments:
                self.seen = found
            self.running = running
            self._next_look = now + self._interval()  # fewer running: the board may be looked at more often
            return change

    def look(self) -> None:
        """Look at the board now (at the start of an invocation: segments may have finished meanwhile)."""
        self._next_look = self._clock()
