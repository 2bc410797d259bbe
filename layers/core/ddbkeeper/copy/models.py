"""The copy workflow's request and step state (see README: Copy workflow, and statemachines/copy.asl.json).

Plan Copy        CopyTask      -> PlannedCopy        (the whole state from then on: request, execution, plan, prepare)
Prepare Target   PrepareTask   -> PrepareState       ($.prepare, looped until READY)
Copy Segment     SegmentTask   -> SegmentCheckpoint  ($.checkpoint, per segment in the Map, looped until done)
Finalize Target  FinalizeTask  -> FinalSettings      ($.finalized)
Verify Copy      VerifyTask    -> Verification       ($.verification)
Copy Report      CopyRun       -> CopyReport         ($.report)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from ddbkeeper.models import Count, Settings, StepModel, StrictModel, TableLocation, TableName, TargetOverrides, Task
from ddbkeeper.wire import WireItem

if TYPE_CHECKING:
    # CreateTable's parameters, checked against the stubs by mypy; the stubs are not shipped in the layer, so pydantic
    # sees the plain dict they are at run time.
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

    TableSpec = CreateTableInputTypeDef
else:
    TableSpec = dict[str, Any]

# The Map's result (one small checkpoint per segment) must stay under Step Functions' 256 KiB payload limit.
MAX_SEGMENTS = 500
Units = Annotated[float, Field(ge=0)]


class CopyRequest(StrictModel):
    """Input of the copy workflow (see README: Copy workflow)."""

    source: TableLocation
    target: TableLocation
    mode: Literal["create", "recreate", "append"] = "create"
    confirm_recreate: TableName | None = None
    segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)] | Literal["auto"] = "auto"
    max_read_units: Annotated[float, Field(gt=0)] | None = None
    max_write_units: Annotated[float, Field(gt=0)] | None = None
    verify: Literal["count", "checksum", "none"] = "count"
    target_overrides: TargetOverrides = TargetOverrides()
    # The final checkpoints of a failed run (its Map's results): the plan reads them as SegmentCheckpoints.
    resume: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_SEGMENTS)] | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _guardrails(self) -> CopyRequest:
        if self.mode == "recreate" and self.confirm_recreate is None:
            raise ValueError("mode recreate needs confirm_recreate naming the target table")
        if self.mode != "recreate" and self.confirm_recreate is not None:
            raise ValueError("confirm_recreate goes with mode recreate")
        if self.resume is not None and self.mode != "append":
            raise ValueError("resume needs mode append (the target already holds the copied pages)")
        return self


class CopySettings(Settings):
    """The copy functions' environment (template.yaml)."""

    # A Copy Segment invocation returns its checkpoint after this long (or sooner, when Lambda's time runs short).
    COPY_TIME_BUDGET_SECONDS: Annotated[float, Field(ge=0)] = 780.0


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


class SegmentCheckpoint(SegmentFigures):
    """Where a segment stands: the state machine hands it back to Copy Segment until `done`.

    `exclusive_start_key` is in wire form, as Scan returned it: the next page starts after it.
    """

    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)]
    exclusive_start_key: WireItem | None = None
    done: bool = False


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


class PrepareState(StepModel):
    """Where the target stands: `phase` is READY once it and its indexes are ACTIVE, else the table's status (START
    before the first step). `deleted`: the old target was dropped for a recreate, so it is never dropped again."""

    phase: str = "START"
    deleted: bool = False
    polls: Count = 0


class PlannedCopy(CopyTask):
    """Plan Copy's result, the workflow's state from then on."""

    plan: CopyPlan
    prepare: PrepareState


# --- the steps after the plan ------------------------------------------------------------------------------------


class PrepareTask(CopyTask):
    """Prepare Target's input: the target's spec and where the previous turn of the loop left it."""

    target_spec: TableSpec
    prepare: PrepareState


class SegmentTask(CopyTask):
    """Copy Segment's input: one Map item, the segment's checkpoint and its share of the caps."""

    checkpoint: SegmentCheckpoint
    caps: Caps


class FinalizeTask(CopyTask):
    """Finalize Target's input: the settings to apply now that the data is in."""

    finalize: FinalSettings


class VerifyTask(CopyTask):
    """Verify Copy's input: the segments of the copy, which the verifying scans use too (at most 8)."""

    total_segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)]


class Verification(StepModel):
    """Source and target agreed: on the count of items, or on the count and the digest of every item."""

    verify: Literal["count", "checksum", "none"]
    items: Count | None = None
    digest: str | None = None  # 64 hex digits: the order-free sum of the items' SHA-256 (checksum only)


class CopyRun(CopyTask):
    """Copy Report's input: every segment's final checkpoint (the Map's results), the verification, the settings."""

    segments: list[SegmentCheckpoint]
    verification: Verification
    finalized: FinalSettings


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
