"""The copy workflow's request and step state (see README: Copy workflow, and statemachines/copy.asl.json).

Plan Copy        CopyTask      -> PlannedCopy        (the whole state from then on: request, execution, plan, prepare)
Prepare Target   PrepareTask   -> PrepareState       ($.prepare, looped until READY)
Copy Segment     SegmentTask   -> SegmentCheckpoint  ($.checkpoint, per segment in the Map, looped until done)
Finalize Target  FinalizeTask  -> FinalSettings      ($.finalized)
Verify Segment   VerifySegmentTask -> SegmentTally   ($.tally, per segment in the Map, looped until done)
Verify Copy      VerifyTask    -> Verification       ($.verification: the segments' tallies compared)
Copy By Export   ExportCopyTask -> ExportCopyState   ($.byexport, strategy export: looped until DONE)
Copy Report      CopyRun       -> CopyReport         ($.report)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

from pydantic import AfterValidator, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ddbkeeper.apply import ApplyProgress
from ddbkeeper.copy.estimate import CopyEstimate, ExportCopyEstimate
from ddbkeeper.models import (
    AccountId,
    BackupArn,
    BucketName,
    Count,
    NamePrefix,
    S3Prefix,
    Settings,
    StepModel,
    StrictModel,
    TableLocation,
    TableName,
    TargetOverrides,
    Task,
)
from ddbkeeper.wire import WireItem

if TYPE_CHECKING:
    # CreateTable's parameters, checked against the stubs by mypy; the stubs are not shipped in the layer, so pydantic
    # sees the plain dict they are at run time.
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

    TableSpec = CreateTableInputTypeDef
else:
    TableSpec = dict[str, Any]

# A Distributed Map runs up to 10,000 children at once; past COPY_INLINE_SEGMENTS the segments' list, checkpoints and
# tallies go through the stack's bucket (Step Functions' state payload is 256 KiB), so the count is not bound by it.
MAX_SEGMENTS = 10_000
# A request is a state payload itself: a resume list longer than this would not fit in it.
MAX_RESUME = 500
Units = Annotated[float, Field(ge=0)]


class SegmentFigures(StepModel):
    """What one segment has done so far: the report's line for it."""

    segment: Annotated[int, Field(ge=0, lt=MAX_SEGMENTS)]
    items: Count = 0
    bytes: Count = 0
    pages: Count = 0
    read_units: Units = 0.0
    write_units: Units = 0.0
    throttles: Count = 0
    retried_items: Count = 0
    invocations: Count = 0
    seconds: Annotated[float, Field(ge=0)] = 0.0
    credential_refreshes: Count = 0


def _key_values(key: WireItem | None) -> WireItem | None:
    """A key as Scan returns it: each attribute one S, N or B string (a key attribute can be nothing else)."""
    for name, value in (key or {}).items():
        ((kind, inner),) = value.items() if len(value) == 1 else [("?", None)]
        if kind not in ("S", "N", "B") or not isinstance(inner, str):
            raise ValueError(f"{name}: expected a key attribute in wire form (one of S, N, B: a string), got {value}")
    return key


Rate = Annotated[float, Field(gt=0)]


class SegmentPace(StepModel):
    """What a segment learned about the tables' capacity, carried from one invocation to the next: the rates the
    tables pushed it back to (units/s; None: not pushed back), and the finished segments whose rates it took over."""

    read_rate: Rate | None = None
    write_rate: Rate | None = None
    finished_seen: Count = 0
    freed_read: Units = 0.0
    freed_write: Units = 0.0


class SegmentCheckpoint(SegmentFigures):
    """Where a segment stands: the state machine hands it back to Copy Segment until `done`.

    `exclusive_start_key` is in wire form, as Scan returned it: the next page starts after it. `pace` lets the next
    invocation go on at the rate this one found, not probe the table again.
    """

    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)]
    exclusive_start_key: Annotated[WireItem | None, AfterValidator(_key_values)] = None
    done: bool = False
    pace: SegmentPace | None = None


Strategy = Literal["scan", "export"]


class ExportBucket(StrictModel):
    """Where a copy by export puts the source's exports: a bucket the target account can read (in it, or shared with
    it). `bucket_owner`: the account that owns the bucket; by default the target's account when the accounts differ
    (ExportTableToPointInTime's S3BucketOwner), else nobody's in particular."""

    bucket: BucketName
    prefix: S3Prefix = "ddbkeeper-copies"
    bucket_owner: AccountId | None = None


# What only a Scan copy honours: an export copies the whole table at once, with no segments, checkpoints or read caps,
# and ImportTable creates the table with no table class, stream or deletion protection of its own choosing.
SCAN_ONLY = ("segments", "max_read_units", "resume", "resumes")
SCAN_ONLY_OVERRIDES = ("table_class", "stream", "deletion_protection")


class CopyRequest(StrictModel):
    """Input of the copy workflow (see README: Copy workflow)."""

    source: TableLocation
    target: TableLocation
    mode: Literal["create", "recreate", "append"] = "create"
    confirm_recreate: TableName | None = None
    confirm_append: TableName | None = None
    allow_protected_target: bool = False  # append into a table with deletion protection (it is somebody's keeper)
    segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)] | Literal["auto"] = "auto"
    max_read_units: Annotated[float, Field(gt=0)] | None = None
    max_write_units: Annotated[float, Field(gt=0)] | None = None
    verify: Literal["count", "checksum", "none"] = "count"
    target_overrides: TargetOverrides = TargetOverrides()
    # The final checkpoints of a failed run (its Map's results): each segment starts where it stopped.
    resume: Annotated[list[SegmentCheckpoint], Field(min_length=1, max_length=MAX_RESUME)] | None = None
    # mode create: the execution this run continues; the target it created is adopted (ddbkeeper.copy.adoption)
    resumes: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    dry_run: bool = False
    # scan: Scan -> BatchWriteItem; export: ExportTableToPointInTime, ImportTable, then incremental exports applied;
    # auto: the cheaper of the two for the table as it is (the plan says which and why).
    strategy: Literal["scan", "export", "auto"] = "scan"
    export: ExportBucket | None = None  # strategy export or auto: where the exports go

    def scan_only(self) -> list[str]:
        """The options given that only a Scan copy honours (verify checksum: an export copy counts)."""
        given = [name for name in SCAN_ONLY if getattr(self, name) not in (None, "auto")]
        given += [
            f"target_overrides.{name}"
            for name in SCAN_ONLY_OVERRIDES
            if getattr(self.target_overrides, name) is not None
        ]
        return given + (["verify"] if self.verify == "checksum" else [])

    @model_validator(mode="after")
    def _strategy(self) -> CopyRequest:
        if self.strategy == "scan":
            if self.export is not None:
                raise ValueError("export goes with strategy export or auto (where the exports go)")
            return self
        if self.mode == "append":
            _invalid(
                ("strategy",),
                f"{self.strategy} needs mode create or recreate: ImportTable creates the target, it cannot add to "
                "a table; use strategy scan to append",
            )
        if self.export is None:
            _invalid(
                ("export", "bucket"),
                f"strategy {self.strategy} needs export.bucket: a bucket the target account can read, where the "
                "source's exports go",
            )
        refused = self.scan_only()
        if self.strategy == "export" and refused:
            _invalid(
                tuple(refused[0].split(".")),
                f"strategy export cannot honour {', '.join(refused)} (an export copy has no segments, checkpoints, "
                "read caps or checksums, and ImportTable sets no table class, stream or deletion protection); leave "
                "them out or use strategy scan",
            )
        return self

    @model_validator(mode="after")
    def _guardrails(self) -> CopyRequest:
        if self.mode == "recreate" and self.confirm_recreate is None:
            raise ValueError("mode recreate needs confirm_recreate naming the target table")
        if self.mode != "recreate" and self.confirm_recreate is not None:
            raise ValueError("confirm_recreate goes with mode recreate")
        if self.mode == "append" and self.confirm_append is None:
            raise ValueError(
                "mode append needs confirm_append naming the target table (items with the same keys are overwritten)"
            )
        if self.mode != "append" and self.confirm_append is not None:
            raise ValueError("confirm_append goes with mode append")
        if self.allow_protected_target and self.mode != "append":
            raise ValueError("allow_protected_target goes with mode append (a protected table is never dropped)")
        if self.resume is not None and (self.mode == "recreate" or (self.mode == "create" and self.resumes is None)):
            raise ValueError(
                "resume needs mode append, or mode create with resumes naming the execution that created the target "
                "(the target already holds the copied pages)"
            )
        if self.resumes is not None and self.mode != "create":
            raise ValueError("resumes goes with mode create (an append names its target in confirm_append)")
        if self.resume is not None:
            _check_resume(self.resume, self.segments)
        return self


def _check_resume(resume: list[SegmentCheckpoint], segments: int | Literal["auto"]) -> None:
    """The checkpoints of one run: one total_segments, each segment once and within it, the request's count if given."""
    total = resume[0].total_segments
    seen: dict[int, int] = {}
    for n, checkpoint in enumerate(resume):
        if checkpoint.total_segments != total:
            _invalid(
                ("resume", n, "total_segments"),
                f"{checkpoint.total_segments}, but resume.0.total_segments is {total}: checkpoints of one run agree",
            )
        if checkpoint.segment >= total:
            _invalid(("resume", n, "segment"), f"{checkpoint.segment} is not below total_segments {total}")
        if checkpoint.segment in seen:
            _invalid(
                ("resume", n, "segment"), f"segment {checkpoint.segment} again (resume.{seen[checkpoint.segment]})"
            )
        seen[checkpoint.segment] = n
    if segments not in ("auto", total):
        _invalid(
            ("segments",),
            f"{segments}, but the resume checkpoints cut the table into {total} segments "
            f"(resume.0.total_segments); leave segments out or give {total}",
        )


def _invalid(loc: tuple[str | int, ...], message: str) -> NoReturn:
    """Fail validation at `loc` (the field the message is about), not at the request as a whole."""
    error = PydanticCustomError("value_error", "{reason}", {"reason": message})
    raise ValidationError.from_exception_data("CopyRequest", [InitErrorDetails(type=error, loc=loc, input=message)])


class CopySettings(Settings):
    """The copy functions' environment (template.yaml)."""

    # A Copy Segment invocation returns its checkpoint after this long (or sooner, when Lambda's time runs short).
    COPY_TIME_BUDGET_SECONDS: Annotated[float, Field(ge=0)] = 780.0
    # A Copy Segment invocation persists its checkpoint (a PUT to SETTINGS_BUCKET) at most this often: a crash
    # re-copies about this much work (plus the page in flight), whatever the invocation's length.
    COPY_CHECKPOINT_SECONDS: Annotated[float, Field(ge=0)] = 5.0
    # Tables the stack creates carry ddbkeeper:managed-by=<stack name>: IAM lets the stack change only those.
    STACK_NAME: Annotated[str, Field(min_length=1, max_length=256)] = "ddbkeeper"
    # The backup a recreate takes before the drop is named as the backup workflow names its own, so retention keeps it.
    BACKUP_NAME_PREFIX: NamePrefix = "ddbkeeper"
    # The stack's bucket: the pre-drop backup's record (settings, proof of making); the segments' persisted checkpoints.
    SETTINGS_BUCKET: str | None = None
    # More segments than this go through the stack's bucket (the list, checkpoints, tallies), not the state payload:
    # the plan, each segment's checkpoint, its result and its tally take ~1 KiB of the 256 KiB per segment inline.
    COPY_INLINE_SEGMENTS: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)] = 100
    # Where the segments of a copy mark themselves finished, so that the others take their share of the caps
    # (ddbkeeper.copy.board): the stack's bucket.
    COPY_BOARD_BUCKET: str | None = None
    # Only on the embedded runtime: its own server, which holds the copy's folder (board, checkpoints).
    STACK_FOLDERS_ENDPOINT: str | None = None


class CopyTask(Task[CopyRequest]):
    """What the first step receives: the request and who runs it."""


# --- the plan ----------------------------------------------------------------------------------------------------


class Caps(StepModel):
    """Absolute capacity caps for one segment, in units/s: the request's caps shared out among the segments."""

    read: Units | None = None
    write: Units | None = None


class FinalSettings(StepModel):
    """The settings that go on the target after the data: TTL would start deleting copied items mid-copy, PITR would
    log the whole load. In the plan: what the source has; from Finalize Target: what was applied."""

    ttl_attribute: str | None = None
    pitr: bool = False
    skipped: str | None = None  # why nothing was applied (an append leaves the target's settings to its owner)


class AppendCheck(StepModel):
    """An append's verification: every source item read back from the target by its key and compared as written.

    The target's own other items do not count; `missing` and `different` name a few keys (wire form) as examples.
    """

    checked: Count = 0
    missing: Count = 0
    different: Count = 0
    missing_keys: list[WireItem] = []
    different_keys: list[WireItem] = []

    def failed(self) -> bool:
        return bool(self.missing or self.different)


class SideTally(StepModel):
    """One table's side of a segment's verification so far: items counted, the sum of their digests (checksum only,
    64 hex digits: the sums of the segments add up), and where the next page starts."""

    items: Count = 0
    digest: str | None = None
    pages: Count = 0
    exclusive_start_key: Annotated[WireItem | None, AfterValidator(_key_values)] = None
    done: bool = False


class SegmentTally(StepModel):
    """Where one segment's verification stands: Verify Segment returns it, not yet `done`, when its Lambda's time runs
    short, and is called again with it (like Copy Segment's loop), so a segment of any size is verified.

    count and checksum tally both tables' segment; an append reads the source's segment back from the target by key
    (`append`), and tallies the source only."""

    segment: Annotated[int, Field(ge=0, lt=MAX_SEGMENTS)]
    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)]
    source: SideTally = SideTally()
    target: SideTally = SideTally()
    append: AppendCheck | None = None
    invocations: Count = 0
    done: bool = False


class SegmentStore(StepModel):
    """Where a copy with more segments than the state payload holds keeps them: the execution's folder in the stack's
    bucket. The Maps read the segments' list with ItemReader; each segment puts its final checkpoint and tally there
    itself, and the steps after the Maps read them back (the Maps' own results go to ResultWriter, unread)."""

    bucket: str
    folder: str  # ddbkeeper-copies/<execution>/
    segments_key: str  # the JSON list of the segments' starting checkpoints (those a resume copies, else all)
    verify_key: str  # the JSON list of every segment's number: all are verified, whichever were copied


class CopyPlan(StepModel):
    """Everything checked and decided before anything is changed; a dry run's whole output."""

    dry_run: bool
    actions: list[str]  # what the copy will do, in words
    source_arn: str
    source_items_estimate: Count  # DynamoDB's estimates (refreshed about every six hours)
    source_bytes_estimate: Count
    segments: list[SegmentCheckpoint]  # where each segment starts: at the beginning, or where a failed run stopped
    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)]
    caps: Caps
    target_spec: TableSpec  # CreateTable's parameters (ddbkeeper.copy.target.target_spec)
    finalize: FinalSettings
    key_attributes: list[str] = []  # the source's key (HASH, then RANGE): what Verify Segment reads an append back by
    # Every segment of the table, which the verify Map tallies (a resume may copy only some of them).
    verify_segments: list[Annotated[int, Field(ge=0, lt=MAX_SEGMENTS)]] = []
    segments_in_s3: bool = False  # past COPY_INLINE_SEGMENTS: `segments`, `verify_segments` empty, `store` lists them
    store: SegmentStore | None = None
    pre_drop_backup: str | None = None  # recreate: the name of the backup taken of the target before it is dropped
    estimate: CopyEstimate | None = None  # cost and time, for the source as described at planning
    strategy: Strategy = "scan"  # how the data goes: the request's, or what auto chose
    strategy_reason: str | None = None  # why (auto: the two estimates compared)
    export_estimate: ExportCopyEstimate | None = None  # strategy export or auto: the export copy's cost
    export_bucket: ExportBucket | None = None  # strategy export: where the exports go (owner resolved)


class PreDropBackup(StepModel):
    """The on-demand backup a recreate takes of the target before dropping it, named and recorded as the backup
    workflow's own (so its retention rules keep and eventually prune it)."""

    name: str
    arn: BackupArn
    status: str  # CREATING, then AVAILABLE: only then is the table dropped
    record: str | None = None  # where its record is (the table's settings, and the proof ddbkeeper made it)
    record_error: str | None = None  # why it was not written: the backup stands regardless, but retention skips it


class PrepareState(StepModel):
    """Where the target stands: `phase` is READY once it and its indexes are ACTIVE, BACKING_UP while a recreate's
    pre-drop backup is being made, else the table's status (START before the first step).

    `deleted`: the old target was dropped for a recreate, so it is never dropped again. `created`: this execution's
    CreateTable made the table, so later turns may use it; any other existing table is used only if its
    ddbkeeper:execution tag names this execution (a retried step whose reply was lost).
    """

    phase: str = "START"
    deleted: bool = False
    polls: Count = 0
    created: bool = False
    backup: PreDropBackup | None = None


class PlannedCopy(CopyTask):
    """Plan Copy's result, the workflow's state from then on. `segments` and `tallies` are the Maps' results when they
    are inline; empty when the segments go through the stack's bucket (`plan.store`)."""

    plan: CopyPlan
    prepare: PrepareState
    segments: list[SegmentCheckpoint] = []
    tallies: list[SegmentTally] = []
    byexport: ExportCopyState | None = None  # strategy export: Copy By Export's state


# --- the steps after the plan ------------------------------------------------------------------------------------


class PrepareTask(CopyTask):
    """Prepare Target's input: the target's spec and where the previous turn of the loop left it."""

    target_spec: TableSpec
    prepare: PrepareState
    strategy: Strategy = "scan"  # export: the target is only cleared (ImportTable creates it)


class SegmentTask(CopyTask):
    """Copy Segment's input: one Map item, the segment's checkpoint and its share of the caps. `listed`: the segments
    go through the stack's bucket, so the final checkpoint must be put there (it is the segment's result)."""

    checkpoint: SegmentCheckpoint
    caps: Caps
    listed: bool = False


class FinalizeTask(CopyTask):
    """Finalize Target's input: the settings to apply now that the data is in."""

    finalize: FinalSettings


class VerifySegmentTask(CopyTask):
    """Verify Segment's input: one Map item, the segment's tally so far, the source's key (an append's read-back)."""

    tally: SegmentTally
    key_attributes: list[str] = []
    listed: bool = False  # the segments go through the stack's bucket: the final tally is put there


class VerifyTask(CopyTask):
    """Verify Copy's input: every segment's final tally (the verify Map's results) and every segment's final
    checkpoint (the copy Map's: what the copy read from the source, to tell whether the source changed meanwhile)."""

    tallies: list[SegmentTally]
    segments: list[SegmentCheckpoint] = []
    store: SegmentStore | None = None  # when set, the tallies and checkpoints are read from there
    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)] | None = None
    byexport: ExportCopyState | None = None  # strategy export: the target counted against the exports' figures


class SegmentVerification(StepModel):
    """A segment's line in the verification: the items each side had (the target's: None after an append, whose
    target holds its own items too), what the copy read from the source's segment, and whether the sides differ."""

    segment: Annotated[int, Field(ge=0, lt=MAX_SEGMENTS)]
    source_items: Count
    target_items: Count | None = None
    copied_items: Count | None = None  # None when the copy's checkpoints were not given
    differs: bool = False


class Verification(StepModel):
    """Source and target agreed: on the count of items, or on the count and the digest of every item; after an
    append, on every source item being in the target as written (`append`). Per segment, the items each side had.

    `warnings`: what the copy cannot vouch for although the tables agree now, e.g. a source that changed during the
    copy (a Scan copy is not a snapshot)."""

    verify: Literal["count", "checksum", "none"]
    items: Count | None = None
    digest: str | None = None  # 64 hex digits: the order-free sum of the items' SHA-256 (checksum only)
    append: AppendCheck | None = None
    segments: list[SegmentVerification] = []  # every segment's line; with the segments in S3, the differing ones only
    differing_segments: list[int] = []
    warnings: list[str] = []
    details: str | None = None  # with the segments in S3: where every segment's line is (s3://...)


class CopyRun(CopyTask):
    """Copy Report's input: every segment's final checkpoint (the Map's results), the verification, the settings."""

    segments: list[SegmentCheckpoint]
    verification: Verification
    finalized: FinalSettings
    prepare: PrepareState = PrepareState()  # where Prepare Target left the target: the pre-drop backup, if any
    store: SegmentStore | None = None  # when set, the final checkpoints are read from there
    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)] | None = None
    byexport: ExportCopyState | None = None  # strategy export: what the exports brought


# --- the report --------------------------------------------------------------------------------------------------


class CopyTotals(StepModel):
    items: Count
    bytes: Count
    pages: Count
    read_units: Units
    write_units: Units
    throttles: Count
    retried_items: Count
    invocations: Count
    credential_refreshes: Count
    segments: Count
    segment_seconds: Annotated[float, Field(ge=0)]  # the segments' time added up, not the copy's wall time


class CopyReport(StepModel):
    """The copy's report: the execution's output, for people and dashboards."""

    status: Literal["SUCCEEDED"]
    source: str
    target: str
    mode: Literal["create", "recreate", "append"]
    totals: CopyTotals
    verification: Verification
    finalized: FinalSettings
    segments: list[SegmentFigures]
    pre_drop_backup: PreDropBackup | None = None  # recreate: the backup of the old target, taken before the drop
    warnings: list[str] = []  # what a reader must know although the copy succeeded (the verification's warnings)
    details: str | None = None  # with the segments in S3: where every segment's line is; `segments` is empty then
    strategy: Strategy = "scan"
    # strategy export: the moment the target holds the source as of (the last export's end): a consistent snapshot
    point_in_time: datetime | None = None
    by_export: ExportCopySummary | None = None


# --- copy by export ------------------------------------------------------------------------------------------------

ExportPhase = Literal["START", "EXPORTING", "IMPORTING", "APPLYING", "CATCHING_UP", "COUNTING", "DONE"]


class ExportStep(StepModel):
    """One export of the source the copy made: the FULL one it imported, or an incremental one it applied."""

    kind: Literal["FULL", "INCREMENTAL"]
    arn: str
    start: datetime | None = None  # INCREMENTAL: ExportFromTime
    end: datetime  # FULL: ExportTime; INCREMENTAL: ExportToTime (the point the target is at once it is in)
    items: Count = 0  # what DynamoDB says it exported (a FULL export's items, an incremental's changes)
    where: str | None = None  # s3://... its data folder (FULL) or manifest-summary.json (INCREMENTAL)


class ExportCopyState(StepModel):
    """Where a copy by export stands ($.byexport); Copy By Export takes one step per call and the state machine calls
    it again (after `wait_seconds`) until `phase` is DONE.

    START -> EXPORTING (FULL) -> IMPORTING -> CATCHING_UP -> [EXPORTING (INCREMENTAL) -> APPLYING -> CATCHING_UP]...
    -> COUNTING -> DONE. `point` is the moment the target holds the source as of: the last export's end."""

    phase: ExportPhase = "START"
    polls: Count = 0  # calls so far, every phase
    wait_seconds: Annotated[int, Field(ge=0)] = 0
    export: ExportStep | None = None  # the export in flight (EXPORTING) or being applied (APPLYING)
    exports: list[ExportStep] = []  # the exports done and in the target, in order
    import_arn: str | None = None
    imported_items: Count = 0
    point: datetime | None = None
    apply: ApplyProgress = ApplyProgress()  # the incremental being applied; its totals carry on across exports
    counted: Count = 0  # COUNTING: the target's items so far
    count_key: Annotated[WireItem | None, AfterValidator(_key_values)] = None  # where the count's next page starts
    expected: Count | None = None  # imported + inserted - removed (None: a NEW_IMAGE export left it unknown)


class ExportCopyTask(CopyTask):
    """Copy By Export's input: the plan and where the previous call left the copy."""

    plan: CopyPlan
    byexport: ExportCopyState | None = None


class ExportCopySummary(StepModel):
    """The report's account of a copy by export."""

    point_in_time: datetime
    snapshot: str  # what `point_in_time` means, in words
    exports: list[ExportStep]
    imported_items: Count
    puts: Count
    deletes: Count
    write_units: float
    expected_items: Count | None


# Models above name ExportCopyState and ExportCopySummary before they are defined.
for _model in (PlannedCopy, VerifyTask, CopyRun, CopyReport):
    _model.model_rebuild()
