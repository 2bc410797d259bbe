"""Segments' checkpoints in the stack's bucket, under the execution's folder, so a crash re-copies seconds, not an
invocation.

A Copy Segment invocation hands its checkpoint to the state machine only when it returns (up to 780 s of work). While
it runs it also puts the checkpoint here every few seconds (`COPY_CHECKPOINT_SECONDS`; one small PUT), and the next
attempt of the segment (a Lambda retry, or a redrive of the execution) starts from the one here when it belongs to this
execution and segment and is further than the state's. A page is written completely before the checkpoint moves past
it, so what is put here never runs ahead of what is in the target; a crash re-copies at most the pages since the last
put (puts are idempotent).

`ddbkeeper-copies/<execution>/checkpoints/<total segments>-<segment>.json`: `{"execution": ..., "checkpoint": {...}}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import ValidationError

from ddbkeeper.aws import error_code, translate_errors
from ddbkeeper.copy.models import SegmentCheckpoint
from ddbkeeper.errors import DdbkeeperError
from ddbkeeper.models import StepModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

PREFIX = "ddbkeeper-copies/"


class StoredCheckpoint(StepModel):
    """What is put: the checkpoint and the execution it belongs to (an object under another name is never trusted)."""

    execution: str
    checkpoint: SegmentCheckpoint


class CheckpointStore:
    """One copy execution's segment checkpoints in the stack's bucket."""

    def __init__(self, s3: Callable[[], S3Client], bucket: str, execution: str) -> None:
        self._s3 = s3  # the function's own credentials, built on first use
        self.bucket = bucket
        self.execution = execution

    def key(self, segment: int, total_segments: int) -> str:
        return f"{PREFIX}{self.execution}/checkpoints/{total_segments}-{segment}.json"

    def save(self, checkpoint: SegmentCheckpoint) -> None:
        body = StoredCheckpoint(execution=self.execution, checkpoint=checkpoint).model_dump_json().encode()
        key = self.key(checkpoint.segment, checkpoint.total_segments)
        with translate_errors("PutObject", f"s3://{self.bucket}/{key}"):
            self._s3().put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def load(self, segment: int, total_segments: int) -> SegmentCheckpoint | None:
        """The checkpoint put for this segment of this execution, or None (nothing there, or something that is not
        this execution's checkpoint of this segment)."""
        key = self.key(segment, total_segments)
        with translate_errors("GetObject", f"s3://{self.bucket}/{key}"):
            try:
                body = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
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

    def flush(self, checkpoint: SegmentCheckpoint) -> None:
        try:
            self.store.save(checkpoint)
        except DdbkeeperError as error:
            logger.warning("checkpoint not persisted", extra={"segment": checkpoint.segment, "error": str(error)})
            return
        self.saved += 1
        self.last = self.clock()
