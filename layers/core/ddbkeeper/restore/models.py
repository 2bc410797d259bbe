"""The restore workflow's request and step state (see README: Restore workflow, and statemachines/restore.asl.json).

Plan Restore       RestoreTask     -> PlannedRestore   (the whole state from then on; a dry run ends with its plan)
Start Restore      PlannedRestore  -> RestoreProgress  ($.restore)
Check Restore      CheckRestore    -> RestoreProgress  ($.restore)
List Export Files  ListExportFiles -> ApplyProgress    ($.apply: the totals; the next export's files listed in S3)
Apply File         ApplyFile       -> FileProgress     ($.file in the Map over those files: a checkpoint per turn)
Re-apply Settings  ApplySettings   -> SettingsProgress ($.settings)
Verify Restore     VerifyRestore   -> RestoreReport    ($.report, the execution's output)
Repair Items       RepairItems     -> RepairProgress   ($.repair: a repair's chosen items, a position per turn)
Drop Scratch Table DropScratch     -> RestoreReport    ($.report: a repair's)
Drop Scratch After Failure  CleanUpScratch -> ScratchCleanup ($.cleanup: a loop until DELETED or GONE)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ddbkeeper.apply import ApplyProgress, FileProgress
from ddbkeeper.export_files import ExportManifest
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
from ddbkeeper.scratch import ScratchCleanup
from ddbkeeper.settings import TableSettings

# DynamoDB's export ARNs end table/<name>/export/<id>; moto's read .../import/<id>, accepted so local runs work.
ExportArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+/(export|import)/.+$")
]
KeySchema = Annotated[list[dict[str, str]], Field(min_length=1, max_length=2)]
SourceKind = Literal["backup", "point_in_time", "export", "export_chain", "exports", "revert"]
APPLIED: tuple[SourceKind, ...] = ("export_chain", "exports", "revert")  # the kinds applied item by item, file by file
# A DynamoDB export's manifest-summary.json, wherever it was copied: s3://bucket/.../AWSDynamoDB/<id>/manifest-summary.json
ManifestUrl = Annotated[
    str,
    StringConstraints(
        max_length=1024, pattern=r"^s3://[a-z0-9][a-z0-9.-]+[a-z0-9]/(.+/)?AWSDynamoDB/[^/]+/manifest-summary\.json$"
    ),
]
# One restore's chain: a weekly FULL and hourly incrementals is 168. The plan carries each export's manifest (~700 B)
# in the execution's state, which Step Functions bounds at 256 KB (tests/restore/test_models.py measures it).
MAX_EXPORTS = 200


def _iso_or_latest(value: str | None) -> str | None:
    if value is None or value == "latest":
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"expected 'latest' or an ISO time with a time zone (2026-11-22T03:00:00Z), got {value!r}")
    return value


class ChainLocation(StrictModel):
    """A table's export chain: where the export workflow wrote it and its ledger, <prefix>/ddbkeeper-ledger/<table>/."""

    table: TableName
    bucket: BucketName
    prefix: S3Prefix
    bucket_owner: AccountId | None = None


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
    export_chain: ChainLocation | None = None  # the chain the export workflow recorded in its ledger...
    to: str | None = None  # ...restored to this time (an ISO time with a time zone) or "latest"
    exports: Annotated[list[ManifestUrl], Field(min_length=1, max_length=MAX_EXPORTS)] | None = None
    revert: ManifestUrl | None = None  # one incremental export (NEW_AND_OLD_IMAGES) undone from its OldImages
    # revert: an item changed again since the window is left as it is (skip, the default) or reverted anyway
    if_changed: Literal["skip", "overwrite"] | None = None
    bucket_owner: AccountId | None = None  # the account that owns the bucket of `exports` or `revert`

    _point_in_time = field_validator("point_in_time")(_iso_or_latest)
    _to = field_validator("to")(_iso_or_latest)

    @model_validator(mode="after")
    def _exactly_one(self) -> RestoreSource:
        given = [
            self.backup_arn is not None,
            self.table is not None or self.point_in_time is not None,
            self.export,
            self.export_chain,
            self.exports,
            self.revert,
        ]
        if sum(bool(g) for g in given) != 1:
            raise ValueError(
                "give exactly one of backup_arn, table with point_in_time, export, export_chain with to, exports, "
                "or revert"
            )
        if (self.table is None) != (self.point_in_time is None):
            raise ValueError("table and point_in_time go together")
        if self.region is not None and self.table is None:
            raise ValueError("region goes with table and point_in_time (a backup's region is in its ARN)")
        if (self.export_chain is None) != (self.to is None):
            raise ValueError("export_chain and to go together: the chain restores to a time or 'latest'")
        if self.if_changed is not None and self.revert is None:
            raise ValueError("if_changed goes with revert: what to do with an item changed again since the window")
        if self.bucket_owner is not None and self.exports is None and self.revert is None:
            raise ValueError("bucket_owner goes with exports or revert (export_chain and export name their own)")
        if self.exports is not None and len(set(self.exports)) != len(self.exports):
            raise ValueError("exports: each export once")
        return self

    @property
    def kind(self) -> SourceKind:
        if self.backup_arn:
            return "backup"
        if self.export_chain:
            return "export_chain"
        if self.exports:
            return "exports"
        if self.revert:
            return "revert"
        return "export" if self.export else "point_in_time"

    def moment(self) -> datetime | None:
        return None if self.point_in_time in (None, "latest") else datetime.fromisoformat(str(self.point_in_time))

    def until(self) -> datetime | None:
        """The chain's `to` as a time; None: the latest the chain holds."""
        return None if self.to in (None, "latest") else datetime.fromisoformat(str(self.to))


class RestoreTarget(TableLocation, TargetOverrides):
    """The new table: where it goes, what differs from the source, and the settings a restore does not carry."""

    ttl_attribute: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    pitr: bool | None = None
    # An import builds the table from these (they may differ from the exported table's: a new partition key).
    key_schema: KeySchema | None = None
    attribute_definitions: Annotated[list[dict[str, str]], Field(min_length=1)] | None = None
    global_secondary_indexes: list[dict[str, Any]] = []
    # Apply the exports to this table as it is (it must exist) rather than create it: needs confirm_apply.
    existing: bool = False

    def changes_settings(self) -> list[str]:
        """The fields that would change the table's settings or shape: none may go with an existing table."""
        fields = set(self.model_fields_set) - {"table", "region", "role_arn", "external_id", "existing"}
        return sorted(name for name in fields if getattr(self, name) not in (None, [], {}))


WireKey = Annotated[dict[str, dict[str, Any]], Field(min_length=1, max_length=2)]  # {"pk": {"S": "a"}}, wire form


class RepairFilter(StrictModel):
    """A DynamoDB filter expression (as Scan takes it): the items of the scratch table it keeps are repaired."""

    expression: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    names: dict[Annotated[str, StringConstraints(pattern=r"^#\w+$")], str] = {}
    values: dict[Annotated[str, StringConstraints(pattern=r"^:\w+$")], dict[str, Any]] = {}  # wire form


class RepairSelection(StrictModel):
    """Which items to repair (exactly one way) and what to do when the live table holds one already."""

    keys: Annotated[list[WireKey], Field(min_length=1, max_length=10_000)] | None = None
    partition: Annotated[dict[str, dict[str, Any]], Field(min_length=1, max_length=1)] | None = None
    filter: RepairFilter | None = None
    conflict: Literal["overwrite", "missing_only"] = "overwrite"

    @model_validator(mode="after")
    def _one_selector(self) -> RepairSelection:
        if sum(selector is not None for selector in (self.keys, self.partition, self.filter)) != 1:
            raise ValueError("give exactly one of keys, partition or filter: the items to repair")
        return self


class RestoreRequest(StrictModel):
    """Input of the restore workflow (see README: Restore workflow)."""

    source: RestoreSource
    target: RestoreTarget
    verify: Literal["count", "none"] = "count"
    dry_run: bool = False  # plan and report what the restore would do; create nothing
    max_write_units: Annotated[float, Field(gt=0)] | None = None  # applying exports: a cap in write units a second
    confirm_apply: TableName | None = None  # target.existing: the table's name, as a confirmation
    # Repair chosen items of target.table (existing) from a backup, a point in time or the export chain, through a
    # scratch table.
    repair: RepairSelection | None = None

    @model_validator(mode="after")
    def _fits_the_source(self) -> RestoreRequest:
        target = self.target
        kind = self.source.kind
        self._fits_an_existing_table()
        if kind in ("export", "exports", "export_chain"):
            if target.existing:
                pass  # the table's own keys (_fits_an_existing_table refused any given)
            elif (target.key_schema is None or target.attribute_definitions is None) and kind != "export_chain":
                raise ValueError(f"an import needs target.key_schema and target.attribute_definitions ({kind})")
            elif (target.key_schema is None) != (target.attribute_definitions is None):
                raise ValueError("target.key_schema and target.attribute_definitions go together")
            elif target.drop_indexes:
                raise ValueError("target.drop_indexes: an import creates just target.global_secondary_indexes")
        elif target.key_schema or target.attribute_definitions or target.global_secondary_indexes:
            raise ValueError(
                "target.key_schema/attribute_definitions/global_secondary_indexes: only an import from an export "
                "can change the keys; a backup or point-in-time restore keeps the source's"
            )
        if self.max_write_units is not None and kind not in APPLIED and self.repair is None:
            raise ValueError(
                "max_write_units: only exports applied item by item (export_chain, exports, revert) and a repair write "
                "units"
            )
        if self.source.kind == "backup" and target.region and f":{target.region}:" not in str(self.source.backup_arn):
            raise ValueError(
                "target.region: a backup restores in its own region; export and import to restore in another region"
            )
        return self

    def _fits_an_existing_table(self) -> None:
        """Writing into a table that exists overwrites and deletes items: only exports applied item by item do it,
        only with a confirmation naming the table, and they change nothing but items."""
        target, kind = self.target, self.source.kind
        if self.repair is not None:
            if kind not in ("backup", "point_in_time", "export_chain"):
                raise ValueError(
                    "repair: items are repaired from a backup, a point in time or the export chain (through a scratch "
                    "table); to take them from other exports, restore those into a new table and repair from a backup "
                    "of it"
                )
            if not target.existing:
                raise ValueError("repair: items are repaired in a table that exists; give target.existing true")
            if target.role_arn is not None:
                raise ValueError(
                    "target.role_arn: a repair acts in the stack's own account (its scratch table is dropped with the "
                    "stack's permissions; the other accounts' roles drop no table)"
                )
        if kind == "revert" and not target.existing:
            raise ValueError(
                "source.revert: a window is undone in a table that exists; give target.existing true and confirm_apply"
            )
        if not target.existing:
            if self.confirm_apply is not None:
                raise ValueError("confirm_apply goes with target.existing")
            return
        if kind not in APPLIED and self.repair is None:
            raise ValueError(
                "target.existing: only exports applied item by item (export_chain, exports, revert) go into an "
                "existing table; a restore from a backup, a point in time or an import always creates one"
            )
        if self.confirm_apply is None:
            raise ValueError(
                "target.existing needs confirm_apply naming the target table (items with the same keys are "
                "overwritten, deleted items are deleted)"
            )
        if self.confirm_apply != target.table:
            raise ValueError(f"confirm_apply: names {self.confirm_apply}, the target table is {target.table}")
        if changed := target.changes_settings():
            raise ValueError(f"target.{changed[0]}: an existing table keeps its own keys and settings")


class RestoreSettings(Settings):
    """The restore functions' environment (template.yaml)."""

    SETTINGS_BUCKET: str | None = None  # the stack's bucket, where Create Backup recorded each backup's table settings
    STACK_NAME: str = "ddbkeeper"  # the new table's ddbkeeper:managed-by tag (IAM: the stack changes only those)
    STACK_FOLDERS_ENDPOINT: str | None = None  # the embedded runtime's own server, where its Maps read the file lists


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
    # Exports applied item by item (export_chain, exports): one FULL, then incrementals in order.
    apply: bool = False  # the exports are applied (List Export Files, the Map) once the table is ACTIVE
    exports: list[ExportManifest] = []
    key_names: list[str] = []  # the table's key attributes: what a delete names
    existing: bool = False  # into a table that exists: nothing created, no setting changed
    revert: bool = False  # undo the one export: OldImages put back, inserted items deleted
    repair: bool = False  # restore a scratch table (`table`), repair chosen items of `live` from it, drop it
    live: str | None = None  # the table a repair writes
    restored_to: str | None = None  # the point the table will be at: the last applied export's end
    behind_seconds: float | None = None  # how far that is before the requested `to` (0: exactly it)


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


class RepairProgress(StepModel):
    """Where Repair Items stands ($.repair): the position among the chosen items, and what became of them."""

    position: Count = 0  # keys: the next key's index
    start_key: dict[str, Any] | None = None  # partition or filter: where the next page starts (wire form)
    done: bool = False
    chosen: Count = 0  # items of the scratch table chosen
    added: Count = 0  # missing from the live table: written
    overwritten: Count = 0  # different in the live table, overwrite: written
    left: Count = 0  # identical, or missing_only and present (or appeared meanwhile): not written
    conflicts: Count = 0  # missing_only: appeared between the read and the conditional put, left
    not_in_source: Count = 0  # keys the scratch table does not hold: left (a repair never deletes)
    write_units: float = 0.0
    invocations: Count = 0
    sample_added: list[dict[str, Any]] = []  # a few keys of each kind, for the report
    sample_overwritten: list[dict[str, Any]] = []
    sample_left: list[dict[str, Any]] = []


class RepairItems(CheckRestore):
    """What Repair Items receives: the plan (the scratch table is `table`) and where the repair stands."""

    repair: RepairProgress


class DropScratch(PlannedRestore):
    """What Drop Scratch Table receives: the plan, the table and the repair's progress."""

    restore: RestoreProgress | None = None
    repair: RepairProgress | None = None


class CleanUpScratch(PlannedRestore):
    """What Drop Scratch After Failure receives: the plan, and where the clean-up stands (None on its first turn)."""

    cleanup: ScratchCleanup | None = None


class ListExportFiles(CheckRestore):
    """What List Export Files receives: the plan, the table, and where the applying stands (the totals so far)."""

    apply: ApplyProgress


class ApplyFile(RestoreTask):
    """What Apply File receives, an item of the Map over one export's data files: the file and its checkpoint, and
    what of the plan applying it needs (the whole plan, every export's manifest, is not copied into every item)."""

    file: FileProgress
    key_names: list[str]
    revert: bool = False


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


class VerifyRestore(CheckRestore):
    """What Verify Restore receives: the table, and for exports applied, what was applied (the expected count)."""

    apply: ApplyProgress | None = None


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
    restored_to: str | None = None  # exports applied: the exact point the table is at (the last window's end)...
    behind_seconds: float | None = None  # ...and how far that is before the requested `to`
    applied: ApplyProgress | None = None  # exports applied: files, puts, deletes, units, throttles
    repaired: RepairProgress | None = None  # a repair: what was chosen, added, overwritten, left (a dry run: would be)
    scratch: str | None = None  # a repair's scratch table, dropped before this report
    started_at: str
    finished_at: str
    duration_seconds: float
