"""What every way back shares: a table's recovery points (its backups, its PITR window), restoring one into a new
table (recognising the table an earlier attempt already started, telling when it is done), and the count check.

The restore workflow, the drill, the audit and the catalog of recovery points all decide these the same way here; no
workflow package reaches into another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger

from ddbkeeper.aws import translate_errors
from ddbkeeper.clock import as_utc
from ddbkeeper.errors import VerificationFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PointInTimeRecoveryDescriptionTypeDef, TableDescriptionTypeDef

logger = Logger(child=True)


# --- a table's recovery points ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupPoint:
    """One on-demand (or AWS Backup, or system) backup of a table, as ListBackups describes it."""

    arn: str
    name: str
    created: datetime
    status: str  # CREATING, AVAILABLE, DELETED
    kind: str  # USER, SYSTEM, AWS_BACKUP
    size_bytes: int | None = None

    @property
    def available(self) -> bool:
        return self.status == "AVAILABLE"


def backups_of(client: DynamoDBClient, table: str) -> list[BackupPoint]:
    """Every backup of the table, newest first. Filtered here as well as by the API (moto ignores most filters)."""
    found: list[BackupPoint] = []
    params: dict[str, Any] = {"TableName": table, "BackupType": "ALL"}
    with translate_errors("ListBackups", table):
        for _ in range(10_000):  # a bound, not a limit anyone reaches
            page = client.list_backups(**params)
            for summary in page.get("BackupSummaries", []):
                created = as_utc(summary.get("BackupCreationDateTime"))
                if summary.get("TableName") != table or created is None:
                    continue
                found.append(
                    BackupPoint(
                        arn=summary["BackupArn"],
                        name=summary.get("BackupName", ""),
                        created=created,
                        status=summary.get("BackupStatus", ""),
                        kind=summary.get("BackupType", "USER"),
                        size_bytes=summary.get("BackupSizeBytes"),
                    )
                )
            if not page.get("LastEvaluatedBackupArn"):
                break
            params["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    return sorted(found, key=lambda backup: (backup.created, backup.arn), reverse=True)


def newest_backup(client: DynamoDBClient, table: str) -> BackupPoint | None:
    """The newest AVAILABLE backup of the table, whoever made it."""
    return next((backup for backup in backups_of(client, table) if backup.available), None)


@dataclass(frozen=True)
class PitrWindow:
    """Point-in-time recovery: on or off, and when on, the window a restore may pick a moment from."""

    enabled: bool
    earliest: datetime | None = None
    latest: datetime | None = None
    recovery_period_days: int | None = None


def pitr_window(pitr: PointInTimeRecoveryDescriptionTypeDef) -> PitrWindow:
    """DescribeContinuousBackups' PointInTimeRecoveryDescription as a window (35 days unless the table says)."""
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return PitrWindow(enabled=False)
    described: dict[str, Any] = dict(pitr)
    return PitrWindow(
        enabled=True,
        earliest=as_utc(described.get("EarliestRestorableDateTime")),
        latest=as_utc(described.get("LatestRestorableDateTime")),
        recovery_period_days=int(described.get("RecoveryPeriodInDays") or 35),
    )


# --- restoring into a new table --------------------------------------------------------------------------------------


def restored_by(table: TableDescriptionTypeDef | None, source_arn: str | None, started_at: datetime) -> bool:
    """Whether an existing table is the one a restore from `source_arn` started at or after `started_at` made: the
    backup or source table its RestoreSummary names, and created no earlier. What lets a retried step adopt its own
    restore, and a clean-up tell its own scratch table from a stranger's."""
    if table is None or source_arn is None:
        return False
    summary = table.get("RestoreSummary", {})
    source = summary.get("SourceBackupArn") or summary.get("SourceTableArn")
    created = as_utc(table.get("CreationDateTime"))
    return source == source_arn and created is not None and created >= started_at.replace(microsecond=0)


def restore_state(table: TableDescriptionTypeDef | None) -> Literal["CREATING", "ACTIVE"]:
    """ACTIVE once the table and its indexes are ready and the restore no longer runs; CREATING until then."""
    if table is None:
        return "CREATING"
    in_progress = table.get("RestoreSummary", {}).get("RestoreInProgress", False)
    ready = table.get("TableStatus") == "ACTIVE" and all(
        index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in table.get("GlobalSecondaryIndexes", [])
    )
    return "ACTIVE" if ready and not in_progress else "CREATING"


def count_check(table: str, items: int, expected: int | None, exact: bool) -> str:
    """An export's count is exact: any difference fails. A backup's is DynamoDB's estimate (refreshed about every six
    hours) of a restore DynamoDB itself performs: a difference is reported, not failed on."""
    if expected is None:
        return "COUNTED (no recorded count to compare)"
    if items == expected:
        return "MATCH"
    if exact:
        raise VerificationFailed(f"{table} has {items} items; {expected} were exported")
    logger.warning("restored count differs from the backup's estimate", extra={"items": items, "expected": expected})
    return f"DIFFERS from the backup's estimate by {items - expected:+,} (DynamoDB refreshes it about every 6 hours)"
