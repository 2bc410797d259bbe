"""On-demand backups and their retention, on one account and region's DynamoDB."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ddbkeeper.aws import AccountAccess, Client, SessionFactory, describe, error_code, translate_errors
from ddbkeeper.errors import DdbkeeperError, InvalidInput, TableNotFound
from ddbkeeper.models import BACKUP_NAME_MAX, BackupRequest, Execution, Selector
from ddbkeeper.retention import BackupInfo, RetentionPolicy
from ddbkeeper.table_settings import SettingsRecords, settings_of, tags_of

logger = Logger(child=True)

# DynamoDB accepts DeleteBackup at 10 requests per second per account and region.
DELETE_BACKUP_RATE = 10.0
DELETE_ATTEMPTS = 6


def backup_name(prefix: str, table: str, stamp: str) -> str:
    name = f"{prefix}-{table}-{stamp}"
    if len(name) > BACKUP_NAME_MAX:
        raise InvalidInput(
            f"backup_name_prefix: '{name}' is longer than {BACKUP_NAME_MAX} characters; use a shorter prefix"
        )
    return name


def own_backup_pattern(prefix: str, table: str) -> re.Pattern[str]:
    """Names this service gives its backups of `table`: anything else is never touched by retention."""
    return re.compile(rf"^{re.escape(prefix)}-{re.escape(table)}-\d{{8}}T\d{{9}}Z$")


def resolve_tables(dynamodb: Client, names: Iterable[str], selector: Selector | None, region: str) -> list[str]:
    """The tables a run covers: those named plus those the selector matches, in a stable order without repeats.

    Named tables are not checked here, so one missing table fails alone in its Map branch; a selector that matches
    nothing is an error, since a schedule that silently backs up nothing protects nothing.
    """
    tables = list(dict.fromkeys(names))
    if selector is None:
        return tables
    matched = [name for name in _all_tables(dynamodb) if _selected(dynamodb, name, selector)]
    if not matched:
        raise TableNotFound(f"selector {selector.model_dump(exclude_none=True)} matched no table in {region}")
    return list(dict.fromkeys(tables + matched))


def _all_tables(dynamodb: Client) -> Iterator[str]:
    with translate_errors("ListTables", "*"):
        for page in dynamodb.get_paginator("list_tables").paginate():
            yield from page.get("TableNames", [])


def _selected(dynamodb: Client, name: str, selector: Selector) -> bool:
    if selector.name_prefix is not None and not name.startswith(selector.name_prefix):
        return False
    if selector.tag_key is None:
        return True
    with translate_errors("DescribeTable", name):
        arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    tags = tags_of(dynamodb, arn)
    if selector.tag_key not in tags:
        return False
    return selector.tag_value is None or tags[selector.tag_key] == selector.tag_value


@dataclass(frozen=True)
class BackupState:
    """What the workflow carries about the backup it made."""

    arn: str
    name: str
    status: str
    size_bytes: int | None
    created_at: str
    reused: bool = False
    polls: int = 0
    settings: str | None = None  # where the table's settings were recorded, or why they were not

    @classmethod
    def from_details(
        cls, details: dict[str, Any], reused: bool = False, polls: int = 0, settings: str | None = None
    ) -> BackupState:
        created = details["BackupCreationDateTime"]
        return cls(
            arn=details["BackupArn"],
            name=details["BackupName"],
            status=details["BackupStatus"],
            size_bytes=details.get("BackupSizeBytes"),
            created_at=created.astimezone(UTC).isoformat(),
            reused=reused,
            polls=polls,
            settings=settings,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PruneOutcome:
    table: str
    kept: int
    deleted: tuple[str, ...]
    would_delete: tuple[str, ...]
    deferred: tuple[str, ...]
    already_gone: tuple[str, ...]
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


class RateLimiter:
    """Spaces calls at most `rate` per second (one caller at a time, as in one Lambda)."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def acquire(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


def _retryable(error: BaseException) -> bool:
    return isinstance(error, DdbkeeperError) and error.retryable


def dynamodb_for(request: BackupRequest, execution: Execution) -> Client:
    """The DynamoDB client a backup step acts with: the request's account (through its role) and region."""
    factory = SessionFactory(session_name=f"ddbkeeper-{execution.name}")
    return factory.client(
        "dynamodb", AccountAccess(region=request.region, role_arn=request.role_arn, external_id=request.external_id)
    )


class BackupService:
    """Creates, inspects and prunes the on-demand backups of tables in one account and region."""

    def __init__(
        self,
        dynamodb: Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        delete_rate: float = DELETE_BACKUP_RATE,
    ) -> None:
        self._dynamodb = dynamodb
        self._sleep = sleep
        self._delete_limiter = RateLimiter(delete_rate, sleep=sleep)

    def create(self, table: str, name: str) -> BackupState:
        """Start a backup named `name`, or return the one a previous attempt of this step already started."""
        existing = self._find(table, name)
        if existing is not None:
            logger.info("backup already started by an earlier attempt", extra={"table": table, "backup_arn": existing})
            return self.describe(existing, reused=True)
        with translate_errors("CreateBackup", table):
            details = self._dynamodb.create_backup(TableName=table, BackupName=name)["BackupDetails"]
        logger.info("backup started", extra={"table": table, "backup_arn": details["BackupArn"]})
        return BackupState.from_details(details)

    def describe(self, arn: str, reused: bool = False, polls: int = 0, settings: str | None = None) -> BackupState:
        with translate_errors("DescribeBackup", arn):
            details = self._dynamodb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
        return BackupState.from_details(details, reused=reused, polls=polls, settings=settings)

    def record_settings(self, table: str, state: BackupState, records: SettingsRecords | None) -> BackupState:
        """Record the table's settings beside its backup: a restore re-applies them even once the table is gone.

        The backup is what matters: a record that cannot be written is logged and named in the report, not fatal.
        """
        if records is None:
            return state
        try:
            description = describe(self._dynamodb, table)
            if description is None:
                raise TableNotFound(f"{table} disappeared after its backup started")
            where = records.save(state.arn, description, settings_of(self._dynamodb, description))
        except DdbkeeperError as error:
            logger.warning("table settings not recorded", extra={"table": table, "error": str(error)})
            return replace(state, settings=f"not recorded: {error}")
        return replace(state, settings=where)

    def backups(self, table: str) -> list[dict[str, Any]]:
        """Every user backup of `table`, filtered again on the client: some servers ignore the request's filters."""
        summaries: list[dict[str, Any]] = []
        with translate_errors("ListBackups", table):
            for page in self._dynamodb.get_paginator("list_backups").paginate(TableName=table, BackupType="USER"):
                summaries.extend(page.get("BackupSummaries", []))
        return [s for s in summaries if s.get("TableName") == table and s.get("BackupType", "USER") == "USER"]

    def own_backups(self, table: str, prefix: str) -> list[BackupInfo]:
        pattern = own_backup_pattern(prefix, table)
        return [
            BackupInfo(
                arn=s["BackupArn"],
                name=s["BackupName"],
                created=s["BackupCreationDateTime"].astimezone(UTC),
                status=s.get("BackupStatus", "AVAILABLE"),
                size_bytes=s.get("BackupSizeBytes"),
            )
            for s in self.backups(table)
            if pattern.match(s.get("BackupName", ""))
        ]

    def prune(
        self, table: str, prefix: str, policy: RetentionPolicy | None, now: datetime, dry_run: bool
    ) -> PruneOutcome:
        """Delete this service's backups of `table` that no retention rule keeps (none at all on a dry run).

        Without a policy nothing is deleted: retention is opt-in per request.
        """
        own = self.own_backups(table, prefix)
        if policy is None:
            return PruneOutcome(
                table, kept=len(own), deleted=(), would_delete=(), deferred=(), already_gone=(), dry_run=dry_run
            )
        decision = policy.decide(own, now)
        doomed = [backup.name for backup in decision.delete]
        deleted: list[str] = []
        gone: list[str] = []
        if not dry_run:
            for backup in decision.delete:
                (deleted if self._delete(backup.arn) else gone).append(backup.name)
        outcome = PruneOutcome(
            table=table,
            kept=len(decision.keep),
            deleted=tuple(deleted),
            would_delete=tuple(doomed) if dry_run else (),
            deferred=tuple(backup.name for backup in decision.deferred),
            already_gone=tuple(gone),
            dry_run=dry_run,
        )
        logger.info("retention enforced", extra=outcome.as_dict())
        return outcome

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
                        self._dynamodb.delete_backup(BackupArn=arn)
                    except ClientError as error:
                        if error_code(error) == "BackupNotFoundException":
                            return False  # deleted meanwhile (by a person or an overlapping run): the goal is met
                        raise
        return True

    def _find(self, table: str, name: str) -> str | None:
        for summary in self.backups(table):
            if summary.get("BackupName") == name and summary.get("BackupStatus") != "DELETED":
                return str(summary["BackupArn"])
        return None
