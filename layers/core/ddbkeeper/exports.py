"""Point-in-time exports to S3: the chain of windows, the ledger that records it, and the export steps.

The ledger is a folder of small JSON objects next to the exports, one per completed export:
``s3://<bucket>/<prefix>/ddbkeeper-ledger/<table>/<window end>.json``. Entries are written once and never changed, so
two runs never race on a shared document, and the newest entry (the greatest key) is where the next incremental export
starts. Every export also gets a folder of its own, ``<prefix>/<window end>-full|incremental/``, so what lies under
it belongs to that one export and can be imported without guessing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools import Logger

from ddbkeeper.aws import AccountAccess, SessionFactory, translate_errors
from ddbkeeper.clock import as_utc, backoff, iso, stamp
from ddbkeeper.errors import AwsError, InvalidInput, TableNotFound, VerificationFailed
from ddbkeeper.export_models import ExportRequest
from ddbkeeper.models import Execution
from ddbkeeper.tables import describe, pitr_description

Client = Any  # interim: typed clients arrive with the workflow package
logger = Logger(child=True)

MIN_WINDOW = timedelta(minutes=15)  # DynamoDB's limits for one incremental export
MAX_WINDOW = timedelta(hours=24)
MAX_CATCH_UP = timedelta(days=7)  # AUTO splits a longer gap into incremental windows up to this, then exports FULL
LEDGER_FOLDER = "ddbkeeper-ledger"
WindowType = Literal["FULL", "INCREMENTAL", "NONE"]


# --- the chain of windows (pure) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportWindow:
    """What one run exports: a snapshot at `end` (FULL), the changes from `start` to `end` (INCREMENTAL), or nothing."""

    export_type: WindowType
    end: datetime
    start: datetime | None = None
    reason: str = ""
    more: bool = False  # another window follows in the same run (catching up a long gap)

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_type": self.export_type,
            "start": iso(self.start),
            "end": iso(self.end),
            "reason": self.reason,
            "more": self.more,
        }


def choose_window(
    export_type: str,
    end: datetime,
    last_end: datetime | None,
    earliest_restorable: datetime,
    now: datetime,
) -> ExportWindow:
    """Decide what to export. The first export of a table is FULL. Then INCREMENTAL is strict (a window it cannot export
    fails, naming it) and AUTO adapts.

    AUTO: the first export of a table is FULL; later ones continue the chain from the last export's end. A gap of more
    than 24 hours is split into equal incremental windows of at most 24 hours (this returns the first, `more` set; the
    run asks again once it is recorded); a gap of more than 7 days, or a chain end PITR no longer covers, starts a new
    chain with a FULL export; a gap shorter than 15 minutes exports nothing (the next run covers it).
    """
    if end > now:
        raise InvalidInput(f"export_time: {iso(end)} is in the future (now {iso(now)})")
    if end < earliest_restorable:
        raise InvalidInput(
            f"export_time: {iso(end)} is before the table's earliest restorable time {iso(earliest_restorable)}"
        )
    if export_type == "FULL":
        return ExportWindow("FULL", end, reason="requested")
    strict = export_type == "INCREMENTAL"
    if last_end is None:  # for INCREMENTAL too: a chain starts with a full export
        return ExportWindow("FULL", end, reason="first export of the table")
    if last_end < earliest_restorable:
        if strict:
            raise InvalidInput(
                f"export_type: the last export ended at {iso(last_end)}, before the earliest restorable time "
                f"{iso(earliest_restorable)}; use AUTO or FULL to start a new chain"
            )
        return ExportWindow("FULL", end, reason="point-in-time recovery no longer covers the last export's end")
    return _continue_chain(strict, last_end, end)


def _continue_chain(strict: bool, last_end: datetime, end: datetime) -> ExportWindow:
    gap = end - last_end
    hours = gap.total_seconds() / 3600
    if gap < MIN_WINDOW:
        if strict:
            raise InvalidInput(
                f"export_time: the window {iso(last_end)} to {iso(end)} is shorter than 15 minutes "
                "(DynamoDB's minimum for an incremental export)"
            )
        return ExportWindow("NONE", end, last_end, reason=f"only {gap} since the last export; the next run covers it")
    if gap <= MAX_WINDOW:
        return ExportWindow("INCREMENTAL", end, last_end, reason="continues the chain")
    if strict:
        raise InvalidInput(
            f"export_time: the window {iso(last_end)} to {iso(end)} is {hours:.1f} h; an incremental export "
            "covers 15 minutes to 24 hours (AUTO catches up in several windows, or exports FULL after 7 days)"
        )
    if gap > MAX_CATCH_UP:
        return ExportWindow("FULL", end, reason=f"{hours:.1f} h since the last export is more than 7 days")
    # Equal windows, each at most 24 h and (the gap being over 24 h) at least 12 h: none falls under 15 minutes.
    windows = math.ceil(gap / MAX_WINDOW)
    step = timedelta(seconds=math.ceil(gap.total_seconds() / windows))
    reason = f"catching up {hours:.1f} h since the last export in {windows} windows"
    return ExportWindow("INCREMENTAL", last_end + step, last_end, reason=reason, more=True)


# --- the ledger ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportLocation:
    bucket: str
    prefix: str
    owner: str | None = None

    def params(self) -> dict[str, str]:
        """ExpectedBucketOwner: never read or write a ledger in a bucket someone else has taken over."""
        return {"Bucket": self.bucket, **({"ExpectedBucketOwner": self.owner} if self.owner else {})}


class ExportLedger:
    """The record of a table's completed exports, as write-once objects under the export prefix."""

    def __init__(self, s3: Client, location: ExportLocation, table: str) -> None:
        self.s3 = s3
        self.location = location
        self.folder = f"{location.prefix}/{LEDGER_FOLDER}/{table}/"

    def last(self, table_arn: str) -> dict[str, Any] | None:
        """The newest entry for this table (keys sort by window end), or None before the first export."""
        where = f"s3://{self.location.bucket}/{self.folder}"
        with translate_errors("ListObjectsV2", where):
            try:
                pages = self.s3.get_paginator("list_objects_v2").paginate(Prefix=self.folder, **self.location.params())
                keys = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".json")]
            except self.s3.exceptions.NoSuchBucket:
                raise InvalidInput(f"bucket: {self.location.bucket} does not exist") from None
        for key in sorted(keys, reverse=True):
            entry = self._read(key)
            if entry.get("table_arn") == table_arn:
                return entry
        return None

    def record(self, entry: dict[str, Any]) -> str:
        key = f"{self.folder}{stamp(datetime.fromisoformat(entry['window']['end']))}.json"
        with translate_errors("PutObject", f"s3://{self.location.bucket}/{key}"):
            self.s3.put_object(
                Key=key,
                Body=json.dumps(entry, indent=2).encode(),
                ContentType="application/json",
                **self.location.params(),
            )
        return key

    def _read(self, key: str) -> dict[str, Any]:
        with translate_errors("GetObject", f"s3://{self.location.bucket}/{key}"):
            body = self.s3.get_object(Key=key, **self.location.params())["Body"].read()
        entry: dict[str, Any] = json.loads(body)
        return entry


# --- the export steps ----------------------------------------------------------------------------------------------


def export_service(
    request: ExportRequest, execution: Execution, default_bucket: str | None, default_kms_key: str | None = None
) -> ExportService:
    """The table is reached through the request's role; the bucket and its ledger with the function's own access.

    The defaults are the stack's bucket and KMS key (EXPORT_BUCKET, EXPORT_KMS_KEY), used when the request names none.
    """
    bucket = request.bucket or default_bucket
    if not bucket:
        raise InvalidInput("bucket: no bucket given and the stack has no export bucket (EXPORT_BUCKET)")
    factory = SessionFactory(session_name=f"ddbkeeper-{execution.name}")
    location = ExportLocation(bucket, request.key_prefix(), request.bucket_owner)
    ledger = ExportLedger(factory.client("s3", AccountAccess(region=request.region)), location, request.table)
    return ExportService(factory.client("dynamodb", request.access()), ledger, kms_key=default_kms_key or None)


def client_token(execution: Execution, table_arn: str, end: datetime) -> str:
    """The same for every attempt of one execution's export of one window: DynamoDB starts it once."""
    return hashlib.sha256(f"{execution.name}|{table_arn}|{stamp(end)}".encode()).hexdigest()[:40]


class ExportService:
    """The steps of the export workflow, for one table (its DynamoDB client) and one ledger (its S3 client)."""

    def __init__(
        self,
        dynamodb: Client,
        ledger: ExportLedger,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        kms_key: str | None = None,
    ) -> None:
        self.dynamodb = dynamodb
        self.ledger = ledger
        self.clock = clock
        self.kms_key = kms_key

    def prepare(
        self, request: ExportRequest, execution: Execution, polls: int = 0, earlier: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Check the table and its PITR (turning it on when asked), then choose the window from the ledger.

        Nothing is exported here. While PITR is turning on the plan says so and the state machine asks again.
        `earlier` lists the exports this run already made (catching up a long gap window by window).
        """
        table = request.table
        described = describe(self.dynamodb, table)
        if described is None:
            raise TableNotFound(f"table: {table} does not exist")
        table_arn = described["TableArn"]
        pitr = self._pitr(table)
        actions: list[str] = []
        if pitr.get("PointInTimeRecoveryStatus") == "DISABLED":
            if not request.enable_pitr:
                raise InvalidInput(
                    f"enable_pitr: {table} has point-in-time recovery off and exports need it; "
                    "pass enable_pitr true to turn it on"
                )
            actions.append(f"turn point-in-time recovery on for {table}")
            if request.dry_run:  # plan as if it were on from the start of the run
                pitr = {"PointInTimeRecoveryStatus": "ENABLED"}
            else:
                with translate_errors("UpdateContinuousBackups", table):
                    pitr = self.dynamodb.update_continuous_backups(
                        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                    )["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
                logger.info("point-in-time recovery turned on", extra={"table": table})
        plan: dict[str, Any] = {
            "table_arn": table_arn,
            "bucket": self.ledger.location.bucket,
            "bucket_owner": self.ledger.location.owner,
            "prefix": self.ledger.location.prefix,
            "pitr": pitr.get("PointInTimeRecoveryStatus", "ENABLING"),
            "polls": polls + 1,
            "earlier": earlier or [],
            "dry_run": request.dry_run,
            "actions": actions,
        }
        if plan["pitr"] != "ENABLED":
            return plan
        # The window ends when the execution started, or at PITR's latest restorable time if that is earlier (it trails
        # the present by about five minutes, and DynamoDB exports from within the PITR window).
        started = execution.started_at.astimezone(UTC).replace(microsecond=0)
        earliest = as_utc(pitr.get("EarliestRestorableDateTime")) or started
        latest = as_utc(pitr.get("LatestRestorableDateTime")) or started
        if request.export_time and request.export_time > latest:
            raise InvalidInput(
                f"export_time: {iso(request.export_time)} is after the table's latest restorable time {iso(latest)}"
            )
        end = request.export_time or max(min(started, latest), earliest)
        last = self.ledger.last(table_arn)
        window = choose_window(
            request.export_type, end, as_utc(last["window"]["end"]) if last else None, earliest, self.clock()
        )
        kind = window.export_type.lower()
        plan |= {
            "window": window.as_dict(),
            "s3_prefix": f"{self.ledger.location.prefix}/{stamp(window.end)}-{kind}",
            "client_token": client_token(execution, table_arn, window.end),
            "kms_key_id": request.kms_key_id or self.kms_key,
            "last_export": last["export_arn"] if last else None,
        }
        plan["actions"] += _export_actions(request, window, plan)
        return plan

    def _pitr(self, table: str) -> dict[str, Any]:
        try:
            return pitr_description(self.dynamodb, table)
        except AwsError as error:
            raise InvalidInput(f"table: cannot read {table}'s point-in-time recovery status: {error}") from error

    def start(self, request: ExportRequest, plan: dict[str, Any]) -> dict[str, Any]:
        window = plan["window"]
        params: dict[str, Any] = {
            "TableArn": plan["table_arn"],
            "S3Bucket": plan["bucket"],
            "S3Prefix": plan["s3_prefix"],
            "ExportFormat": request.format,
            "ClientToken": plan["client_token"],
        }
        if plan["bucket_owner"]:
            params["S3BucketOwner"] = plan["bucket_owner"]
        if plan.get("kms_key_id"):
            params |= {"S3SseAlgorithm": "KMS", "S3SseKmsKeyId": plan["kms_key_id"]}
        else:
            params["S3SseAlgorithm"] = "AES256"
        if window["export_type"] == "FULL":
            params |= {"ExportType": "FULL_EXPORT", "ExportTime": datetime.fromisoformat(window["end"])}
        else:
            params |= {
                "ExportType": "INCREMENTAL_EXPORT",
                "IncrementalExportSpecification": {
                    "ExportFromTime": datetime.fromisoformat(window["start"]),
                    "ExportToTime": datetime.fromisoformat(window["end"]),
                    "ExportViewType": request.view_type,
                },
            }
        with translate_errors("ExportTableToPointInTime", request.table):
            described = self.dynamodb.export_table_to_point_in_time(**params)["ExportDescription"]
        logger.info("export started", extra={"export_arn": described["ExportArn"], "window": window})
        return _progress(described, polls=0)

    def check(self, export_arn: str, polls: int) -> dict[str, Any]:
        with translate_errors("DescribeExport", export_arn):
            described = self.dynamodb.describe_export(ExportArn=export_arn)["ExportDescription"]
        return _progress(described, polls=polls + 1)

    def record(self, request: ExportRequest, plan: dict[str, Any], export: dict[str, Any] | None) -> dict[str, Any]:
        """Write the completed export to the ledger (the next incremental one starts at its end) and report it."""
        report: dict[str, Any] = {
            "table": request.table,
            "table_arn": plan["table_arn"],
            "window": plan["window"],
            "format": request.format,
        }
        earlier: list[dict[str, Any]] = plan.get("earlier", [])
        if export is None:
            return report | {"status": "SKIPPED", "export_type": "NONE", "exports": earlier, "more": False}
        _confirm_window(plan["window"], export)
        location = ExportLocation(plan["bucket"], plan["s3_prefix"], plan["bucket_owner"])
        entry = report | {
            "status": "SUCCEEDED",
            "export_type": plan["window"]["export_type"],
            "export_arn": export["arn"],
            "s3": f"s3://{location.bucket}/{location.prefix}/",
            "data": f"s3://{location.bucket}/{data_folder(self.ledger.s3, location, export.get('manifest'))}",
            "items": export["items"],
            "bytes": export["bytes"],
            "previous_export": plan.get("last_export"),
            "window_confirmed": export.get("window") is not None,  # by DescribeExport; moto reports no window
        }
        entry["ledger"] = f"s3://{location.bucket}/{self.ledger.record(entry)}"
        exports = [*earlier, summary(entry)]
        return entry | {
            "exports": exports,
            "items": sum(one["items"] for one in exports),  # the run's totals; each export's are in `exports`
            "bytes": sum(one["bytes"] for one in exports),
            "more": bool(plan["window"].get("more")),
        }


def _confirm_window(planned: dict[str, Any], export: dict[str, Any]) -> None:
    """The ledger is the chain's memory: it records a window only when DynamoDB exported exactly that window."""
    reported = export.get("window")
    if reported and (reported["start"], reported["end"]) != (planned["start"], planned["end"]):
        raise VerificationFailed(
            f"export {export['arn']}: DynamoDB exported {reported['start'] or 'the table'} to {reported['end']}, "
            f"the plan was {planned['start'] or 'the table'} to {planned['end']}; not recorded in the ledger, so the "
            "next run exports again from the last recorded end"
        )


def _export_actions(request: ExportRequest, window: ExportWindow, plan: dict[str, Any]) -> list[str]:
    """What the run will do, in words: a dry run's whole output, and the plan's record of its decision."""
    table = request.table
    if window.export_type == "NONE":
        return [f"export nothing: {window.reason}"]
    if window.export_type == "FULL":
        what = f"FULL export of {table} as of {iso(window.end)} ({window.reason})"
    else:
        what = f"INCREMENTAL export of {table} from {iso(window.start)} to {iso(window.end)} ({window.reason})"
    actions = [what, f"write {request.format} to s3://{plan['bucket']}/{plan['s3_prefix']}/"]
    if window.more:
        actions.append("then the next windows, one after another, until the run has caught up")
    actions.append(f"record each export in s3://{plan['bucket']}/{plan['prefix']}/{LEDGER_FOLDER}/{table}/")
    return actions


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """One export of a run, as the run's report lists it."""
    return {key: report[key] for key in ("export_arn", "export_type", "window", "items", "bytes", "data")}


def data_folder(s3: Client, location: ExportLocation, manifest: str | None = None) -> str:
    """An export's `AWSDynamoDB/<export id>/data/` folder: beside its manifest when DynamoDB names one, else the single
    such folder under its prefix (more than one is ambiguous)."""
    if manifest:
        return manifest.rsplit("/", 1)[0] + "/data/"
    folders: set[str] = set()
    prefix = f"{location.prefix}/" if location.prefix else ""
    where = f"s3://{location.bucket}/{prefix}"
    with translate_errors("ListObjectsV2", where):
        pages = s3.get_paginator("list_objects_v2").paginate(Prefix=prefix, **location.params())
        for page in pages:
            for obj in page.get("Contents", []):
                head, found, _ = obj["Key"].partition("/data/")
                if found and "/AWSDynamoDB/" in f"/{head}":
                    folders.add(head + "/data/")
    if len(folders) != 1:
        what = "no export data" if not folders else f"{len(folders)} exports ({', '.join(sorted(folders))})"
        raise InvalidInput(f"prefix: {where} holds {what}; name the folder of one export")
    return folders.pop()


def _progress(described: dict[str, Any], polls: int) -> dict[str, Any]:
    failure = None
    if described.get("ExportStatus") == "FAILED":
        failure = f"{described.get('FailureCode') or 'ExportFailed'}: {described.get('FailureMessage') or 'no reason'}"
    return {
        "arn": described["ExportArn"],
        "status": described["ExportStatus"],
        "polls": polls,
        "wait_seconds": backoff(polls, first=5, cap=60),
        "items": int(described.get("ItemCount") or 0),
        "bytes": int(described.get("BilledSizeBytes") or described.get("ExportSizeBytes") or 0),
        "manifest": described.get("ExportManifest"),
        "window": _reported_window(described),
        "failure": failure,
    }


def _reported_window(described: dict[str, Any]) -> dict[str, str | None] | None:
    """The window DescribeExport says was exported (DynamoDB reports it; moto does not)."""
    incremental = described.get("IncrementalExportSpecification") or {}
    if incremental.get("ExportToTime"):
        return {
            "start": iso(as_utc(incremental.get("ExportFromTime"))),
            "end": iso(as_utc(incremental["ExportToTime"])),
        }
    if described.get("ExportTime"):
        return {"start": None, "end": iso(as_utc(described["ExportTime"]))}
    return None
