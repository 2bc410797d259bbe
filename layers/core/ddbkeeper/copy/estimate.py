"""What a copy will cost and how long it will take, from the source table as DynamoDB describes it now: by Scan
(`estimate`) and by export (`estimate_export`), and which of the two is cheaper (`cheaper`).

Pure arithmetic on DescribeTable's size and count (DynamoDB refreshes them about every six hours), the segments, the
caps, and list prices. It is an estimate, and says what it assumed: a Scan reads every byte of the table once (half a
read unit per 4 KiB, eventually consistent), every item is written once (a write unit per KiB, rounded up, per item,
and again for each GSI), verification scans both tables again (an append reads every source item back by key).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from ddbkeeper.models import StepModel

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

    from ddbkeeper.copy.models import CopyRequest, TableSpec  # the models hold the estimate: names for mypy only

# List prices, us-east-1, DynamoDB Standard table class (pages as published since the on-demand price cut of
# 1 Nov 2024; checked Nov 2026). Other regions and the Standard-IA class cost more: the estimate names the region.
# https://aws.amazon.com/dynamodb/pricing/on-demand/
ON_DEMAND_USD_PER_MILLION_WRITE_UNITS = 0.625
ON_DEMAND_USD_PER_MILLION_READ_UNITS = 0.125
# https://aws.amazon.com/dynamodb/pricing/provisioned/
PROVISIONED_USD_PER_WRITE_UNIT_HOUR = 0.00065
PROVISIONED_USD_PER_READ_UNIT_HOUR = 0.00013
# https://aws.amazon.com/lambda/pricing/ (x86, first tier)
LAMBDA_USD_PER_GB_SECOND = 0.0000166667
LAMBDA_USD_PER_MILLION_REQUESTS = 0.20
# https://aws.amazon.com/step-functions/pricing/ (Standard workflows)
STEP_FUNCTIONS_USD_PER_THOUSAND_TRANSITIONS = 0.025
# https://aws.amazon.com/dynamodb/pricing/on-demand/ ("Export to Amazon S3", "Import from Amazon S3")
EXPORT_USD_PER_GB = 0.10  # a FULL export: per GB of the table's size at the export's time
IMPORT_USD_PER_GB = 0.15  # ImportTable: per GB of uncompressed source data
# https://aws.amazon.com/s3/pricing/ (S3 Standard)
S3_USD_PER_GB_MONTH = 0.023
S3_USD_PER_THOUSAND_PUTS = 0.005
S3_USD_PER_THOUSAND_GETS = 0.0004
PRICES = "us-east-1 list prices (Standard table class, x86 Lambda, Standard workflows), published since Nov 2024"

# Capacity units: a write unit per KiB, a read unit per 4 KiB strongly consistent (half that, eventually consistent).
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
EVENTUALLY_CONSISTENT = 0.5

# Rates the estimate assumes where nothing caps the copy (assumptions, not measurements of this table):
SEGMENT_WRITE_UNITS_PER_SECOND = 1000.0  # one segment's writer: about one partition's write limit
SEGMENT_READ_UNITS_PER_SECOND = 3000.0  # one segment's Scan: about one partition's read limit
NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND = 4000.0  # what a new on-demand table takes at first (it grows with use)
NEW_ON_DEMAND_READ_UNITS_PER_SECOND = 12000.0
MAX_VERIFY_SCANS = 8  # Verify Copy's parallel scans per table (ddbkeeper.copy.service.MAX_VERIFY_SEGMENTS)
TARGET_READY_SECONDS = 20.0  # CreateTable until ACTIVE, for a target the copy creates
STEP_SECONDS = 1.0  # each short step (plan, prepare, finalize, report)
SEGMENT_MEMORY_GB = 1.0  # template.yaml: CopySegmentFunction and VerifyCopyFunction MemorySize 1024
STEP_MEMORY_GB = 0.25  # the short steps' MemorySize (256)
SHORT_STEPS = 4  # Plan Copy, Prepare Target (once ready), Finalize Target, Copy Report
# State transitions: Read Input, Plan Copy, Dry Run?, Prepare Target, Target Ready?, Copy Segments, Finalize Target,
# Verify Copy, Copy Report, Copy Done; a target still CREATING adds Wait, Prepare and Choice per look (every 5 s).
TOP_LEVEL_TRANSITIONS = 10
TRANSITIONS_PER_TARGET_LOOK = 3
TARGET_LOOK_SECONDS = 5.0
# Per segment: its child execution's start, Copy Segment and Segment Done? per invocation, Segment Copied.
SEGMENT_TRANSITIONS = 2
TRANSITIONS_PER_INVOCATION = 2

# A copy by export (assumptions, not measurements): DynamoDB's export and import jobs take minutes even for a small
# table, then run at about this rate; the catch-up waits for a 15-minute window at least once.
EXPORT_BASE_SECONDS = 600.0
IMPORT_BASE_SECONDS = 600.0
EXPORT_BYTES_PER_SECOND = 50 * 1024**2
IMPORT_BYTES_PER_SECOND = 20 * 1024**2
INCREMENTAL_WINDOW_SECONDS = 15 * 60  # DynamoDB's shortest incremental export window
EXPORT_DATA_FILE_BYTES = 100 * 1024**2  # about what one export data file holds: S3 requests per file
EXPORT_STORAGE_DAYS = 1.0  # the exports kept until the copy is verified (their removal is the owner's)
EXPORT_POLLS = 30  # Copy By Export calls (each a Wait, a Task and a Choice) over a typical copy
EXPORT_TRANSITIONS_PER_POLL = 3

Usd = Annotated[float, Field(ge=0)]


class CopyEstimate(StepModel):
    """A copy's cost and time as planned: what it reads and writes, what that costs, how long it takes."""

    items: int
    bytes: int
    item_bytes: float  # the average item, as DescribeTable's size and count say
    read_units: float  # the copy's Scan of the source
    write_units: float  # the copy's writes to the target, with each GSI's
    verify_read_units: float  # verification's reads, both tables
    on_demand_usd: Usd  # every unit above at on-demand request prices
    provisioned_usd: Usd  # the same units as provisioned unit-hours, kept exactly busy (the least it can cost)
    dynamodb_usd: Usd  # each table at its own billing mode (source's reads, target's writes)
    lambda_gb_seconds: float
    lambda_invocations: int
    lambda_usd: Usd
    state_transitions: int
    step_functions_usd: Usd
    total_usd: Usd  # dynamodb_usd + lambda_usd + step_functions_usd
    seconds: float  # from start to report, at the rate below
    write_units_per_second: float
    limited_by: str  # what sets that rate: a cap, the target's capacity, or the segments
    prices: str = PRICES
    assumptions: list[str] = []


class ExportCopyEstimate(StepModel):
    """A copy by export's cost and time: a FULL export of the source, an import into the target (neither uses either
    table's capacity), the exports in S3, the target counted once. Incremental exports that catch up with writes made
    meanwhile are charged like the FULL one per GB of changes: not in the figures (the writes are not known ahead)."""

    bytes: int
    export_usd: Usd
    import_usd: Usd
    s3_usd: Usd
    verify_read_units: float  # the target's items counted (a Scan with Select=COUNT)
    dynamodb_usd: Usd  # the count's reads at the target's billing mode
    lambda_usd: Usd
    step_functions_usd: Usd
    total_usd: Usd
    seconds: float
    prices: str = PRICES
    assumptions: list[str] = []


@dataclass(frozen=True)
class CopyShape:
    """What the estimate needs to know about a copy, read from the request, the source and the target's spec."""

    items: int
    bytes: int
    segments: int
    max_read_units: float | None = None
    max_write_units: float | None = None
    source_on_demand: bool = True
    target_on_demand: bool = True
    source_read_capacity: float | None = None  # provisioned: the source's read units per second
    target_write_capacity: float | None = None  # provisioned: the target's write units per second
    gsis: int = 0  # the target's global secondary indexes: each copies every item's write (ALL projection assumed)
    verify: Literal["count", "checksum", "none"] = "count"
    append: bool = False
    creates_target: bool = True
    time_budget_seconds: float = 780.0  # one Copy Segment invocation (CopySettings.COPY_TIME_BUDGET_SECONDS)


def estimate(shape: CopyShape) -> CopyEstimate:
    """The estimate for a copy of this shape (pure: the figures only)."""
    item_bytes = shape.bytes / shape.items if shape.items else 0.0
    read_units = math.ceil(shape.bytes / READ_UNIT_BYTES) * EVENTUALLY_CONSISTENT
    per_item = max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES)) if shape.items else 0
    write_units = float(shape.items * per_item * (1 + shape.gsis))
    verify_reads = _verify_reads(shape, read_units, item_bytes)

    write_rate, limited_by = _write_rate(shape)
    read_rate = _read_rate(shape)
    copy_seconds = max(write_units / write_rate, read_units / read_rate) if shape.items else 0.0
    verify_seconds = verify_reads / 2 / min(read_rate, MAX_VERIFY_SCANS * SEGMENT_READ_UNITS_PER_SECOND)
    ready_seconds = TARGET_READY_SECONDS if shape.creates_target else 0.0
    seconds = ready_seconds + copy_seconds + verify_seconds + SHORT_STEPS * STEP_SECONDS

    turns = max(1, math.ceil(copy_seconds / shape.time_budget_seconds)) if shape.time_budget_seconds else 1
    invocations = shape.segments * turns + SHORT_STEPS + (0 if shape.verify == "none" else 1)
    gb_seconds = (
        shape.segments * max(copy_seconds, STEP_SECONDS) * SEGMENT_MEMORY_GB
        + verify_seconds * SEGMENT_MEMORY_GB
        + SHORT_STEPS * STEP_SECONDS * STEP_MEMORY_GB
    )
    looks = math.ceil(ready_seconds / TARGET_LOOK_SECONDS)
    transitions = (
        TOP_LEVEL_TRANSITIONS
        + looks * TRANSITIONS_PER_TARGET_LOOK
        + shape.segments * (SEGMENT_TRANSITIONS + turns * TRANSITIONS_PER_INVOCATION)
    )

    all_reads = read_units + verify_reads
    on_demand = _on_demand(all_reads, write_units)
    provisioned = _provisioned(all_reads, write_units)
    dynamodb = (_on_demand(all_reads, 0) if shape.source_on_demand else _provisioned(all_reads, 0)) + (
        _on_demand(0, write_units) if shape.target_on_demand else _provisioned(0, write_units)
    )
    lambda_usd = gb_seconds * LAMBDA_USD_PER_GB_SECOND + invocations * LAMBDA_USD_PER_MILLION_REQUESTS / 1e6
    step_functions = transitions * STEP_FUNCTIONS_USD_PER_THOUSAND_TRANSITIONS / 1000
    return CopyEstimate(
        items=shape.items,
        bytes=shape.bytes,
        item_bytes=round(item_bytes, 1),
        read_units=read_units,
        write_units=write_units,
        verify_read_units=verify_reads,
        on_demand_usd=on_demand,
        provisioned_usd=provisioned,
        dynamodb_usd=dynamodb,
        lambda_gb_seconds=round(gb_seconds, 1),
        lambda_invocations=invocations,
        lambda_usd=lambda_usd,
        state_transitions=transitions,
        step_functions_usd=step_functions,
        total_usd=dynamodb + lambda_usd + step_functions,
        seconds=round(seconds, 1),
        write_units_per_second=write_rate,
        limited_by=limited_by,
        assumptions=_assumptions(shape),
    )


def estimate_export(shape: CopyShape) -> ExportCopyEstimate:
    """The estimate for copying a table of this shape by export (pure: the figures only)."""
    gigabytes = shape.bytes / 1024**3
    files = max(1, math.ceil(shape.bytes / EXPORT_DATA_FILE_BYTES))
    s3 = (
        gigabytes * S3_USD_PER_GB_MONTH * EXPORT_STORAGE_DAYS / 30
        + files * S3_USD_PER_THOUSAND_PUTS / 1000
        + files * S3_USD_PER_THOUSAND_GETS / 1000
    )
    count_reads = math.ceil(shape.bytes / READ_UNIT_BYTES) * EVENTUALLY_CONSISTENT if shape.verify != "none" else 0.0
    dynamodb = _on_demand(count_reads, 0) if shape.target_on_demand else _provisioned(count_reads, 0)
    lambda_usd = EXPORT_POLLS * (
        STEP_SECONDS * STEP_MEMORY_GB * LAMBDA_USD_PER_GB_SECOND + LAMBDA_USD_PER_MILLION_REQUESTS / 1e6
    )
    step_functions = (
        (TOP_LEVEL_TRANSITIONS + EXPORT_POLLS * EXPORT_TRANSITIONS_PER_POLL)
        * STEP_FUNCTIONS_USD_PER_THOUSAND_TRANSITIONS
        / 1000
    )
    export_usd, import_usd = gigabytes * EXPORT_USD_PER_GB, gigabytes * IMPORT_USD_PER_GB
    seconds = (
        EXPORT_BASE_SECONDS
        + shape.bytes / EXPORT_BYTES_PER_SECOND
        + IMPORT_BASE_SECONDS
        + shape.bytes / IMPORT_BYTES_PER_SECOND
        + count_reads / NEW_ON_DEMAND_READ_UNITS_PER_SECOND
    )
    return ExportCopyEstimate(
        bytes=shape.bytes,
        export_usd=export_usd,
        import_usd=import_usd,
        s3_usd=s3,
        verify_read_units=count_reads,
        dynamodb_usd=dynamodb,
        lambda_usd=lambda_usd,
        step_functions_usd=step_functions,
        total_usd=export_usd + import_usd + s3 + dynamodb + lambda_usd + step_functions,
        seconds=round(max(seconds, INCREMENTAL_WINDOW_SECONDS), 1),
        assumptions=[
            "size is DynamoDB's, refreshed about every six hours; the import is charged on the uncompressed size",
            "no read or write capacity used on either table by the export or the import",
            "writes made during the copy come over in incremental exports, charged per GB of changes: not included",
            f"the exports kept in S3 for {EXPORT_STORAGE_DAYS:g} day (deleting them is the bucket owner's)",
            f"export and import take {EXPORT_BASE_SECONDS / 60:.0f} minutes each at least (assumed)",
        ],
    )


def cheaper(scan: CopyEstimate, export: ExportCopyEstimate) -> tuple[Literal["scan", "export"], str]:
    """The cheaper strategy by the two estimates' totals, and why, in words (a tie goes to scan: no exports left)."""
    figures = f"scan ${scan.total_usd:,.4f}, export ${export.total_usd:,.4f}"
    if export.total_usd < scan.total_usd:
        return "export", f"export is cheaper ({figures})"
    return "scan", f"scan is cheaper or as cheap ({figures})"


def shape_of(
    request: CopyRequest, source: TableDescriptionTypeDef, spec: TableSpec, segments: int, time_budget_seconds: float
) -> CopyShape:
    """A planned copy's shape: the source as described now (size, count, billing), the target's CreateTable spec (its
    billing, capacity and GSIs; an append's target is taken to be like it), the request's caps and verification."""
    billing = source.get("BillingModeSummary", {}).get("BillingMode")
    read_capacity = float(source.get("ProvisionedThroughput", {}).get("ReadCapacityUnits", 0))
    source_on_demand = billing == "PAY_PER_REQUEST" or (billing is None and not read_capacity)
    target_on_demand = spec.get("BillingMode") == "PAY_PER_REQUEST"
    write_capacity = float(spec.get("ProvisionedThroughput", {}).get("WriteCapacityUnits", 0))
    return CopyShape(
        items=int(source.get("ItemCount", 0)),
        bytes=int(source.get("TableSizeBytes", 0)),
        segments=segments,
        max_read_units=request.max_read_units,
        max_write_units=request.max_write_units,
        source_on_demand=source_on_demand,
        target_on_demand=target_on_demand,
        source_read_capacity=None if source_on_demand else read_capacity or None,
        target_write_capacity=None if target_on_demand else write_capacity or None,
        gsis=len(spec.get("GlobalSecondaryIndexes", [])),
        verify=request.verify,
        append=request.mode == "append",
        creates_target=request.mode != "append",
        time_budget_seconds=time_budget_seconds,
    )


def _verify_reads(shape: CopyShape, read_units: float, item_bytes: float) -> float:
    if shape.verify == "none":
        return 0.0
    if shape.append:  # the source scanned again, and each item read back from the target by key
        per_item = max(1, math.ceil(item_bytes / READ_UNIT_BYTES)) * EVENTUALLY_CONSISTENT
        return read_units + shape.items * per_item
    return 2 * read_units  # both tables scanned whole


def _write_rate(shape: CopyShape) -> tuple[float, str]:
    limits = [(shape.segments * SEGMENT_WRITE_UNITS_PER_SECOND, f"{shape.segments} segments' writers (assumed rate)")]
    if shape.max_write_units:
        limits.append((shape.max_write_units, "max_write_units"))
    if shape.target_write_capacity:
        limits.append((shape.target_write_capacity, "the target's provisioned write capacity"))
    elif shape.target_on_demand:
        limits.append((NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND, "a new on-demand table's first write throughput"))
    return min(limits)


def _read_rate(shape: CopyShape) -> float:
    limits = [shape.segments * SEGMENT_READ_UNITS_PER_SECOND]
    if shape.max_read_units:
        limits.append(shape.max_read_units)
    if shape.source_read_capacity:
        limits.append(shape.source_read_capacity)
    elif shape.source_on_demand:
        limits.append(NEW_ON_DEMAND_READ_UNITS_PER_SECOND)
    return min(limits)


def _on_demand(read_units: float, write_units: float) -> float:
    return (
        read_units * ON_DEMAND_USD_PER_MILLION_READ_UNITS / 1e6
        + write_units * ON_DEMAND_USD_PER_MILLION_WRITE_UNITS / 1e6
    )


def _provisioned(read_units: float, write_units: float) -> float:
    """Unit-seconds as unit-hours: what the copy's units cost on capacity kept exactly busy. A table provisioned above
    what the copy uses pays its whole capacity anyway; one raised for the copy pays the raise for its duration."""
    return (
        read_units / 3600 * PROVISIONED_USD_PER_READ_UNIT_HOUR
        + write_units / 3600 * PROVISIONED_USD_PER_WRITE_UNIT_HOUR
    )


def _assumptions(shape: CopyShape) -> list[str]:
    notes = [
        "size and count are DynamoDB's, refreshed about every six hours",
        "each item written once at the average item size; each GSI written as often as the table",
    ]
    if not shape.max_write_units:
        notes.append(
            f"no max_write_units: {SEGMENT_WRITE_UNITS_PER_SECOND:,.0f} write units/s per segment assumed, "
            "within the target's capacity"
        )
    if shape.verify != "none":
        notes.append(f"verify {shape.verify}: both tables read again" + (" (by key)" if shape.append else ""))
    return notes
