"""The export workflow's request and step state (see README: Export workflow, and statemachines/export.asl.json).

Prepare Export          PrepareExport   -> ExportPlanned    (the whole state from then on; Plan Only ends with $.plan)
Prepare Again           PrepareExport   -> ExportPlanned    (with the plan: PITR was still turning on)
Start Export            StartExport     -> ExportProgress   ($.export)
Check Export            CheckExport     -> ExportProgress   ($.export)
Record Export           RecordExport    -> ExportReport     ($.report, the execution's output)
Prepare Next Window     PrepareExport   -> ExportPlanned    (with the plan and the report: catching up a long gap)

Times in the step state are UTC and go over the wire as ISO text ending in Z, as the ledger's keys and entries do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, field_validator, model_validator

from ddbkeeper.aws import AccountAccess
from ddbkeeper.errors import InvalidInput
from ddbkeeper.models import (
    AccountId,
    AwareTime,
    BucketName,
    Count,
    ExportFormat,
    ExternalId,
    KmsKey,
    Region,
    RoleArn,
    S3Prefix,
    Settings,
    StepModel,
    StrictModel,
    TableName,
    Task,
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcTime = Annotated[AwareTime, AfterValidator(_utc)]
ExportType = Literal["FULL", "INCREMENTAL", "AUTO"]
WindowType = Literal["FULL", "INCREMENTAL", "NONE"]


class ExportRequest(StrictModel):
    """Export a table's snapshot (FULL) or its changes since the last export (INCREMENTAL) to S3; AUTO chooses."""

    table: TableName
    region: Region | None = None
    role_arn: RoleArn | None = None
    external_id: ExternalId | None = None
    bucket: BucketName | None = None  # None: the stack's export bucket
    bucket_owner: AccountId | None = None
    prefix: S3Prefix | None = None  # None: ddbkeeper/<table>
    export_type: ExportType = "AUTO"
    format: ExportFormat = "DYNAMODB_JSON"
    export_time: AwareTime | None = None
    view_type: Literal["NEW_AND_OLD_IMAGES", "NEW_IMAGE"] = "NEW_AND_OLD_IMAGES"
    enable_pitr: bool = False
    kms_key_id: KmsKey | None = None
    dry_run: bool = False  # plan and report what would be exported; change nothing (not even PITR)

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> ExportRequest:
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id needs role_arn")
        return self

    def access(self) -> AccountAccess:
        return AccountAccess(region=self.region, role_arn=self.role_arn, external_id=self.external_id)

    def key_prefix(self, stack_bucket: bool) -> str:
        """Where the export goes: `prefix`, by default ddbkeeper/<table>. Another account's table exported into the
        stack's bucket goes under that account's own prefix, `<account>/...`, the only one its role may write there
        (the bucket policy), by default `<account>/ddbkeeper/<table>`."""
        if not (self.role_arn and stack_bucket):
            return self.prefix or f"ddbkeeper/{self.table}"
        account = self.role_arn.split(":")[4]
        if self.prefix is None:
            return f"{account}/ddbkeeper/{self.table}"
        if self.prefix.split("/", 1)[0] != account:
            raise InvalidInput(
                f"prefix: an export of account {account}'s table into the stack's bucket goes under {account}/ "
                f"(the only prefix its role may write there), got {self.prefix!r}"
            )
        return self.prefix


class ExportSettings(Settings):
    """The export functions' environment (template.yaml); an empty value (a template parameter left blank) is unset."""

    EXPORT_BUCKET: str | None = None  # the stack's bucket, for requests that name none
    EXPORT_KMS_KEY: str | None = None  # the stack's key, for requests that name none; unset: SSE-S3

    @field_validator("EXPORT_BUCKET", "EXPORT_KMS_KEY", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return value or None


class ExportTask(Task[ExportRequest]):
    """What every export step receives: the validated request and who runs it (the rest is the steps' own state)."""


class ExportWindow(StepModel):
    """What one run exports: a snapshot at `end` (FULL), the changes from `start` to `end` (INCREMENTAL), or nothing."""

    export_type: WindowType
    end: UtcTime
    start: UtcTime | None = None
    reason: str = ""
    more: bool = False  # another window follows in the same run (catching up a long gap)


class ExportSummary(StepModel):
    """One export of a run, as the run's report lists it."""

    export_arn: str
    export_type: WindowType
    window: ExportWindow
    items: Count
    bytes: Count
    data: str


class ExportPlan(StepModel):
    """Prepare Export's decision ($.plan): where the export goes and, once PITR is ENABLED, which window it covers.

    While PITR is turning on the plan has no window yet and the state machine asks again; a dry run ends with it.
    """

    table_arn: str
    bucket: str
    bucket_owner: str | None = None
    prefix: str
    pitr: str  # the table's PointInTimeRecoveryStatus: the state machine waits until ENABLED
    polls: Count = 0  # how many times this run has prepared (bounds both the PITR wait and the catching up)
    earlier: list[ExportSummary] = []  # the exports this run already made (catching up a long gap)
    dry_run: bool = False
    actions: list[str] = []  # what the run does, in words: a dry run's whole output
    window: ExportWindow | None = None
    s3_prefix: str | None = None  # the export's own folder: <prefix>/<window end>-full|incremental
    client_token: str | None = None
    kms_key_id: str | None = None
    last_export: str | None = None  # the export the chain continues from (the ledger's newest entry)


class ExportPlanned(ExportTask):
    """Prepare Export's result: the state from then on (the request, who runs it, the plan)."""

    plan: ExportPlan


class StartExport(ExportTask):
    plan: ExportPlan


class ReportedWindow(StepModel):
    """The window DescribeExport says was exported (DynamoDB reports it; moto does not): no start for a FULL export."""

    start: UtcTime | None = None
    end: UtcTime


class ExportProgress(StepModel):
    """A started export as DescribeExport last saw it ($.export): the state machine polls until it is done."""

    arn: str
    status: Literal["IN_PROGRESS", "COMPLETED", "FAILED"]
    polls: Count = 0
    wait_seconds: Count = 5  # before the next poll
    items: Count = 0
    bytes: Count = 0
    manifest: str | None = None
    window: ReportedWindow | None = None
    failure: str | None = None  # FAILED: DynamoDB's FailureCode and FailureMessage


class CheckExport(ExportTask):
    export: ExportProgress


class RecordExport(ExportTask):
    plan: ExportPlan
    export: ExportProgress | None = None  # None: the window was under 15 minutes and nothing was exported


class ExportRecord(StepModel):
    """One export as the ledger records it: a write-once entry under <prefix>/ddbkeeper-ledger/<table>/."""

    table: str
    table_arn: str
    window: ExportWindow
    format: ExportFormat
    status: Literal["SUCCEEDED", "SKIPPED"]
    export_type: WindowType
    export_arn: str | None = None
    s3: str | None = None  # the export's own folder
    data: str | None = None  # its AWSDynamoDB/<export id>/data/ folder, what an import reads
    manifest: str | None = None  # its manifest-summary.json, when DynamoDB names one (a restore reads the chain by it)
    items: Count = 0
    bytes: Count = 0
    previous_export: str | None = None
    window_confirmed: bool | None = None  # DescribeExport reported the planned window (moto reports none)

    def summary(self) -> ExportSummary:
        return ExportSummary.model_validate(self.model_dump(include=set(ExportSummary.model_fields)))


class ExportReport(ExportRecord):
    """Record Export's result ($.report, the execution's output): the last export, its ledger entry, and the run's
    exports with their totals (`items` and `bytes` are the run's; each export's are in `exports`)."""

    ledger: str | None = None
    exports: list[ExportSummary] = []
    more: bool = False  # another window follows: Prepare Next Window


class PrepareExport(ExportTask):
    """Prepare Export receives the request; Prepare Again the plan too (PITR was still turning on); Prepare Next Window
    the plan and the report of the window just exported (catching up: the exports so far ride along)."""

    plan: ExportPlan | None = None
    report: ExportReport | None = None

    def earlier(self) -> list[ExportSummary]:
        """The run's exports so far, so that the last report lists them all."""
        if self.report is not None:
            return self.report.exports
        return self.plan.earlier if self.plan else []


class LedgerWindow(StepModel):
    end: UtcTime


class LedgerEntry(StepModel):
    """What the next export needs of a ledger entry: whose export it was and where the chain ends."""

    table_arn: str | None = None
    export_arn: str
    window: LedgerWindow
