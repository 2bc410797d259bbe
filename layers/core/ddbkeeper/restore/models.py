"""The restore workflow's request and step state (see README: Restore workflow, and statemachines/restore.asl.json).

Plan Restore       RestoreTask     -> PlannedRestore   (the whole state from then on; a dry run ends with its plan)
Start Restore      PlannedRestore  -> RestoreProgress  ($.restore)
Check Restore      CheckRestore    -> RestoreProgress  ($.restore)
Re-apply Settings  ApplySettings   -> SettingsProgress ($.settings)
Verify Restore     CheckRestore    -> RestoreReport    ($.report, the execution's output)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ddbkeeper.models import (
    AccountId,
    BackupArn,
    BucketName,
    Count,
    ExportFormat,
    Region,
    S3Prefix,
    Settings,
    StepModel,
    StrictModel,
    TableLocation,
    TableName,
    TargetOverrides,
    Task,
)
from ddbkeeper.settings import TableSettings

# DynamoDB's export ARNs end table/<name>/export/<id>; moto's read .../import/<id>, accepted so local runs work.
ExportArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+/(export|import)/.+$")
]
KeySchema = Annotated[list[dict[str, str]], Field(min_length=1, max_length=2)]
SourceKind = Literal["backup", "point_in_time", "export"]


class ExportSource(StrictModel):
    """A FULL export in S3: by its ARN, or by the bucket and the prefix of one export's folder."""

    export_arn: ExportArn | None = None
    bucket: BucketName | None = None
    prefix: S3Prefix | None = None
    bucket_owner: AccountId | None = None
    format: ExportFormat = "DYNAMODB_JSON"
    compression: Literal["GZIP", "ZSTD", "NONE"] = "GZIP"

    @model_validator(mode="after")
    def _one_way_to_find_it(self) -> ExportSource:
        if (self.export_arn is None) == (self.bucket is None or self.prefix is None):
            raise ValueError("give export_arn, or bucket and prefix (the folder of one export)")
        return self


class RestoreSource(StrictModel):
    """Exactly one of: a backup, a table and a point in time, an export."""

    backup_arn: BackupArn | None = None
    table: TableName | None = None
    point_in_time: str | None = None  # an ISO time with a time zone, or "latest"
    region: Region | None = None  # the source table's region, when it differs from the new table's
    export: ExportSource | None = None

    @field_validator("point_in_time")
    @classmethod
    def _iso_or_latest(cls, value: str | None) -> str | None:
        if value is None or value == "latest":
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError(f"expected 'latest' or an ISO time with a time zone (2026-11-22T03:00:00Z), got {value!r}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> RestoreSource:
        given = [self.backup_arn is not None, self.table is not None or self.point_in_time is not None, self.export]
        if sum(bool(g) for g in given) != 1:
            raise ValueError("give exactly one of backup_arn, table with point_in_time, or export")
        if (self.table is None) != (self.point_in_time is None):
            raise ValueError("table and point_in_time go together")
        if self.region is not None and self.table is None:
            raise ValueError("region goes with table and point_in_time (a backup's region is in its ARN)")
        return self

    @property
    def kind(self) -> SourceKind:
        if self.backup_arn:
            return "backup"
        return "export" if self.export else "point_in_time"

    def moment(self) -> datetime | None:
        return None if self.point_in_time in (None, "latest") else datetime.fromisoformat(str(self.point_in_time))


class RestoreTarget(TableLocation, TargetOverrides):
    """The new table: where it goes, what differs from the source, and the settings a restore does not carry."""

    ttl_attribute: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    pitr: bool | None = None
    # An import builds the table from these (they may differ from the exported table's: a new partition key).
    key_schema: KeySchema | None = None
    attribute_definitions: Annotated[list[dict[str, str]], Field(min_length=1)] | None = None
    global_secondary_indexes: list[dict[str, Any]] = []


class RestoreRequest(StrictModel):
    """Input of the restore workflow (see README: Restore workflow)."""

    source: RestoreSource
    target: RestoreTarget
    verify: Literal["count", "none"] = "count"
    dry_run: bool = False  # plan and report what the restore would do; create nothing

    @model_validator(mode="after")
    def _fits_the_source(self) -> RestoreRequest:
        target = self.target
        if self.source.kind == "export":
            if target.key_schema is None or target.attribute_definitions is None:
                raise ValueError("an import needs target.key_schema and target.attribute_definitions")
            if target.drop_indexes:
                raise ValueError("target.drop_indexes: an import creates just target.global_secondary_indexes")
        elif target.key_schema or target.attribute_definitions or target.global_secondary_indexes:
            raise ValueError(
                "target.key_schema/attribute_definitions/global_secondary_indexes: only an import from an export "
                "can change the keys; a backup or point-in-time restore keeps the source's"
            )
        if self.source.kind == "backup" and target.region and f":{target.region}:" not in str(self.source.backup_arn):
            raise ValueError(
                "target.region: a backup restores in its own region; export and import to restore in another region"
            )
        return self


class RestoreSettings(Settings):
    """The restore functions' environment (template.yaml)."""

    SETTINGS_BUCKET: str | None = None  # the stack's bucket, where Create Backup recorded each backup's table settings
    STACK_NAME: str = "ddbkeeper"  # the new table's ddbkeeper:managed-by tag (IAM: the stack changes only those)


class RestoreTask(Task[RestoreRequest]):
    """What the first step receives: the request and who runs it."""


# --- the plan: everything decided before anything is created ----------------------------------------------------------


class RestorePlan(StepModel):
    """What Plan Restore decided. On a dry run it is the execution's whole output (the CLI prints `actions`)."""

    kind: SourceKind
    source_arn: str  # the backup's table, the point-in-time source, the export (or its S3 folder)
    expected_items: int | None  # the count the source recorded; None: nothing recorded one
    expected_is_exact: bool  # an export's count is exact; a backup's is DynamoDB's six-hourly estimate
    settings: TableSettings  # what the new table gets after the restore: the source's, with the overrides on top
    settings_from: str  # where the source's settings were read, in words (the report and the demo show it)
    params: dict[str, Any]  # RestoreTableFromBackup's, RestoreTableToPointInTime's or ImportTable's, as sent
    point_in_time: str | None = None  # a point-in-time restore's moment, or "latest"
    dry_run: bool = False
    actions: list[str] = []  # what the restore will do, in words


class PlannedRestore(RestoreTask):
    """Plan Restore's result, the workflow's state from then on: the request, who runs it, the plan."""

    plan: RestorePlan


class ImportCounts(StepModel):
    """DescribeImport's counts, while an import runs and once it is done."""

    items: Count
    processed: Count
    errors: Count


class RestoreProgress(StepModel):
    """Where the restore stands: the Wait For Restore / Check Restore loop's state."""

    status: Literal["CREATING", "ACTIVE", "FAILED"]
    polls: Count = 0
    wait_seconds: Count
    import_arn: str | None = None  # an import's; a restore from a backup or a point in time has none
    imported: ImportCounts | None = None
    failure: str | None = None  # FAILED: DynamoDB's reason (the Restore Failed state's cause)
    table_arn: str | None = None  # once the table exists


class CheckRestore(PlannedRestore):
    """A step that works on the restore once it is started: Check Restore, Verify Restore."""

    restore: RestoreProgress


class SettingsProgress(StepModel):
    """The Re-apply Settings loop's state; its Pass state starts it at pending -1, polls 0."""

    pending: int  # settings the table still lacks (0: done)
    polls: Count = 0
    wait_seconds: Count = 0
    applied: list[str] = []
    summary: str = ""  # the Settings Not Applied state's cause


class ApplySettings(PlannedRestore):
    """What Re-apply Settings receives: the plan, and where the loop stands."""

    settings: SettingsProgress


class Verification(StepModel):
    """The count check: the new table's items against the count the source recorded."""

    verify: Literal["count", "none"]
    items: int | None = None
    expected: int | None = None
    result: str | None = None  # MATCH, COUNTED (nothing to compare), DIFFERS from a backup's estimate


class RestoreReport(StepModel):
    """The run's report: the execution's output, for people and dashboards (the CLI's restore view reads it)."""

    status: Literal["SUCCEEDED"]
    kind: SourceKind
    source: str
    point_in_time: str | None
    table: str
    table_arn: str | None
    items: int | None
    verification: Verification
    settings: dict[str, Any]  # the settings the new table was given (those set)
    settings_from: str
    started_at: str
    finished_at: str
    duration_seconds: float
