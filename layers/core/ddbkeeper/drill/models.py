"""The drill workflow's request and step state (see README: Restore drills, and statemachines/drill.asl.json).

Plan Drill            DrillTask        -> PlannedDrill      (the whole state from then on; a dry run ends with its plan)
Start Scratch Restore DrillTableTask   -> ScratchRestore    ($.restore, per table in the Map)
Check Scratch Restore CheckScratch     -> ScratchRestore    ($.restore)
Verify Scratch Table  CheckScratch     -> DrillVerification ($.verification)
Delete Scratch Table  CleanUpScratch   -> ScratchCleanup    ($.cleanup: always, after a failure too)
Drill Report          DrillRun         -> DrillReport       ($.report, the execution's output)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ddbkeeper.apply import ApplyProgress
from ddbkeeper.export_files import ExportLocation, ledger_folder
from ddbkeeper.models import AwareTime, Count, Settings, StepModel, StrictModel, TableName, Task
from ddbkeeper.scratch import ScratchCleanup
from ddbkeeper.selection import Selector

RecoveryKind = Literal["backup", "point_in_time", "export_chain"]
DRILL_TAG = "ddbkeeper:drill"  # <stack name>: the scratch tables the drill made; IAM deletes only tables carrying it


class DrillRequest(StrictModel):
    """Input of the drill workflow (see README: Restore drills)."""

    tables: Annotated[list[TableName], Field(min_length=1, max_length=50)] | None = None
    selector: Selector | None = None
    # auto: the newest backup, else the latest PITR point, else the export chain's newest reachable window end
    source: Literal["auto", "backup", "point_in_time", "export_chain"] = "auto"
    sample_size: Annotated[int, Field(ge=1, le=1000)] = 50  # source items whose keys are read back from the scratch
    max_mismatch_percent: Annotated[float, Field(ge=0, le=100)] = 10.0  # count and sample: changed since, or lost
    max_recovery_point_age_hours: Annotated[float, Field(gt=0)] | None = None  # older: the drill fails (RPO breached)
    dry_run: bool = False

    @model_validator(mode="after")
    def _needs_tables(self) -> DrillRequest:
        if not self.tables and self.selector is None:
            raise ValueError("give tables (a list of names) and/or selector")
        return self


class DrillSettings(Settings):
    """The drill functions' environment (template.yaml)."""

    STACK_NAME: str = "ddbkeeper"  # the scratch tables' ddbkeeper:drill and ddbkeeper:managed-by tags
    DRILL_TABLE_PREFIX: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = (
        "ddbkeeper-drill"
    )
    SETTINGS_BUCKET: str | None = None  # the stack's bucket: each drill's record (the audit reads the last one)
    EXPORT_BUCKET: str | None = None  # the stack's bucket, where the export workflow writes exports and their ledger
    EXPORT_PREFIX: str = "ddbkeeper/{table}"  # the export workflow's default prefix (the audit reads it so too)

    @field_validator("SETTINGS_BUCKET", "EXPORT_BUCKET", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return value or None


class DrillTask(Task[DrillRequest]):
    """What the first step receives: the request and who runs it."""


class ChainRef(StepModel):
    """An export chain as the plan names it: the ledger it is read from and the window ends it spans, not the exports'
    manifests. Those are read where they are applied (Check Scratch Restore, each turn): a week of hourly exports is
    168 manifests, ~113 KB, and every step's state must stay under Step Functions' 256 KB whatever the chain's length
    and however many tables are drilled (States.DataLimitExceeded cannot be caught, so no clean-up would run)."""

    bucket: str  # the export bucket holding the ledger (the stack's)
    prefix: str  # the export workflow's prefix: the ledger is <prefix>/ddbkeeper-ledger/<table>/
    full_end: AwareTime  # the FULL export the chain starts from (its time)
    end: AwareTime  # the last window end applied: the recovery point
    exports: Count  # the FULL export and the incrementals after it, as planned

    @property
    def location(self) -> ExportLocation:
        return ExportLocation(self.bucket, self.prefix)

    def ledger_url(self, table: str) -> str:
        return self.location.url(ledger_folder(self.prefix, table))


class DrillTarget(StepModel):
    """One table's drill as planned: what is restored, into which scratch table, and what it must hold."""

    table: str
    table_arn: str | None = None
    scratch_table: str
    kind: RecoveryKind | None = None  # None: nothing to restore from (problem says why)
    backup_arn: str | None = None
    recovery_point: str | None = None  # the backup's creation time, or PITR's latest restorable time (ISO)
    expected_items: int | None = None  # the backup's count (DynamoDB's estimate), the chain's FULL export's; no PITR's
    key_attributes: list[str] = []  # the source's key: what the sample is read back by
    key_schema: list[dict[str, str]] = []  # an export chain: the scratch table is created with the source's keys...
    attribute_definitions: list[dict[str, str]] = []  # ...and their types
    chain: ChainRef | None = None  # an export chain: where its exports are recorded (read when they are applied)
    note: str | None = None  # what the plan had to settle for (a chain drilled only up to a gap)
    problem: str | None = None


class DrillPlan(StepModel):
    """What Plan Drill decided. On a dry run it is the execution's whole output (the CLI prints `actions`)."""

    dry_run: bool
    tables: list[DrillTarget]
    actions: list[str]


class PlannedDrill(DrillTask):
    """Plan Drill's result, the workflow's state from then on."""

    plan: DrillPlan


class DrillTableTask(DrillTask):
    """One table's share of a drill: what the Map hands each of its iterations."""

    table: DrillTarget


class ScratchRestore(StepModel):
    """Where the scratch table's restore stands: the Wait / Check loop's state."""

    status: Literal["CREATING", "ACTIVE", "FAILED"]
    started_at: AwareTime
    polls: Count = 0
    wait_seconds: Count
    table_arn: str | None = None
    restore_seconds: float | None = None  # once ACTIVE: from the restore call to the table being usable (RTO)
    failure: str | None = None  # FAILED: why (the Restore Failed state's cause)
    reused: bool = False  # an earlier attempt of Start Scratch Restore had already started it
    apply: ApplyProgress | None = None  # an export chain: where applying its exports stands (the loop's checkpoint)


class CheckScratch(DrillTableTask):
    """A step that works on the scratch table once its restore started: Check Scratch Restore, Verify Scratch Table."""

    restore: ScratchRestore


class SampleCheck(StepModel):
    """Keys read from the source, their items read back from the scratch table, and the checksums of both."""

    sampled: Count
    matched: Count
    missing: Count  # in the source, not in the scratch table: created since the point, or lost
    different: Count  # changed since the point, or restored wrong
    source_digest: str
    scratch_digest: str


class DrillVerification(StepModel):
    """What Verify Scratch Table found; a failed check is raised as VerificationFailed (the table is still deleted)."""

    items: int
    expected_items: int | None
    count_result: str
    sample: SampleCheck
    restore_seconds: float | None
    recovery_point_age_seconds: float | None


class Failure(StepModel):
    """What stopped a table's drill before its clean-up (a caught error, a failed restore)."""

    error: str | None = None
    cause: str | None = None


class CleanUpScratch(DrillTableTask):
    """What Delete Scratch Table receives: the plan for the table, the restore if it started, its own loop."""

    restore: ScratchRestore | None = None
    cleanup: ScratchCleanup | None = None


class DrillTableResult(StepModel):
    """One Map iteration's end (its Table Drilled Pass state): what the table's drill produced. Not the table's plan
    again: the plan holds it, at the same index (a Map's results keep its items' order), and the state carries both."""

    restore: ScratchRestore | None = None
    verification: DrillVerification | None = None
    failure: Failure | None = None
    cleanup: ScratchCleanup | None = None
    error: dict[str, str] | None = None  # the clean-up's own failure, when it failed


class DrillRun(PlannedDrill):
    """What Drill Report receives: the run's state and the Map's per-table results."""

    results: list[DrillTableResult]  # plan.tables[n]'s drill is results[n]

    @model_validator(mode="after")
    def _one_result_per_table(self) -> DrillRun:
        if len(self.results) != len(self.plan.tables):
            raise ValueError(f"{len(self.results)} results for the plan's {len(self.plan.tables)} tables")
        return self

    def drilled(self) -> list[tuple[DrillTarget, DrillTableResult]]:
        """Each planned table with its drill's result."""
        return list(zip(self.plan.tables, self.results, strict=True))


class DrillLine(StepModel):
    """One table in the report (and the record the audit reads)."""

    table: str
    status: Literal["PASSED", "FAILED"]
    kind: RecoveryKind | None
    recovery_point: str | None
    backup_arn: str | None
    note: str | None = None
    scratch_table: str
    scratch_deleted: bool
    items: int | None = None
    expected_items: int | None = None
    count_result: str | None = None
    sample: SampleCheck | None = None
    restore_seconds: float | None = None
    recovery_point_age_seconds: float | None = None
    error: str | None = None
    cause: str | None = None
    drilled_at: str
    execution: str


class DrillReport(StepModel):
    """The drill's report: the execution's output, for people and dashboards."""

    status: Literal["PASSED", "FAILED"]
    tables: list[DrillLine]
    passed: int
    failed: int
    recorded: list[str] = []  # where each table's drill record went (the audit reads the newest)
    summary: str
