"""A copy by export (strategy export): the source exported at a point in time, the export imported into the target
(ImportTable creates it: no read or write capacity used on either table), then incremental exports applied until the
target is within one window of the source, and the target counted.

One step per call (Copy By Export in statemachines/copy.asl.json, looped with a Wait between calls until DONE):

    START        start a FULL export of the source (ExportTime: when the execution started, or PITR's latest
                 restorable time if earlier) to the copy's own folder, <prefix>/<execution>/
    EXPORTING    poll it; once COMPLETED: a FULL export is imported (ImportTable from its data/ folder only: real
                 exports keep their manifests beside it), an incremental one is applied
    IMPORTING    poll the import until COMPLETED and the table ACTIVE, then tag the table as the stack's
    CATCHING_UP  while the source has moved on by at least the shortest incremental window (15 minutes) since the
                 point the target holds, export that window (INCREMENTAL, NEW_AND_OLD_IMAGES); else count. A
                 window no shorter than the one before (exports take as long as the source's writes move on)
                 stops the catch-up too: the target stays at its point rather than chase the source forever
    APPLYING     apply the incremental export's puts and deletes (ddbkeeper.apply, restore's write path)
    COUNTING     count the target's items (a consistent Scan with Select=COUNT), page by page
    DONE         the target holds the source as of `point`: a consistent snapshot, unlike a Scan copy

`SourceExports` is the boundary with DynamoDB's export jobs and the clock: tests replace it where moto falls short
(moto ignores ExportType INCREMENTAL and writes neither manifests nor change records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from ddbkeeper.apply import ApplyTuning, ExportApplier
from ddbkeeper.aws import translate_errors
from ddbkeeper.clock import as_utc, backoff, iso, stamp
from ddbkeeper.copy.models import (
    CopyPlan,
    CopyRequest,
    ExportBucket,
    ExportCopyState,
    ExportStep,
    TableSpec,
)
from ddbkeeper.copy.target import marked
from ddbkeeper.errors import ExportFailed, InvalidInput, RestoreFailed, VerificationFailed
from ddbkeeper.export_files import ExportLocation, data_folder, read_manifest
from ddbkeeper.models import Execution
from ddbkeeper.pacing import with_retries
from ddbkeeper.tables import TableSide, describe, is_ready, pitr_description
from ddbkeeper.wire import WireTable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import ExportDescriptionTypeDef
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

MIN_WINDOW = timedelta(minutes=15)  # DynamoDB's shortest incremental export window: closer than this is done
MAX_WINDOW = timedelta(hours=24)  # and its longest: a longer gap is caught up window by window
IMPORT_PARAMS = (  # what ImportTable's TableCreationParameters take of the target's CreateTable spec
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "SSESpecification",
    "GlobalSecondaryIndexes",
)


class SourceExports:
    """DynamoDB's export jobs of the source (its account's client) and the time: the boundary tests stand in for."""

    def __init__(self, dynamodb: DynamoDBClient, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.dynamodb = dynamodb
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    def latest_restorable(self, table: str) -> datetime | None:
        """PITR's latest restorable time: an export's time (or window end) may not be later."""
        return as_utc(pitr_description(self.dynamodb, table).get("LatestRestorableDateTime"))

    def start(self, params: dict[str, Any]) -> ExportDescriptionTypeDef:
        with translate_errors("ExportTableToPointInTime", params["TableArn"]):
            return self.dynamodb.export_table_to_point_in_time(**params)["ExportDescription"]

    def describe(self, arn: str) -> ExportDescriptionTypeDef:
        with translate_errors("DescribeExport", arn):
            return self.dynamodb.describe_export(ExportArn=arn)["ExportDescription"]


class ExportCopier:
    """Takes a copy by export one step further per call (see the module's docstring)."""

    def __init__(
        self,
        request: CopyRequest,
        execution: Execution,
        plan: CopyPlan,
        *,
        target: TableSide,
        exports: SourceExports,
        reader: S3Client,
        stack_name: str,
        tuning: ApplyTuning | None = None,
    ) -> None:
        if plan.export_bucket is None:
            raise InvalidInput("plan.export_bucket: a copy by export needs the bucket its plan chose")
        self.request = request
        self.execution = execution
        self.plan = plan
        self.bucket: ExportBucket = plan.export_bucket
        self.target = target  # the target's account: ImportTable, the catch-up's writes, the count
        self.exports = exports  # the source's account: ExportTableToPointInTime, DescribeExport
        self.reader = reader  # reads the bucket (the target's account: it can read it)
        self.stack_name = stack_name
        self.tuning = tuning or ApplyTuning()

    @property
    def folder(self) -> str:
        """The copy's own folder: every export under it is this execution's."""
        return f"{self.bucket.prefix}/{self.execution.name}"

    def step(self, state: ExportCopyState, time_left: Callable[[], float]) -> ExportCopyState:
        state = state.model_copy(update={"polls": state.polls + 1, "wait_seconds": 0})
        phases: dict[str, Callable[[ExportCopyState], ExportCopyState]] = {
            "START": self._start_full,
            "EXPORTING": self._exporting,
            "IMPORTING": self._importing,
            "CATCHING_UP": self._catch_up,
            "APPLYING": lambda now: self._applying(now, time_left),
            "COUNTING": lambda now: self._counting(now, time_left),
        }
        return phases[state.phase](state) if state.phase in phases else state

    # --- the FULL export and its import ----------------------------------------------------------------------------

    def _start_full(self, state: ExportCopyState) -> ExportCopyState:
        started = self.execution.started_at.astimezone(UTC).replace(microsecond=0)
        latest = self.exports.latest_restorable(self.request.source.table)
        point = min(started, latest) if latest is not None else started
        described = self.exports.start(self._export_params("full") | {"ExportType": "FULL_EXPORT", "ExportTime": point})
        logger.info("copy's FULL export started", extra={"export_arn": described["ExportArn"], "point": iso(point)})
        step = ExportStep(kind="FULL", arn=described["ExportArn"], end=point)
        return state.model_copy(update={"phase": "EXPORTING", "export": step, "wait_seconds": backoff(0, 5, 60)})

    def _export_params(self, window: str) -> dict[str, Any]:
        """The arguments every export of this copy has; its ClientToken makes a retried start find the one started."""
        token = hashlib.sha256(f"{self.execution.name}|{self.plan.source_arn}|{window}".encode()).hexdigest()[:40]
        params: dict[str, Any] = {
            "TableArn": self.plan.source_arn,
            "S3Bucket": self.bucket.bucket,
            "S3Prefix": self.folder,
            "ExportFormat": "DYNAMODB_JSON",
            "S3SseAlgorithm": "AES256",
            "ClientToken": token,
        }
        if self.bucket.bucket_owner:
            params["S3BucketOwner"] = self.bucket.bucket_owner
        return params

    def _exporting(self, state: ExportCopyState) -> ExportCopyState:
        export = _current(state)
        described = self.exports.describe(export.arn)
        status = described.get("ExportStatus")
        if status == "IN_PROGRESS":
            return state.model_copy(update={"wait_seconds": backoff(state.polls, 5, 60)})
        if status != "COMPLETED":
            raise ExportFailed(
                f"export {export.arn} of {self.request.source.table}: {described.get('FailureCode') or status}: "
                f"{described.get('FailureMessage') or 'no reason'}; nothing was written to the target by it"
            )
        manifest = described.get("ExportManifest")
        items = int(described.get("ItemCount") or 0)
        if export.kind == "FULL":
            location = ExportLocation(self.bucket.bucket, self.folder, self.bucket.bucket_owner)
            data = data_folder(self.reader, location, manifest)  # ImportTable must see the data files only
            end = as_utc(described.get("ExportTime")) or export.end
            done = export.model_copy(update={"end": end, "items": items, "where": location.url(data)})
            import_arn = self._import(data)
            return state.model_copy(
                update={
                    "phase": "IMPORTING",
                    "export": None,
                    "exports": [*state.exports, done],
                    "point": end,
                    "import_arn": import_arn,
                    "wait_seconds": backoff(0, 5, 60),
                }
            )
        if not manifest:
            raise ExportFailed(
                f"export {export.arn}: DynamoDB named no manifest for the incremental export; without it its changes "
                "cannot be told from other exports' files"
            )
        where = f"s3://{self.bucket.bucket}/{manifest}"
        return state.model_copy(
            update={"phase": "APPLYING", "export": export.model_copy(update={"items": items, "where": where})}
        )

    def _import(self, data: str) -> str:
        spec: TableSpec = self.plan.target_spec
        creation = {name: spec[name] for name in IMPORT_PARAMS if name in spec}  # type: ignore[literal-required]
        source: dict[str, str] = {"S3Bucket": self.bucket.bucket, "S3KeyPrefix": data}
        if self.bucket.bucket_owner:
            source["S3BucketOwner"] = self.bucket.bucket_owner
        token = hashlib.sha256(f"{self.execution.name}|{self.request.target.table}|import".encode()).hexdigest()[:40]
        with translate_errors("ImportTable", self.target.name):
            imported = self.target.control.import_table(
                S3BucketSource=source,  # type: ignore[arg-type]
                InputFormat="DYNAMODB_JSON",
                InputCompressionType="GZIP",
                TableCreationParameters=creation,  # type: ignore[arg-type]
                ClientToken=token,
            )["ImportTableDescription"]
        logger.info("copy's import started", extra={"import_arn": imported["ImportArn"], "data": data})
        return imported["ImportArn"]

    def _importing(self, state: ExportCopyState) -> ExportCopyState:
        arn = state.import_arn
        assert arn is not None  # set with the phase
        with translate_errors("DescribeImport", arn):
            imported = self.target.control.describe_import(ImportArn=arn)["ImportTableDescription"]
        status = imported.get("ImportStatus")
        wait = state.model_copy(update={"wait_seconds": backoff(state.polls, 5, 60)})
        if status == "IN_PROGRESS":
            return wait
        if status != "COMPLETED":
            raise RestoreFailed(
                f"import {arn} into {self.target.name}: {imported.get('FailureCode') or status}: "
                f"{imported.get('FailureMessage') or 'no reason'}"
            )
        table = describe(self.target.control, self.target.name)
        if table is None or not is_ready(table):
            return wait
        # ImportTable takes no tags: the stack's marks (and the source's tags) go on now, before anything else is
        # written, since the target's role may write only into tables that carry them.
        tags = marked(self.plan.target_spec, self.stack_name, self.execution.name).get("Tags", [])
        with translate_errors("TagResource", self.target.name):
            self.target.control.tag_resource(ResourceArn=table["TableArn"], Tags=tags)
        items = int(imported.get("ImportedItemCount") or 0)
        logger.info("copy's import completed", extra={"table": self.target.name, "items": items})
        return state.model_copy(update={"phase": "CATCHING_UP", "imported_items": items})

    # --- the catch-up ----------------------------------------------------------------------------------------------

    def _catch_up(self, state: ExportCopyState) -> ExportCopyState:
        """The next window from the point the target holds to now (PITR's latest restorable time at most): exported
        when it is at least the shortest window DynamoDB exports, else the target is within one window: count it."""
        point = state.point
        assert point is not None  # set with the FULL export
        now = self.exports.now().astimezone(UTC).replace(microsecond=0)
        latest = self.exports.latest_restorable(self.request.source.table)
        end = min(now, point + MAX_WINDOW, *([latest] if latest is not None else []))
        if end - point < MIN_WINDOW:
            logger.info("copy within one window of the source", extra={"point": iso(point), "now": iso(now)})
            return state.model_copy(update={"phase": "COUNTING"})
        last = state.exports[-1] if len(state.exports) > 1 else None
        if last is not None and last.start is not None and end - point >= last.end - last.start < MAX_WINDOW:
            # The source moved on by as much while the last window was exported and applied: the catch-up is not
            # closing the gap (each export takes about as long as its window), so the target stops at its point.
            logger.warning(
                "copy's catch-up not converging; the target stays at its point",
                extra={"point": iso(point), "window_seconds": (end - point).total_seconds()},
            )
            return state.model_copy(update={"phase": "COUNTING"})
        # The window's end in the token: a retried call that finds a later `now` starts its own export, never a
        # second one with the first one's token and other parameters (IdempotentParameterMismatch).
        params = self._export_params(f"{stamp(point)}-{stamp(end)}") | {
            "ExportType": "INCREMENTAL_EXPORT",
            "IncrementalExportSpecification": {
                "ExportFromTime": point,
                "ExportToTime": end,
                "ExportViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        described = self.exports.start(params)
        logger.info(
            "copy's incremental export started",
            extra={"export_arn": described["ExportArn"], "from": iso(point), "to": iso(end)},
        )
        step = ExportStep(kind="INCREMENTAL", arn=described["ExportArn"], start=point, end=end)
        return state.model_copy(update={"phase": "EXPORTING", "export": step, "wait_seconds": backoff(0, 5, 60)})

    def _applying(self, state: ExportCopyState, time_left: Callable[[], float]) -> ExportCopyState:
        export = _current(state)
        assert export.where is not None  # set when the export completed
        manifest = read_manifest(self.reader, export.where, self.bucket.bucket_owner, "byexport.export.where")
        if manifest.full or (manifest.from_time, manifest.to_time) != (export.start, export.end):
            raise VerificationFailed(
                f"{export.where}: {manifest.describe()}, the copy asked for an incremental export from "
                f"{iso(export.start)} to {iso(export.end)}; nothing of it was applied"
            )
        keys = [key["AttributeName"] for key in sorted(self.plan.target_spec["KeySchema"], key=lambda k: k["KeyType"])]
        applier = ExportApplier(
            self.target, self.reader, keys, owner=self.bucket.bucket_owner, cap=self.request.max_write_units,
            tuning=self.tuning,
        )  # fmt: skip
        progress = applier.run([manifest], state.apply, time_left)
        if not progress.done:
            return state.model_copy(update={"apply": progress})
        logger.info("copy's incremental export applied", extra={"export_arn": export.arn, "to": iso(export.end)})
        return state.model_copy(
            update={
                "phase": "CATCHING_UP",
                "export": None,
                "exports": [*state.exports, export],
                "point": export.end,
                "apply": progress.model_copy(update={"export": 0, "file": 0, "line": 0, "done": False}),
            }
        )

    # --- the count -------------------------------------------------------------------------------------------------

    def _counting(self, state: ExportCopyState, time_left: Callable[[], float]) -> ExportCopyState:
        """The target's items, page by page (a consistent Scan with Select=COUNT) until done or time runs short."""
        counted, key = state.counted, state.count_key
        for _ in range(10**9):
            start = key

            def scan(wire: WireTable, start: Any = start) -> dict[str, Any]:
                return wire.scan_page(0, 1, start, select_count=True, consistent=True)

            page = with_retries(lambda: self.target.call("Scan", scan), self.tuning)
            counted += int(page.get("Count", 0))
            key = page.get("LastEvaluatedKey")
            if key is None or time_left() < self.tuning.reserve_seconds:
                break
        if key is not None:
            return state.model_copy(update={"counted": counted, "count_key": key})
        expected = state.apply.expected(state.imported_items)
        return state.model_copy(update={"phase": "DONE", "counted": counted, "count_key": None, "expected": expected})


def _current(state: ExportCopyState) -> ExportStep:
    if state.export is None:
        raise InvalidInput(f"byexport.export: no export in flight in phase {state.phase}")
    return state.export
