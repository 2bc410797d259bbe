"""The backup workflow's request and step state (see README: Backup workflow, and statemachines/backup.asl.json).

Resolve Tables  BackupTask      -> ResolvedTables   (the whole state from then on)
Create Backup   TableTask       -> BackupState      ($.backup, per table in the Map)
Check Backup    CheckBackup     -> BackupState      ($.backup)
Enforce Ret.    CheckBackup     -> PruneOutcome     ($.retention)
Build Report    BackupRun       -> BackupReport     ($.report)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ddbkeeper.aws import AccountAccess
from ddbkeeper.backup.retention import RetentionPolicy
from ddbkeeper.errors import InvalidInput
from ddbkeeper.models import (
    BackupArn,
    Count,
    ExternalId,
    NamePrefix,
    Region,
    RoleArn,
    Settings,
    StepModel,
    StrictModel,
    TableName,
    Task,
)
from ddbkeeper.selection import Selector

DELETE_BACKUP_RATE = 10.0  # DynamoDB accepts DeleteBackup at 10 requests per second per account and region


class RetentionSpec(StrictModel):
    keep_last: Count = 0
    daily: Count = 0
    weekly: Count = 0
    monthly: Count = 0
    yearly: Count = 0
    max_age_days: Annotated[int, Field(ge=1)] | None = None
    min_keep: Annotated[int, Field(ge=1)] = 1
    max_deletions: Annotated[int, Field(ge=1, le=1000)] = 50

    @model_validator(mode="after")
    def _needs_a_rule(self) -> RetentionSpec:
        self.policy()  # the policy's own checks (at least one rule) apply to the input too
        return self

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(**self.model_dump())


class BackupRequest(StrictModel):
    """Input of the backup workflow (see README: Backup workflow)."""

    tables: Annotated[list[TableName], Field(min_length=1, max_length=500)] | None = None
    selector: Selector | None = None
    retention: RetentionSpec | None = None
    backup_name_prefix: NamePrefix | None = None  # None: the stack's (BackupNamePrefix); another is refused
    dry_run: bool = False
    role_arn: RoleArn | None = None  # the backup role of another account (roles/protection-role.yaml)
    retention_role_arn: RoleArn | None = None  # its retention role: the only one that may delete backups there
    external_id: ExternalId | None = None
    region: Region | None = None

    @model_validator(mode="after")
    def _needs_tables(self) -> BackupRequest:
        if not self.tables and self.selector is None:
            raise ValueError("give tables (a list of names) and/or selector")
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id needs role_arn")
        if self.retention_role_arn is not None:
            if self.role_arn is None:
                raise ValueError("retention_role_arn goes with role_arn (backups in another account)")
            if _account(self.retention_role_arn) != _account(self.role_arn):
                raise ValueError("retention_role_arn: must be in the same account as role_arn")
        elif self.role_arn is not None and self.retention is not None:
            raise ValueError(
                "retention_role_arn: retention in another account deletes backups through that account's retention "
                "role (roles/protection-role.yaml output RetentionRoleArn); give it, or leave out retention"
            )
        return self

    def access(self) -> AccountAccess:
        """The account and region the tables are in, through the backup role when one is given."""
        return AccountAccess(region=self.region, role_arn=self.role_arn, external_id=self.external_id)

    def retention_access(self) -> AccountAccess:
        """The same account and region through the role allowed to delete backups there."""
        return AccountAccess(
            region=self.region, role_arn=self.retention_role_arn or self.role_arn, external_id=self.external_id
        )


def _account(role_arn: str) -> str:
    return role_arn.split(":")[4]


class BackupSettings(Settings):
    """The backup functions' environment (template.yaml)."""

    SETTINGS_BUCKET: str | None = None  # the stack's bucket: each backup's record (settings, proof of making)
    DELETE_BACKUP_RATE: Annotated[float, Field(gt=0)] = DELETE_BACKUP_RATE  # per Map branch
    BACKUP_NAME_PREFIX: NamePrefix = "ddbkeeper"  # the stack's: the only prefix a request may use

    def prefix(self, requested: str | None) -> str:
        """The prefix a run names its backups with: the stack's. Retention recognises backups by it, so a request may
        not pick another (a human's `manual-...` backups are not fair game because a request says so)."""
        if requested is not None and requested != self.BACKUP_NAME_PREFIX:
            raise InvalidInput(
                f"backup_name_prefix: {requested!r} is not this stack's prefix ({self.BACKUP_NAME_PREFIX!r}); "
                "the template's BackupNamePrefix parameter sets it"
            )
        return self.BACKUP_NAME_PREFIX


class BackupTask(Task[BackupRequest]):
    """What the first step receives: the request and who runs it."""


class ResolvedTables(BackupTask):
    """Resolve Tables' result, the workflow's state from then on: the request, and the tables the Map goes over."""

    tables: list[str]


class TableTask(BackupTask):
    """One table's share of a run: what the Map hands each of its iterations."""

    table: TableName


class BackupState(StepModel):
    """The backup a run made of one table (or, on a dry run, would make: no ARN, status PLANNED)."""

    arn: BackupArn | None
    name: str
    status: Literal["CREATING", "AVAILABLE", "DELETED", "PLANNED"]
    size_bytes: int | None = None
    created_at: str | None = None
    reused: bool = False  # an earlier attempt of this step had already started it
    polls: Count = 0
    settings: str | None = None  # where the table's settings were recorded
    settings_error: str | None = None  # why they were not (the backup stands regardless)


class CheckBackup(TableTask):
    """A step that works on the table's backup once it is started: Check Backup, Enforce Retention."""

    backup: BackupState


class PruneOutcome(StepModel):
    """What retention did to one table's backups made by this service."""

    table: str
    kept: int
    deleted: list[str] = []
    would_delete: list[str] = []  # on a dry run
    deferred: list[str] = []  # deletable, but over the per-run cap: the next run deletes them
    already_gone: list[str] = []
    unproven: list[str] = []  # named like ours, but no record proves ddbkeeper made them: never deleted
    dry_run: bool = False


class TableResult(StepModel):
    """One Map iteration's end: its Pass states build this from the table's state."""

    table: str
    status: Literal["SUCCEEDED", "FAILED"]
    backup: BackupState | None = None
    retention: PruneOutcome | None = None
    error: str | None = None
    cause: str | None = None


class BackupRun(ResolvedTables):
    """What Build Report receives: the run's state and the Map's per-table results."""

    results: list[TableResult]


class ReportLine(StepModel):
    """One table in the report."""

    table: str
    status: Literal["SUCCEEDED", "FAILED"]
    backup_arn: str | None = None
    backup_name: str | None = None
    backup_status: str | None = None
    size_bytes: int | None = None
    reused: bool = False
    settings: str | None = None
    settings_error: str | None = None
    kept: int | None = None
    deleted: list[str] = []
    would_delete: list[str] = []
    deferred: list[str] = []
    unproven: list[str] = []
    error: str | None = None
    cause: str | None = None


class BackupTotals(StepModel):
    tables: int
    succeeded: int
    failed: int
    backups_created: int
    backups_would_create: int
    backups_deleted: int
    backups_would_delete: int


class BackupReport(StepModel):
    """The run's report: the execution's output, for people and dashboards."""

    status: Literal["SUCCEEDED", "FAILED"]
    dry_run: bool
    totals: BackupTotals
    tables: list[ReportLine]
    summary: str
