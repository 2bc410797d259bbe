"""The export workflow's steps: check PITR (turning it on if asked), choose the window from the ledger, export, wait,
record. One method per Task of statemachines/export.asl.json.

Every export gets a folder of its own, ``<prefix>/<window end>-full|incremental/``, so what lies under it belongs to
that one export and can be imported without guessing. A dry run plans and changes nothing, not even PITR.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from ddbkeeper.aws import Account, AccountAccess, SessionFactory, translate_errors
from ddbkeeper.clock import as_utc, backoff, iso, stamp
from ddbkeeper.errors import AwsError, InvalidInput, TableNotFound, VerificationFailed
from ddbkeeper.export.ledger import ExportLedger
from ddbkeeper.export.models import (
    ExportPlan,
    ExportPlanned,
    ExportProgress,
    ExportRecord,
    ExportReport,
    ExportSettings,
    ExportSummary,
    ExportTask,
    ExportWindow,
    ReportedWindow,
)
from ddbkeeper.export.windows import choose_window
from ddbkeeper.export_files import ExportLocation, data_folder
from ddbkeeper.models import Execution, parse_settings
from ddbkeeper.tables import describe, pitr_description

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import ExportDescriptionTypeDef, PointInTimeRecoveryDescriptionTypeDef

logger = Logger(child=True)


class ExportService:
    """The steps of one export run: one table (its DynamoDB client) and one ledger (its S3 client)."""

    def __init__(
        self,
        task: ExportTask,
        dynamodb: DynamoDBClient,
        ledger: ExportLedger,
        *,
        kms_key: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.request = task.request
        self.execution = task.execution
        self.dynamodb = dynamodb  # the table's account and region (the request's role, if any)
        self.ledger = ledger  # the stack's access: the bucket and its ledger stay with the stack
        self.kms_key = kms_key  # the stack's key, for a request that names none
        self.clock = clock

    @classmethod
    def for_task(cls, task: ExportTask, env: Mapping[str, str]) -> ExportService:
        """The table is reached through the request's role; the bucket and its ledger with the function's own access,
        in the request's region. The defaults are the stack's bucket and KMS key (EXPORT_BUCKET, EXPORT_KMS_KEY), used
        when the request names none."""
        settings = parse_settings(ExportSettings, env)
        request = task.request
        settings.check_region("region", request.region)
        bucket = request.bucket or settings.EXPORT_BUCKET
        if not bucket:
            raise InvalidInput("bucket: no bucket given and the stack has no export bucket (EXPORT_BUCKET)")
        factory = SessionFactory(session_name=task.execution.session_name())
        prefix = request.key_prefix(stack_bucket=bucket == settings.EXPORT_BUCKET)
        location = ExportLocation(bucket, prefix, request.bucket_owner)
        ledger = ExportLedger(Account(factory, AccountAccess(region=request.region)).s3, location, request.table)
        return cls(task, Account(factory, request.access()).dynamodb, ledger, kms_key=settings.EXPORT_KMS_KEY)

    # --- Prepare Export, Prepare Again, Prepare Next Window --------------------------------------------------------

    def prepare(self, previous: ExportPlan | None = None, earlier: list[ExportSummary] | None = None) -> ExportPlanned:
        """Check the table and its PITR (turning it on when asked), then choose the window from the ledger.

        Nothing is exported here. While PITR is turning on the plan says so and the state machine asks again with it
        (`previous`). `earlier` lists the exports this run already made (catching up a long gap window by window).
        """
        table = self.request.table
        described = describe(self.dynamodb, table)
        if described is None:
            raise TableNotFound(f"table: {table} does not exist")
        pitr, actions = self._pitr_on()
        plan = ExportPlan(
            table_arn=described["TableArn"],
            bucket=self.ledger.location.bucket,
            bucket_owner=self.ledger.location.owner,
            prefix=self.ledger.location.prefix,
            pitr=pitr.get("PointInTimeRecoveryStatus", "ENABLING"),
            polls=(previous.polls if previous else 0) + 1,
            earlier=earlier or [],
            dry_run=self.request.dry_run,
            actions=actions,
        )
        if plan.pitr == "ENABLED":
            plan = self._choose(plan, pitr)
        logger.info(
            "export planned", extra={"pitr": plan.pitr, "window": plan.window and plan.window.model_dump(mode="json")}
        )
        return ExportPlanned(request=self.request, execution=self.execution, plan=plan)

    def _pitr_on(self) -> tuple[PointInTimeRecoveryDescriptionTypeDef, list[str]]:
        """The table's PITR, turned on when it is off and the request allows it (a dry run only says it would)."""
        table = self.request.table
        try:
            pitr = pitr_description(self.dynamodb, table)
        except AwsError as error:
            raise InvalidInput(f"table: cannot read {table}'s point-in-time recovery status: {error}") from error
        if pitr.get("PointInTimeRecoveryStatus") != "DISABLED":
            return pitr, []
        if not self.request.enable_pitr:
            raise InvalidInput(
                f"enable_pitr: {table} has point-in-time recovery off and exports need it; "
                "pass enable_pitr true to turn it on"
            )
        actions = [f"turn point-in-time recovery on for {table}"]
        if self.request.dry_run:  # plan as if it were on from the start of the run
            return {"PointInTimeRecoveryStatus": "ENABLED"}, actions
        with translate_errors("UpdateContinuousBackups", table):
            pitr = self.dynamodb.update_continuous_backups(
                TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        logger.info("point-in-time recovery turned on", extra={"table": table})
        return pitr, actions

    def _choose(self, plan: ExportPlan, pitr: PointInTimeRecoveryDescriptionTypeDef) -> ExportPlan:
        """The window, from the ledger's newest entry, and where its export goes."""
        request = self.request
        # The window ends when the execution started, or at PITR's latest restorable time if that is earlier (it trails
        # the present by about five minutes, and DynamoDB exports from within the PITR window).
        started = self.execution.started_at.astimezone(UTC).replace(microsecond=0)
        earliest = as_utc(pitr.get("EarliestRestorableDateTime")) or started
        latest = as_utc(pitr.get("LatestRestorableDateTime")) or started
        if request.export_time and request.export_time > latest:
            raise InvalidInput(
                f"export_time: {iso(request.export_time)} is after the table's latest restorable time {iso(latest)}"
            )
        end = request.export_time or max(min(started, latest), earliest)
        last = self.ledger.last(plan.table_arn)
        window = choose_window(request.export_type, end, last.window.end if last else None, earliest, self.clock())
        s3_prefix = f"{plan.prefix}/{stamp(window.end)}-{window.export_type.lower()}"
        return plan.model_copy(
            update={
                "window": window,
                "s3_prefix": s3_prefix,
                "client_token": client_token(self.execution, plan.table_arn, window.end),
                "kms_key_id": request.kms_key_id or self.kms_key,
                "last_export": last.export_arn if last else None,
                "actions": plan.actions + self._actions(window, s3_prefix),
            }
        )

    def _actions(self, window: ExportWindow, s3_prefix: str) -> list[str]:
        """What the run will do, in words: a dry run's whole output, and the plan's record of its decision."""
        table = self.request.table
        if window.export_type == "NONE":
            return [f"export nothing: {window.reason}"]
        if window.export_type == "FULL":
            what = f"FULL export of {table} as of {iso(window.end)} ({window.reason})"
        else:
            what = f"INCREMENTAL export of {table} from {iso(window.start)} to {iso(window.end)} ({window.reason})"
        actions = [what, f"write {self.request.format} to {self.ledger.location.url(s3_prefix)}/"]
        if window.more:
            actions.append("then the next windows, one after another, until the run has caught up")
        actions.append(f"record each export in {self.ledger.location.url(self.ledger.folder)}")
        return actions

    # --- Start Export ----------------------------------------------------------------------------------------------

    def start(self, plan: ExportPlan) -> ExportProgress:
        """Start the planned export; its ClientToken makes a retried start hand back the export already started."""
        window, s3_prefix = _planned(plan)
        params: dict[str, Any] = {
            "TableArn": plan.table_arn,
            "S3Bucket": plan.bucket,
            "S3Prefix": s3_prefix,
            "ExportFormat": self.request.format,
            "ClientToken": plan.client_token,
        }
        if plan.bucket_owner:
            params["S3BucketOwner"] = plan.bucket_owner
        if plan.kms_key_id:
            params |= {"S3SseAlgorithm": "KMS", "S3SseKmsKeyId": plan.kms_key_id}
        else:
            params["S3SseAlgorithm"] = "AES256"
        if window.export_type == "FULL":
            params |= {"ExportType": "FULL_EXPORT", "ExportTime": window.end}
        else:
            params |= {
                "ExportType": "INCREMENTAL_EXPORT",
                "IncrementalExportSpecification": {
                    "ExportFromTime": window.start,
                    "ExportToTime": window.end,
                    "ExportViewType": self.request.view_type,
                },
            }
        with translate_errors("ExportTableToPointInTime", self.request.table):
            described = self.dynamodb.export_table_to_point_in_time(**params)["ExportDescription"]
        logger.info(
            "export started", extra={"export_arn": described["ExportArn"], "window": window.model_dump(mode="json")}
        )
        return _progress(described, polls=0)

    # --- Check Export ----------------------------------------------------------------------------------------------

    def check(self, export: ExportProgress) -> ExportProgress:
        """Where the export stands now (the workflow polls until it is done)."""
        with translate_errors("DescribeExport", export.arn):
            described = self.dynamodb.describe_export(ExportArn=export.arn)["ExportDescription"]
        return _progress(described, polls=export.polls + 1)

    # --- Record Export ---------------------------------------------------------------------------------------------

    def record(self, plan: ExportPlan, export: ExportProgress | None) -> ExportReport:
        """Write the completed export to the ledger (the next incremental one starts at its end) and report it.

        `export` is None when the window was too short to export: the report says SKIPPED and the ledger is left as is.
        """
        window, s3_prefix = _planned(plan)
        if export is None:
            report = ExportReport(
                table=self.request.table,
                table_arn=plan.table_arn,
                window=window,
                format=self.request.format,
                status="SKIPPED",
                export_type="NONE",
                exports=plan.earlier,
            )
            logger.info("export recorded", extra={"status": report.status, "window": window.model_dump(mode="json")})
            return report
        _confirm_window(window, export)
        location = ExportLocation(plan.bucket, s3_prefix, plan.bucket_owner)
        record = ExportRecord(
            table=self.request.table,
            table_arn=plan.table_arn,
            window=window,
            format=self.request.format,
            status="SUCCEEDED",
            export_type=window.export_type,
            export_arn=export.arn,
            s3=location.url(f"{location.prefix}/"),
            data=location.url(data_folder(self.ledger.s3, location, export.manifest)),
            manifest=location.url(export.manifest) if export.manifest else None,
            items=export.items,
            bytes=export.bytes,
            previous_export=plan.last_export,
            window_confirmed=export.window is not None,  # by DescribeExport; moto reports no window
        )
        ledger = self.ledger.record(record)
        exports = [*plan.earlier, record.summary()]
        logger.info("export recorded", extra={"status": record.status, "window": window.model_dump(mode="json")})
        return ExportReport.model_validate(
            record.model_dump()
            | {
                "ledger": ledger,
                "exports": exports,
                "items": sum(one.items for one in exports),  # the run's totals; each export's are in `exports`
                "bytes": sum(one.bytes for one in exports),
                "more": window.more,
            }
        )


def client_token(execution: Execution, table_arn: str, end: datetime) -> str:
    """The same for every attempt of one execution's export of one window: DynamoDB starts it once."""
    return hashlib.sha256(f"{execution.name}|{table_arn}|{stamp(end)}".encode()).hexdigest()[:40]


def _planned(plan: ExportPlan) -> tuple[ExportWindow, str]:
    """The plan's window and the export's folder: the state machine starts and records an export only once the plan
    has them."""
    if plan.window is None or plan.s3_prefix is None:
        raise InvalidInput("plan: no window chosen yet (point-in-time recovery is not ENABLED)")
    return plan.window, plan.s3_prefix


def _confirm_window(planned: ExportWindow, export: ExportProgress) -> None:
    """The ledger is the chain's memory: it records a window only when DynamoDB exported exactly that window."""
    reported = export.window
    if reported and (reported.start, reported.end) != (planned.start, planned.end):
        raise VerificationFailed(
            f"export {export.arn}: DynamoDB exported {iso(reported.start) or 'the table'} to {iso(reported.end)}, "
            f"the plan was {iso(planned.start) or 'the table'} to {iso(planned.end)}; not recorded in the ledger, so "
            "the next run exports again from the last recorded end"
        )


def _progress(described: ExportDescriptionTypeDef, polls: int) -> ExportProgress:
    failure = None
    if described.get("ExportStatus") == "FAILED":
        failure = f"{described.get('FailureCode') or 'ExportFailed'}: {described.get('FailureMessage') or 'no reason'}"
    return ExportProgress(
        arn=described["ExportArn"],
        status=described["ExportStatus"],
        polls=polls,
        wait_seconds=backoff(polls, first=5, cap=60),
        items=described.get("ItemCount") or 0,
        bytes=described.get("BilledSizeBytes") or 0,
        manifest=described.get("ExportManifest"),
        window=_reported_window(described),
        failure=failure,
    )


def _reported_window(described: ExportDescriptionTypeDef) -> ReportedWindow | None:
    """The window DescribeExport says was exported (DynamoDB reports it; moto does not)."""
    incremental = described.get("IncrementalExportSpecification") or {}
    end = as_utc(incremental.get("ExportToTime"))
    if end is not None:
        return ReportedWindow(start=as_utc(incremental.get("ExportFromTime")), end=end)
    exported = as_utc(described.get("ExportTime"))
    return ReportedWindow(end=exported) if exported is not None else None
