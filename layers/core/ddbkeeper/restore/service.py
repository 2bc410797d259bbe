"""The restore workflow's steps: plan, start, wait until ACTIVE, re-apply the settings a restore drops, verify. One
method per Task of statemachines/restore.asl.json.

RestoreTableFromBackup and RestoreTableToPointInTime bring back keys, indexes, capacity and SSE, but not TTL, PITR,
tags, streams or deletion protection; ImportTable builds the table from the request. `plan` reads what the source had
(the settings recorded with the backup or else the live source table, the backup's own record) and the overrides,
and decides all of it before anything is created; `finalize` applies it one change at a time, as DynamoDB takes one
table update at a time, the first being the stack's ddbkeeper:managed-by tag (the stack may change only tables
carrying it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.aws import Account, AccountAccess, SessionFactory, domain_error, error_code, translate_errors
from ddbkeeper.clock import backoff, iso
from ddbkeeper.errors import TableNotFound, TargetExists
from ddbkeeper.models import Task, parse_settings
from ddbkeeper.recovery import count_check, restore_state
from ddbkeeper.restore.models import (
    ImportCounts,
    PlannedRestore,
    RestorePlan,
    RestoreProgress,
    RestoreReport,
    RestoreRequest,
    RestoreSettings,
    SettingsProgress,
    Verification,
)
from ddbkeeper.restore.sources import Source, source_of
from ddbkeeper.restore.target import (
    MANAGED_BY,
    MARK,
    actions,
    changes,
    check_import,
    given,
    managed,
    wanted_settings,
)
from ddbkeeper.settings import SETTINGS, SettingsRecords, TableSettings, settings_of
from ddbkeeper.tables import TableSide, describe, summarize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.literals import StreamViewTypeType, TableClassType
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

logger = Logger(child=True)

_EXISTS = {"TableAlreadyExistsException", "ResourceInUseException"}
_IMPORT_ENDED = ("FAILED", "CANCELLED", "CANCELLING")
COUNT_SEGMENTS = 4  # Verify Restore counts the new table with a parallel Scan of Select=COUNT
TAG_SETTLE_SECONDS = 3  # after the stack's tag: DynamoDB's tags are eventually consistent (a few seconds)


class RestoreService:
    """Restores one new table from the request's source, in the target's account and region."""

    def __init__(
        self,
        task: Task[RestoreRequest],
        table: TableSide,
        source: Source,
        *,
        stack: str = "ddbkeeper",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.request = task.request
        self.execution = task.execution
        self.table = table  # the new table: created, described and updated through its account, counted by scans
        self.source = source  # where it comes from: a backup, a point in time, an export
        self.stack = stack  # the stack's name: the new table's ddbkeeper:managed-by tag
        self._clock = clock

    @classmethod
    def for_task(cls, task: Task[RestoreRequest], env: Mapping[str, str]) -> RestoreService:
        """The service for one step: the new table through the target's role, the source table in its own region of
        the same account, the export's folder and the settings records with the function's own access. A region the
        stack's policies do not cover is refused before anything is reached."""
        settings = parse_settings(RestoreSettings, env)
        settings.check_region("source.region", task.request.source.region)
        settings.check_region("target.region", task.request.target.region)
        factory = SessionFactory(session_name=task.execution.session_name())
        request = task.request
        stack = Account(factory, AccountAccess())
        target = Account(factory, request.target.access())
        records = SettingsRecords(stack, settings.SETTINGS_BUCKET) if settings.SETTINGS_BUCKET else None
        source = source_of(
            request, target, source=target.in_region(request.source.region), stack=stack, records=records
        )
        return cls(task, TableSide(target, request.target.table), source, stack=settings.STACK_NAME)

    @property
    def _name(self) -> str:
        return self.request.target.table

    # --- Plan Restore ----------------------------------------------------------------------------------------------

    def plan(self) -> PlannedRestore:
        """Check the source and the target and decide everything; nothing is created or changed here."""
        if describe(self.table.control, self._name) is not None:
            raise TargetExists(f"target.table: {self._name} exists; a restore always creates a new table")
        origin = self.source.plan()
        settings = managed(wanted_settings(origin.recorded, self.request.target), self.stack)
        plan = RestorePlan(
            kind=self.source.kind,
            source_arn=origin.source_arn,
            point_in_time=origin.point_in_time,
            expected_items=origin.expected_items,
            expected_is_exact=origin.expected_is_exact,
            settings=settings,
            settings_from=origin.settings_from,
            params=origin.params,
            dry_run=self.request.dry_run,
            actions=actions(origin.action, origin.params, settings, origin.expected_items, self.request.verify),
        )
        logger.info("restore planned", extra={"kind": plan.kind, "source": plan.source_arn})
        return PlannedRestore(request=self.request, execution=self.execution, plan=plan)

    # --- Start Restore, Check Restore ------------------------------------------------------------------------------

    def start(self, plan: RestorePlan) -> RestoreProgress:
        """Start the restore; a retried step finds the table it already started restoring instead of failing."""
        import_arn = None
        try:
            import_arn = self.source.start(dict(plan.params), self.execution)
        except ClientError as error:
            if error_code(error) not in _EXISTS:
                raise domain_error(error, f"Restore ({plan.kind})", self._name) from error
            if not self.source.adopts(describe(self.table.control, self._name), plan, self.execution):
                raise TargetExists(f"target.table: {self._name} was created by someone else meanwhile") from None
            logger.info("restore already started by an earlier attempt", extra={"table": self._name})
        logger.info("restore started", extra={"table": self._name, "kind": plan.kind})
        return RestoreProgress(
            status="CREATING", polls=0, import_arn=import_arn, wait_seconds=backoff(0, first=2, cap=30)
        )

    def check(self, progress: RestoreProgress) -> RestoreProgress:
        """Where the restore stands: CREATING, ACTIVE (table and indexes ready, import done) or FAILED."""
        polls = progress.polls + 1
        result = progress.model_copy(update={"polls": polls, "wait_seconds": backoff(polls, first=2, cap=30)})
        if progress.import_arn:
            with translate_errors("DescribeImport", progress.import_arn):
                imported = self.table.control.describe_import(ImportArn=progress.import_arn)["ImportTableDescription"]
            status = imported["ImportStatus"]
            counts = ImportCounts(
                items=int(imported.get("ImportedItemCount") or 0),
                processed=int(imported.get("ProcessedItemCount") or 0),
                errors=int(imported.get("ErrorCount") or 0),
            )
            result = result.model_copy(update={"imported": counts})
            if status in _IMPORT_ENDED:
                failure = f"{imported.get('FailureCode') or status}: {imported.get('FailureMessage') or 'no reason'}"
                return result.model_copy(update={"status": "FAILED", "failure": failure})
            if status != "COMPLETED":
                return result.model_copy(update={"status": "CREATING"})
        table = describe(self.table.control, self._name)
        if table is None:
            return result.model_copy(update={"status": "CREATING"})
        return result.model_copy(update={"status": restore_state(table), "table_arn": table["TableArn"]})

    # --- Re-apply Settings -----------------------------------------------------------------------------------------

    def finalize(self, plan: RestorePlan, progress: SettingsProgress) -> SettingsProgress:
        """Make the next change the table still needs; `pending` says how many remain (0: done).

        The first is always the stack's tag (IAM lets the stack change only tables carrying it); the next turn waits a
        few seconds after it, as DynamoDB's tags are eventually consistent, and tags again until the tag shows.
        """
        table = describe(self.table.control, self._name)
        if table is None:
            raise TableNotFound(f"target.table: {self._name} disappeared during the restore")
        wanted = managed(plan.settings, self.stack)
        lacking = changes(wanted, settings_of(self.table.control, table), self.stack)
        ready = table["TableStatus"] == "ACTIVE"
        wait = 0 if ready else backoff(progress.polls, first=5, cap=60)  # ACTIVE: the next change at once
        if lacking and ready:
            self._apply(table, lacking[0], wanted)
            if lacking[0] == MARK:
                wait = TAG_SETTLE_SECONDS
            lacking = lacking[1:]
        result = SettingsProgress(
            pending=len(lacking),
            polls=progress.polls + 1,
            wait_seconds=wait,
            applied=[setting for setting in (MARK, *SETTINGS) if setting not in lacking],
            summary=f"{self._name} still lacks {', '.join(lacking)}" if lacking else f"{self._name} has every setting",
        )
        logger.info("settings re-applied", extra=result.model_dump())
        return result

    def _apply(self, table: TableDescriptionTypeDef, setting: str, wanted: TableSettings) -> None:
        name = table["TableName"]
        client = self.table.control
        logger.info("re-applying a setting the restore dropped", extra={"table": name, "setting": setting})
        with translate_errors(f"Apply {setting}", name):
            if setting == MARK:
                client.tag_resource(ResourceArn=table["TableArn"], Tags=[{"Key": MANAGED_BY, "Value": self.stack}])
            elif setting == "table_class":
                client.update_table(TableName=name, TableClass=cast("TableClassType", wanted.table_class))
            elif setting == "stream":
                view = cast("StreamViewTypeType", wanted.stream)
                client.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
            elif setting == "ttl_attribute":
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": str(wanted.ttl_attribute)},
                )
            elif setting == "pitr":
                client.update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )
            elif setting == "tags":
                client.tag_resource(
                    ResourceArn=table["TableArn"],
                    Tags=[{"Key": key, "Value": value} for key, value in sorted(wanted.tags.items())],
                )
            else:
                client.update_table(TableName=name, DeletionProtectionEnabled=True)

    # --- Verify Restore --------------------------------------------------------------------------------------------

    def verify(self, plan: RestorePlan, progress: RestoreProgress) -> RestoreReport:
        """Count the new table and hold it against the count the source recorded; report what was restored."""
        table = describe(self.table.control, self._name) or {}
        verification = Verification(verify=self.request.verify)
        if self.request.verify == "count":
            items = summarize(self.table, segments=COUNT_SEGMENTS, checksum=False).items
            check_import(self._name, items, progress.imported)
            result = count_check(self._name, items, plan.expected_items, plan.expected_is_exact)
            verification = Verification(verify="count", items=items, expected=plan.expected_items, result=result)
        now = self._clock()
        report = RestoreReport(
            status="SUCCEEDED",
            kind=plan.kind,
            source=plan.source_arn,
            point_in_time=plan.point_in_time,
            table=self._name,
            table_arn=table.get("TableArn"),
            items=verification.items if verification.items is not None else table.get("ItemCount"),
            verification=verification,
            settings=given(plan.settings),
            settings_from=plan.settings_from,
            started_at=str(iso(self.execution.started_at)),
            finished_at=str(iso(now)),
            duration_seconds=round((now - self.execution.started_at).total_seconds(), 1),
        )
        logger.info("restore verified", extra={"items": report.items, "verification": verification.model_dump()})
        return report
