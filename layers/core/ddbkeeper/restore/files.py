"""The data files a restore applies, in the stack's bucket under the execution's folder: what the Distributed Map reads
and what each of its items leaves behind, so the state machine carries none of it.

`ddbkeeper-restores/<execution>/exports/<export>/files.json`: the export's data files as a JSON array of FileProgress
(the real manifest-files.json is JSON Lines, which the Map's ItemReader cannot read as JSON), put by List Export Files.
`ddbkeeper-restores/<execution>/exports/<export>/applied/<file>.json`: `{"execution": ..., "file": {...}}`, put by Apply
File once the file is written: its counts, summed by the next List Export Files (ResultWriter is not used: the local
runtime does not write its results), and the proof a redriven or re-run item finds to skip the file.
`.../applied/<file>.failed.json`: the error a file failed with (a damaged file's MD5), so that when the Map ends without
a file's result the failure named is the file's own (the local runtime's Map does not fail when a child does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ddbkeeper.apply import ApplyStore, FileProgress
from ddbkeeper.errors import ERRORS, DdbkeeperError, VerificationFailed
from ddbkeeper.models import StepModel
from ddbkeeper.stack_objects import StackObjects

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "ddbkeeper-restores/"
# The Map applies at most this many files at once (its MaxConcurrency in statemachines/restore.asl.json): each file's
# writer has its own adaptive limiter on the target's shared capacity, and a request's max_write_units is divided by
# the files applied at once (min(this, the export's files)), so together they never pass the cap.
MAX_CONCURRENT_FILES = 40


def file_cap(cap: float | None, files: int) -> float | None:
    """One file's share of the request's cap: the cap over the files the Map applies at once."""
    return cap / max(1, min(files, MAX_CONCURRENT_FILES)) if cap is not None else None


class AppliedFile(StepModel):
    """What is put once a file is applied: its result and the execution it belongs to (another's is never trusted)."""

    execution: str
    file: FileProgress


class FailedFile(StepModel):
    """What is put when a file fails for good: the error's name and message, and the execution it belongs to."""

    execution: str
    error: str
    message: str


class AppliedFiles(StackObjects):
    """One restore execution's folder in the stack's bucket: the lists of files the Map reads, and their results."""

    def __init__(self, s3: Callable[[], S3Client], bucket: str, execution: str) -> None:
        super().__init__(s3, bucket)
        self.execution = execution

    def folder(self, export: int) -> str:
        return f"{PREFIX}{self.execution}/exports/{export:05d}/"

    def result_key(self, export: int, file: int) -> str:
        return f"{self.folder(export)}applied/{file:06d}.json"

    def list_files(self, export: int, files: list[FileProgress]) -> ApplyStore:
        """Put the export's files where the Map's ItemReader reads them (a JSON array); where that is."""
        key = f"{self.folder(export)}files.json"
        self._put_array(key, files)
        return ApplyStore(bucket=self.bucket, key=key)

    def save(self, file: FileProgress) -> None:
        body = AppliedFile(execution=self.execution, file=file).model_dump_json().encode()
        self._put(self.result_key(file.export, file.file), body)

    def failed(self, export: int, file: int, error: DdbkeeperError) -> None:
        body = FailedFile(execution=self.execution, error=type(error).__name__, message=str(error))
        self._put(self.result_key(export, file).replace(".json", ".failed.json"), body.model_dump_json().encode())

    def failure(self, export: int, file: int) -> DdbkeeperError | None:
        """The error the file failed with in this execution, if it left one."""
        body = self._get(self.result_key(export, file).replace(".json", ".failed.json"))
        try:
            stored = FailedFile.model_validate_json(body) if body is not None else None
        except ValidationError:
            return None
        if stored is None or stored.execution != self.execution:
            return None
        return ERRORS.get(stored.error, VerificationFailed)(stored.message)

    def result(self, export: int, file: int) -> FileProgress | None:
        """The file's result when this execution applied it already; None when it has not (or the object is another
        execution's, or not one: the file is applied again, which is idempotent)."""
        body = self._get(self.result_key(export, file))
        if body is None:
            return None
        try:
            stored = AppliedFile.model_validate_json(body)
        except ValidationError:
            return None
        found = stored.file
        if (stored.execution, found.export, found.file) != (self.execution, export, file) or not found.done:
            return None
        return found

    def results(self, export: int, files: int) -> list[FileProgress]:
        """Every file's result of the export, in file order; a file without one fails: the Map ended without it (a
        file missing is never a file skipped)."""
        found = self._gather(lambda n: self.result(export, n), list(range(files)))
        missing = [n for n, result in enumerate(found) if result is None]
        for number in missing:
            if (error := self.failure(export, number)) is not None:
                raise error
        if missing:
            raise VerificationFailed(
                f"{self.url(self.folder(export))}: {len(missing)} of {files} data files have no result "
                f"(file {missing[0]} first); the export is not all applied"
            )
        return [result for result in found if result is not None]
