"""Segments' checkpoints in the stack's bucket, under the execution's folder, so a crash re-copies seconds, not an
invocation.

A Copy Segment invocation hands its checkpoint to the state machine only when it returns (up to 780 s of work). While
it runs it also puts the checkpoint here every few seconds (`COPY_CHECKPOINT_SECONDS`; one small PUT), and the next
attempt of the segment (a Lambda retry, or a redrive of the execution) starts from the one here when it belongs to this
execution and segment and is further than the state's. A page is written completely before the checkpoint moves past
it, so what is put here never runs ahead of what is in the target; a crash re-copies at most the pages since the last
put (puts are idempotent).

`ddbkeeper-copies/<execution>/checkpoints/<total segments>-<segment>.json`: `{"execution": ..., "checkpoint": {...}}`.

The same folder carries a copy whose segments do not fit in the state payload (more than COPY_INLINE_SEGMENTS): the
plan puts the segments' list there (`segments.json`, read by the Maps' ItemReader), each segment's final checkpoint and
final tally (`tallies/...`) are its results, and Verify Copy and Copy Report read them back and put their per-segment
lines there (`verification.json`, `report-segments.json`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from pydantic import TypeAdapter, ValidationError

from ddbkeeper.copy.models import SegmentCheckpoint, SegmentStore, SegmentTally
from ddbkeeper.errors import DdbkeeperError, InvalidInput
from ddbkeeper.models import StepModel
from ddbkeeper.stack_objects import StackObjects

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

PREFIX = "ddbkeeper-copies/"


class StoredCheckpoint(StepModel):
    """What is put: the checkpoint and the execution it belongs to (an object under another name is never trusted)."""

    execution: str
    checkpoint: SegmentCheckpoint


class StoredTally(StepModel):
    """A segment's final tally and the execution it belongs to."""

    execution: str
    tally: SegmentTally


class CheckpointStore(StackObjects):
    """One copy execution's folder in the stack's bucket: its segments' checkpoints, and when the segments go through
    S3, their list, their final tallies and the per-segment lines of the verification and the report."""

    def __init__(self, s3: Callable[[], S3Client], bucket: str, execution: str) -> None:
        super().__init__(s3, bucket)
        self.execution = execution

    @property
    def folder(self) -> str:
        return f"{PREFIX}{self.execution}/"

    def key(self, segment: int, total_segments: int) -> str:
        return f"{self.folder}checkpoints/{total_segments}-{segment}.json"

    def tally_key(self, segment: int, total_segments: int) -> str:
        return f"{self.folder}tallies/{total_segments}-{segment}.json"

    def list_segments(self, starts: list[SegmentCheckpoint], total_segments: int) -> SegmentStore:
        """Put the segments' starting checkpoints, and every segment's number (all are verified), where the Maps'
        ItemReader reads them (JSON arrays)."""
        key, verify_key = f"{self.folder}segments.json", f"{self.folder}verify-segments.json"
        self._put_array(key, starts)
        self._put(verify_key, json.dumps(list(range(total_segments))).encode())
        return SegmentStore(bucket=self.bucket, folder=self.folder, segments_key=key, verify_key=verify_key)

    def copied(self, store: SegmentStore) -> list[int]:
        """The segments the copy Map copied: those of the list Plan Copy put (a resume may leave some out)."""
        body = self._get(store.segments_key)
        if body is None:
            raise InvalidInput(f"store: {self.url(store.segments_key)} is missing")
        return [start.segment for start in TypeAdapter(list[SegmentCheckpoint]).validate_json(body)]

    def put_lines(self, name: str, lines: list[Any]) -> str:
        """Put a list of per-segment lines (models) in the folder; returns where."""
        key = f"{self.folder}{name}"
        self._put_array(key, lines)
        return self.url(key)

    def save_tally(self, tally: SegmentTally) -> None:
        body = StoredTally(execution=self.execution, tally=tally).model_dump_json().encode()
        self._put(self.tally_key(tally.segment, tally.total_segments), body)

    def finals(self, total_segments: int, segments: list[int] | None = None) -> list[SegmentCheckpoint]:
        """The final checkpoint of every segment copied (`segments`, default all; each put its own): a segment without
        one, or not done, is an error, never a segment skipped."""
        numbers = list(range(total_segments)) if segments is None else segments
        found = self._gather(lambda segment: self.load(segment, total_segments), numbers)
        return [self._finished(n, checkpoint, "checkpoint") for n, checkpoint in zip(numbers, found, strict=True)]

    def tallies(self, total_segments: int) -> list[SegmentTally]:
        """Every segment's final tally (each put its own)."""
        found = self._gather(lambda segment: self.load_tally(segment, total_segments), list(range(total_segments)))
        return [self._finished(n, tally, "tally") for n, tally in enumerate(found)]

    def load_tally(self, segment: int, total_segments: int) -> SegmentTally | None:
        key = self.tally_key(segment, total_segments)
        body = self._get(key)
        if body is None:
            return None
        try:
            stored = StoredTally.model_validate_json(body)
        except ValidationError:
            return None
        found = stored.tally
        if (stored.execution, found.segment, found.total_segments) != (self.execution, segment, total_segments):
            return None
        return found

    def _finished(self, segment: int, found: Any, what: str) -> Any:
        if found is None or not found.done:
            state = "missing" if found is None else "not done"
            raise InvalidInput(f"segment {segment}: its final {what} in {self.url(self.folder)} is {state}")
        return found

    def save(self, checkpoint: SegmentCheckpoint) -> None:
        body = StoredCheckpoint(execution=self.execution, checkpoint=checkpoint).model_dump_json().encode()
        self._put(self.key(checkpoint.segment, checkpoint.total_segments), body)

    def saved(self) -> list[SegmentCheckpoint]:
        """Every checkpoint put in the folder so far (a local run's journal follows them: ddbkeeper.cli.runs)."""
        listing = self._s3().get_paginator("list_objects_v2")
        pages = listing.paginate(Bucket=self.bucket, Prefix=f"{self.folder}checkpoints/")
        found = []
        for key in (entry["Key"] for page in pages for entry in page.get("Contents", [])):
            total, _, segment = key.rpartition("/")[2].removesuffix(".json").partition("-")
            if total.isdigit() and segment.isdigit() and (checkpoint := self.load(int(segment), int(total))):
                found.append(checkpoint)
        return found

    def load(self, segment: int, total_segments: int) -> SegmentCheckpoint | None:
        """The checkpoint put for this segment of this execution, or None (nothing there, or something that is not
        this execution's checkpoint of this segment)."""
        key = self.key(segment, total_segments)
        body = self._get(key)
        if body is None:
            return None
        try:
            stored = StoredCheckpoint.model_validate_json(body)
        except ValidationError:
            logger.warning("not a checkpoint; ignored", extra={"key": key})
            return None
        found = stored.checkpoint
        if (stored.execution, found.segment, found.total_segments) != (self.execution, segment, total_segments):
            logger.warning("a checkpoint of another execution or segment; ignored", extra={"key": key})
            return None
        return found

    def further(self, checkpoint: SegmentCheckpoint) -> SegmentCheckpoint:
        """The checkpoint to start from: the one put here when it is further than the state's (more pages written),
        else the state's. A store that cannot be read costs a re-copy, never the copy: the state's is as good."""
        try:
            stored = self.load(checkpoint.segment, checkpoint.total_segments)
        except DdbkeeperError as error:
            logger.warning("persisted checkpoint unreadable; starting from the state's", extra={"error": str(error)})
            return checkpoint
        if stored is None or stored.pages <= checkpoint.pages or checkpoint.done:
            return checkpoint
        logger.info(
            "resuming from the persisted checkpoint",
            extra={"segment": checkpoint.segment, "pages": stored.pages, "state_pages": checkpoint.pages},
        )
        return stored


class CheckpointSaver:
    """Puts the segment's checkpoint at most every `interval` seconds (and always when asked to `flush`); a put that
    fails costs a longer re-copy after a crash, never the copy itself."""

    def __init__(self, store: CheckpointStore, interval: float, clock: Callable[[], float]) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.last = clock()
        self.saved = 0

    def __call__(self, checkpoint: SegmentCheckpoint) -> None:
        if self.clock() - self.last >= self.interval:
            self.flush(checkpoint)

    def flush(self, checkpoint: SegmentCheckpoint, *, strict: bool = False) -> None:
        """Put the checkpoint now. `strict`: it is the segment's result (the segments go through S3), so a put that
        fails fails the call (the state machine retries it) instead of being logged."""
        self.last = self.clock()  # a put that failed is tried again an interval later, not on every page
        try:
            self.store.save(checkpoint)
        except DdbkeeperError as error:
            if strict:
                raise
            logger.warning("checkpoint not persisted", extra={"segment": checkpoint.segment, "error": str(error)})
            return
        self.saved += 1
