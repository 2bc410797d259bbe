"""The backup workflow's steps: resolve the tables, back each one up (and record its settings), wait for it, enforce
retention, report. One method per Task of statemachines/backup.asl.json.

A dry run changes nothing: it resolves the tables, names the backup each would get, and reports what retention would
delete once that backup exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ddbkeeper.aws import Account, AccountAccess, SessionFactory, error_code, translate_errors
from ddbkeeper.backup.models import (
    BackupReport,
    BackupRequest,
    BackupSettings,
    BackupState,
    PruneOutcome,
    ResolvedTables,
    TableResult,
)
from ddbkeeper.backup.report import backup_report
from ddbkeeper.backup.retention import AVAILABLE, BackupInfo
from ddbkeeper.backup_names import backup_name, own_backup_pattern
from ddbkeeper.errors import DdbkeeperError, TableNotFound
from ddbkeeper.models import Task, parse_settings
from ddbkeeper.pacing import RateLimiter
from ddbkeeper.selection import select_tables
from ddbkeeper.settings import SettingsRecords, settings_of
from ddbkeeper.tables import describe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import BackupDetailsTypeDef, BackupSummaryTypeDef

logger = Logger(child=True)

DELETE_ATTEMPTS = 6


class BackupService:
    """Creates, inspects and prunes the on-demand backups of tables in one account and region."""

    def __init__(
        self,
        task: Task[BackupRequest],
        account: Account,
        records: SettingsRecords | None = None,
        *,
        settings: BackupSettings | None = None,
        retention_account: Account | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.request = task.request
        self.execution = task.execution
        self.settings = settings or BackupSettings()
        self.settings.check_region("region", self.request.region)
        self.prefix = self.settings.prefix(self.request.backup_name_prefix)
        self.account = account  # the tables' account and region (the request's backup role, if any)
        self.retention_account = retention_account or account  # the same, through the role that may delete backups
        self.records = records  # each backup's record in the stack's bucket: its settings, and proof we made it
        self._sleep = sleep
        self._clock = clock
        self._delete_limiter = RateLimiter(self.settings.DELETE_BACKUP_RATE, sleep=sleep)

    @classmethod
    def for_task(cls, task: Task[BackupRequest], env: Mapping[str, str]) -> BackupService:
        """The service for one step: the tables through the request's roles, the records with the function's own
        credentials."""
        settings = parse_settings(BackupSettings, env)
        factory = SessionFactory(session_name=task.execution.session_name())
        records = None
        if settings.SETTINGS_BUCKET:
            records = SettingsRecords(Account(factory, AccountAccess()), settings.SETTINGS_BUCKET)
        return cls(
            task,
            Account(factory, task.request.access()),
            records,
            settings=settings,
            retention_account=Account(factory, task.request.retention_access()),
        )

    # --- Resolve Tables --------------------------------------------------------------------------------------------

    def resolve_tables(self) -> ResolvedTables:
        """The tables the run covers: those named plus those the selector matches, in a stable order without repeats.

        Named tables are not checked here, so one missing table fails alone in its Map branch; a selector that matches
        nothing is an error, since a schedule that silently backs up nothing protects nothing. Names too long for
        DynamoDB are refused before any backup starts.
        """
        tables = select_tables(self.account.dynamodb, self.request.tables, self.request.selector, self.account.region)
        for table in tables:
            self._name(table)
        logger.info("tables resolved", extra={"tables": tables})
        return ResolvedTables(request=self.request, execution=self.execution, tables=tables)

    # --- Create Backup ---------------------------------------------------------------------------------------------

    def create_backup(self, table: str) -> BackupState:
        """Start the table's backup (or find the one an earlier attempt of this step started) and record its settings.

        On a dry run nothing is created: the result names the backup a real run would start, status PLANNED.
        """
        name = self._name(table)
        if self.request.dry_run:
            if describe(self.account.dynamodb, table) is None:
                raise TableNotFound(f"CreateBackup {table}: no such table")
            return BackupState(arn=None, name=name, status="PLANNED", created_at=self.execution.started_at.isoformat())
        existing = self._find(table, name)
        if existing is not None:
            logger.info("backup already started by an earlier attempt", extra={"table": table, "backup_arn": existing})
            state = self._describe(existing).model_copy(update={"reused": True})
        else:
            with translate_errors("CreateBackup", table):
                details = self.account.dynamodb.create_backup(TableName=table, BackupName=name)["BackupDetails"]
            logger.info("backup started", extra={"table": table, "backup_arn": details["BackupArn"]})
            state = _state(details)
        return self._record_settings(table, state)

    def _record_settings(self, table: str, state: BackupState) -> BackupState:
        """Record the table's settings beside its backup: a restore re-applies them even once the table is gone.

        The backup is what matters: a record that cannot be written is logged and named in the report, not fatal.
        """
        if self.records is None or state.arn is None:
            return state
        try:
            description = describe(self.account.dynamodb, table)
            if description is None:
                raise TableNotFound(f"{table} disappeared after its backup started")
            where = self.records.save(state.arn, description, settings_of(self.account.dynamodb, description))
        except DdbkeeperError as error:
            logger.warning("table settings not recorded", extra={"table": table, "error": str(error)})
            return state.model_copy(update={"settings_error": str(error)})
        return state.model_copy(update={"settings": where})

    # --- Check Backup ----------------------------------------------------------------------------------------------

    def check_backup(self, backup: BackupState) -> BackupState:
        """Where the backup stands now (the workflow polls until AVAILABLE)."""
        if backup.arn is None:  # a dry run's planned backup: nothing to poll
            return backup
        now = self._describe(backup.arn)
        return backup.model_copy(update=now.model_dump(include={"status", "size_bytes"}) | {"polls": backup.polls + 1})

    def _describe(self, arn: str) -> BackupState:
        with translate_errors("DescribeBackup", arn):
            details = self.account.dynamodb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
        return _state(details)

    # --- Enforce Retention -----------------------------------------------------------------------------------------

    def enforce_retention(self, table: str, backup: BackupState) -> PruneOutcome:
        """Delete this service's backups of `table` that no retention rule keeps (none at all on a dry run).

        Without a policy nothing is deleted: retention is opt-in per request. Only backups this service provably made
        take part: named `<stack prefix>-<table>-<stamp>` AND with the record Create Backup wrote beside them (which
        only its role may write); a backup merely named like ours is kept and reported as unproven. A dry run decides
        as a real run would once the backup it planned exists.
        """
        named = self.own_backups(table)
        proven = self.records.recorded([b.arn for b in named]) if self.records else set()
        own = [b for b in named if b.arn in proven]
        unproven = [b.name for b in named if b.arn not in proven]
        dry_run = self.request.dry_run
        policy = self.request.retention.policy() if self.request.retention else None
        if dry_run and backup.status == "PLANNED":
            own.append(BackupInfo(arn=f"planned:{backup.name}", name=backup.name, created=self.execution.started_at))
        if policy is None:
            return PruneOutcome(table=table, kept=len(own), unproven=unproven, dry_run=dry_run)
        decision = policy.decide(own, self._clock())
        deleted: list[str] = []
        gone: list[str] = []
        if not dry_run:
            for doomed in decision.delete:
                if self.records is None or self.records.record(doomed.arn) is None:  # its record is not what it was
                    unproven.append(doomed.name)
                    continue
                (deleted if self._delete(doomed.arn) else gone).append(doomed.name)
        outcome = PruneOutcome(
            table=table,
            kept=len(decision.keep),
            deleted=deleted,
            would_delete=[doomed.name for doomed in decision.delete] if dry_run else [],
            deferred=[later.name for later in decision.deferred],
            already_gone=gone,
            unproven=unproven,
            dry_run=dry_run,
        )
        logger.info("retention enforced", extra=outcome.model_dump())
        return outcome

    def own_backups(self, table: str) -> list[BackupInfo]:
        """The backups of `table` named as this service names them: `<stack prefix>-<table>-<stamp>`."""
        pattern = own_backup_pattern(self.prefix, table)
        return [
            BackupInfo(
                arn=s["BackupArn"],
                name=s["BackupName"],
                created=s["BackupCreationDateTime"].astimezone(UTC),
                status=s.get("BackupStatus", AVAILABLE),
                size_bytes=s.get("BackupSizeBytes"),
            )
            for s in self.backups(table, self.retention_account)
            if pattern.match(s.get("BackupName", ""))
        ]

    def backups(self, table: str, account: Account | None = None) -> list[BackupSummaryTypeDef]:
        """Every user backup of `table`, filtered again on the client: some servers ignore the request's filters."""
        summaries: list[BackupSummaryTypeDef] = []
        dynamodb = (account or self.account).dynamodb
        with translate_errors("ListBackups", table):
            for page in dynamodb.get_paginator("list_backups").paginate(TableName=table, BackupType="USER"):
                summaries.extend(page.get("BackupSummaries", []))
        return [s for s in summaries if s.get("TableName") == table and s.get("BackupType", "USER") == "USER"]

    def _delete(self, arn: str) -> bool:
        """Delete one backup, paced and retried; False when it was already gone."""
        for attempt in Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            stop=stop_after_attempt(DELETE_ATTEMPTS),
            sleep=self._sleep,
            reraise=True,
        ):
            with attempt:
                self._delete_limiter.acquire()
                with translate_errors("DeleteBackup", arn):
                    try:
                        self.retention_account.dynamodb.delete_backup(BackupArn=arn)
                    except ClientError as error:
                        if error_code(error) == "BackupNotFoundException":
                            return False  # deleted meanwhile (by a person or an overlapping run): the goal is met
                        raise
        return True

    def _find(self, table: str, name: str) -> str | None:
        for summary in self.backups(table):
            if summary.get("BackupName") == name and summary.get("BackupStatus") != "DELETED":
                return summary["BackupArn"]
        return None

    def _name(self, table: str) -> str:
        return backup_name(self.prefix, table, self.execution.stamp())

    # --- Build Report ----------------------------------------------------------------------------------------------

    def report(self, results: Iterable[TableResult]) -> BackupReport:
        report = backup_report(list(results), dry_run=self.request.dry_run)
        logger.info("backup run finished", extra={"totals": report.totals.model_dump()})
        return report


def _state(details: BackupDetailsTypeDef) -> BackupState:
    return BackupState(
        arn=details["BackupArn"],
        name=details["BackupName"],
        status=details["BackupStatus"],
        size_bytes=details.get("BackupSizeBytes"),
        created_at=details["BackupCreationDateTime"].astimezone(UTC).isoformat(),
    )


def _retryable(error: BaseException) -> bool:
    return isinstance(error, DdbkeeperError) and error.retryable
