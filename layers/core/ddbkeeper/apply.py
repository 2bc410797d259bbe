"""Applying exports to a table item by item: a FULL export's items, then each incremental export's changes, in order.

This is the copy engine's write path (ddbkeeper.writes): items in wire form as the export holds them, PutRequest and
DeleteRequest in batches, UnprocessedItems re-sent, throttling and 5xx retried with backoff, the adaptive limiter
under the request's cap. Every data file's MD5 is checked against its manifest before a single item of it is written.
The position (export, file, line) moves only past fully written requests, so a crash or a redrive starts again from
the last position returned: what was written since is written again (whole-item puts and deletes are idempotent) and
counted once, as the counts come from the exports' own images, not from what the table held.

Two ways to drive it: `run` applies every file of every export in order from one position (the drill's loop), and
`apply_file` applies one data file from its own line (the restore's Distributed Map, one file per item: files of one
export are independent, as an incremental export holds each key at most once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from aws_lambda_powertools import Logger

from ddbkeeper.errors import InvalidInput, VerificationFailed
from ddbkeeper.export_files import DataFile, ExportManifest, changes, full_items, read_data, read_files
from ddbkeeper.models import Count, StepModel
from ddbkeeper.pacing import AdaptiveLimiter, Tuning
from ddbkeeper.reads import read_items
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, canonical, key_id
from ddbkeeper.writes import BatchWriter, WriteRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)
CHUNK = 250  # requests handed to the writer at a time (ten batches); the position moves after each chunk
SAMPLE = 5  # the keys of conflicts a report names


class AppliedCounts(StepModel):
    """What applying wrote and what it does to the table's count: one file's, or the sum over every file applied."""

    line: Count = 0  # items of the current file already applied
    current: str | None = None  # the data file being applied (s3://...), for progress
    puts: Count = 0
    deletes: Count = 0
    inserted: Count = 0  # incremental puts of keys that did not exist (no OldImage, NEW_AND_OLD_IMAGES)
    removed: Count = 0  # deletes of keys that existed (an OldImage; reverting: an insert undone)
    uncounted: Count = 0  # changes of a NEW_IMAGE export: insert or update, delete of what, unknown
    conflicts: Count = 0  # reverting: items changed again since the window, left as they are (if_changed skip)
    already: Count = 0  # reverting: items already as they were before the window (a retried turn), not written again
    sample_conflicts: list[dict[str, Any]] = []  # the keys of a few of them
    write_units: float = 0.0
    throttles: Count = 0
    retried_items: Count = 0


_SUMMED = ("puts", "deletes", "inserted", "removed", "uncounted", "conflicts", "already", "throttles", "retried_items")


class ApplyStore(StepModel):
    """Where the data files of the export being applied are listed (a JSON array the Map's ItemReader reads)."""

    bucket: str
    key: str


class ApplyProgress(AppliedCounts):
    """Where applying stands ($.apply): the export, data file and line next to apply, and what was written.

    A batch is written completely before the position moves past it; an invocation that dies leaves the state machine
    holding the last position returned, so its redrive or retry writes again at most what that invocation wrote (puts
    and deletes of whole items are idempotent) and counts it once: the counts come from the exports' own images.

    The restore's Map applies the files of `export` (listed at `store`, `listed` of them) each on its own
    (FileProgress); once the Map is done their results are added here and the next export is listed.
    """

    export: Count = 0  # index into the plan's exports
    file: Count = 0  # index into that export's manifest-files.json (the drill's loop)
    done: bool = False
    files: Count = 0  # data files fully applied, each checked against its manifest's MD5 first
    exports_applied: Count = 0
    invocations: Count = 0
    store: ApplyStore | None = None  # the restore: the files of `export` listed for its Map (None: not listed yet)
    listed: Count = 0  # how many

    def expected(self, full_items: int) -> int | None:
        """The table's count once everything is applied; None when a NEW_IMAGE export left it unknown."""
        return None if self.uncounted else full_items + self.inserted - self.removed

    def plus(self, applied: AppliedCounts) -> ApplyProgress:
        """These totals with one more file's added."""
        update: dict[str, Any] = {name: getattr(self, name) + getattr(applied, name) for name in _SUMMED}
        update |= {
            "files": self.files + 1,
            "write_units": round(self.write_units + applied.write_units, 3),
            "sample_conflicts": (self.sample_conflicts + applied.sample_conflicts)[:SAMPLE],
        }
        return self.model_copy(update=update)


class FileProgress(AppliedCounts):
    """One data file of one export, as the restore's Map applies it ($.file): an item of the list the Map reads, then
    its checkpoint from turn to turn (`line`), then, done, its result (also put in S3: what the totals are summed
    from, and what a re-run of the file finds to skip it)."""

    export: Count  # index into the plan's exports
    file: Count  # index into that export's manifest-files.json
    manifest: ExportManifest  # the export the file belongs to (FULL or incremental, its image view, its bucket)
    data: DataFile  # the file: its key, its item count and its MD5
    cap: float | None = None  # this file's share of the request's max_write_units (cap / files applied at once)
    done: bool = False
    skipped: bool = False  # found already applied by an earlier run of this execution: nothing written
    invocations: Count = 0


@dataclass
class ApplyTuning(Tuning):
    """The apply path's knobs: tests turn the waits down, never the logic."""

    reserve_seconds: float = 60.0  # an invocation starts no file or chunk with less Lambda time than this left
    fault: Callable[[AppliedCounts], None] | None = field(default=None, repr=False)  # crash tests: after each chunk


@dataclass(frozen=True)
class Counted:
    """A data file's requests and what they do to the table's count."""

    requests: list[WriteRequest]
    puts: list[bool]  # per request: a put (else a delete)
    effect: list[int]  # per request: +1 an insert, -1 a delete of an item that existed, 0 neither
    known: list[bool]  # per request: whether the effect is known (a NEW_IMAGE export cannot tell)
    keys: list[WireItem] = field(default_factory=list)  # reverting: each change's key...
    left: list[WireItem | None] = field(default_factory=list)  # ...the item as the window left it (None: deleted)...
    found: list[WireItem | None] = field(default_factory=list)  # ...and as the window found it (what reverting writes)


Position = TypeVar("Position", bound=AppliedCounts)


class ExportApplier:
    """Applies planned exports to one table from a position, until done or the invocation's time runs short."""

    def __init__(
        self,
        target: TableSide,
        s3: S3Client,
        key_names: list[str],
        *,
        owner: str | None = None,
        cap: float | None = None,
        revert: bool = False,
        guard: bool = True,
        tuning: ApplyTuning | None = None,
    ) -> None:
        self.target = target
        self.s3 = s3  # reads the exports (the function's own access)
        self.key_names = key_names
        self.owner = owner
        self.revert = revert  # undo the changes: OldImages put back, inserted items deleted
        self.guard = guard  # reverting: only items still as the window left them (if_changed skip)
        self.tuning = tuning or ApplyTuning()
        self.limiter = AdaptiveLimiter(cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self.writer = BatchWriter(target, self.limiter, self.tuning)
        self._files: dict[int, list[DataFile]] = {}

    def run(
        self, exports: Sequence[ExportManifest], progress: ApplyProgress, time_left: Callable[[], float]
    ) -> ApplyProgress:
        """Apply from `progress` on; at least one chunk per invocation, then only while `time_left()` (s) allows."""
        state = progress.model_copy(update={"invocations": progress.invocations + 1})
        worked = False
        while state.export < len(exports):
            manifest = exports[state.export]
            files = self._files_of(state.export, manifest)
            if state.file >= len(files):
                state = state.model_copy(
                    update={
                        "export": state.export + 1,
                        "file": 0,
                        "line": 0,
                        "exports_applied": state.exports_applied + 1,
                    }
                )
                continue
            if worked and time_left() < self.tuning.reserve_seconds:
                return state
            state, finished = self._write_file(manifest, files[state.file], state, time_left)
            worked = True
            if not finished:  # stopped inside the file: time is short
                return state
            state = state.model_copy(update={"file": state.file + 1, "line": 0, "files": state.files + 1})
        return state.model_copy(update={"done": True, "current": None})

    def apply_file(self, progress: FileProgress, time_left: Callable[[], float]) -> FileProgress:
        """Apply one data file from `progress.line` on: at least one chunk, then only while `time_left()` (s) allows;
        the file done (`done`, its counts final) or the line to go on from."""
        state = progress.model_copy(update={"invocations": progress.invocations + 1})
        state, finished = self._write_file(progress.manifest, progress.data, state, time_left)
        return state.model_copy(update={"done": True}) if finished else state

    def _files_of(self, index: int, manifest: ExportManifest) -> list[DataFile]:
        if index not in self._files:
            self._files[index] = read_files(self.s3, manifest, self.owner)
        return self._files[index]

    def _write_file(
        self, manifest: ExportManifest, file: DataFile, state: Position, time_left: Callable[[], float]
    ) -> tuple[Position, bool]:
        """Write the file's requests from `state.line` (its MD5 checked first, every time it is read); the state and
        whether the file is done (else time ran short: `line` is where to go on)."""
        where = f"s3://{manifest.bucket}/{file.key}"
        counted = self._requests(manifest, read_data(self.s3, manifest.bucket, file, self.owner), where)
        if len(counted.requests) != file.item_count:
            raise VerificationFailed(
                f"{where}: {len(counted.requests)} lines, its manifest says {file.item_count}; none of it was applied"
            )
        state = state.model_copy(update={"current": where})
        first = state.line
        for start in range(first, len(counted.requests), CHUNK):
            if start > first and time_left() < self.tuning.reserve_seconds:
                return state, False
            end = min(start + CHUNK, len(counted.requests))
            throttles = self.limiter.throttle_events
            send, already, conflicts = self._guarded(counted, range(start, end))
            written = self.writer.write([counted.requests[n] for n in send])
            applied = sorted(send + already)  # what the table now holds as the export says, written now or before
            known = [n for n in applied if counted.known[n]]
            puts = sum(1 for n in send if counted.puts[n])
            state = state.model_copy(
                update={
                    "line": end,
                    "puts": state.puts + puts,
                    "deletes": state.deletes + (len(send) - puts),
                    "inserted": state.inserted + sum(1 for n in known if counted.effect[n] > 0),
                    "removed": state.removed + sum(1 for n in known if counted.effect[n] < 0),
                    "uncounted": state.uncounted + (len(applied) - len(known)),
                    "already": state.already + len(already),
                    "conflicts": state.conflicts + len(conflicts),
                    "sample_conflicts": (state.sample_conflicts + [counted.keys[n] for n in conflicts])[:SAMPLE],
                    "write_units": round(state.write_units + written.units, 3),
                    "retried_items": state.retried_items + written.retried,
                    "throttles": state.throttles + self.limiter.throttle_events - throttles,
                }
            )
            if self.tuning.fault is not None:
                self.tuning.fault(state)
        logger.info("data file applied", extra={"file": where, "items": file.item_count})
        return state.model_copy(update={"line": 0}), True

    def _guarded(self, counted: Counted, chunk: range) -> tuple[list[int], list[int], list[int]]:
        """Which requests of the chunk to send: all of them, except when reverting with the guard on, where the live
        items are read first: one still as the window left it is reverted, one already as the window found it (a
        retried turn) is not written again, and one changed since is a conflict, left as it is."""
        if not (self.revert and self.guard):
            return list(chunk), [], []
        current = {
            key_id(item, self.key_names): item
            for item in read_items(self.target, [counted.keys[n] for n in chunk], self.tuning)
        }
        send, already, conflicts = [], [], []
        for n in chunk:
            now = current.get(key_id(counted.keys[n], self.key_names))
            if _same(now, counted.left[n]):
                send.append(n)
            elif _same(now, counted.found[n]):
                already.append(n)
            else:
                conflicts.append(n)
        return send, already, conflicts

    def _requests(self, manifest: ExportManifest, data: bytes, where: str) -> Counted:
        if manifest.full:
            items = full_items(data, where)
            count = len(items)  # the FULL export's itemCount is the count applying starts from
            return Counted(
                [{"PutRequest": {"Item": item}} for item in items], [True] * count, [0] * count, [True] * count
            )
        names = set(self.key_names)
        known = manifest.output_view == "NEW_AND_OLD_IMAGES"
        counted = Counted([], [], [], [])
        for change in changes(data, where):
            if set(change.keys) != names:
                raise InvalidInput(
                    f"target.key_schema: {where} keys its changes on {', '.join(sorted(change.keys))}, the table on "
                    f"{', '.join(sorted(names))}; incremental exports apply only to a table with the same keys"
                )
            request: dict[str, Any]
            if self.revert:
                before, after = change.new, change.old  # undoing: from what the window made back to what it found
            else:
                before, after = change.old, change.new
            if after is not None:
                request = {"PutRequest": {"Item": after}}
                effect = 0 if before is not None else 1
            else:
                request = {"DeleteRequest": {"Key": change.keys}}
                effect = -1 if before is not None else 0
            counted.requests.append(request)
            counted.puts.append(after is not None)
            counted.effect.append(effect)
            counted.known.append(known)
            if self.revert:
                counted.keys.append(change.keys)
                counted.left.append(change.new)
                counted.found.append(change.old)
        return counted


def _same(one: WireItem | None, other: WireItem | None) -> bool:
    """Two items (or absences) equal as items: sets in any order, maps in any key order."""
    if one is None or other is None:
        return one is other
    return orjson.dumps(canonical(one), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        canonical(other), option=orjson.OPT_SORT_KEYS
    )
