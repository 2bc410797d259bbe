"""The copy engine: plan, target preparation, segment copying with checkpoints, finalisation and verification.

Every piece takes its AWS access through a `TableSide` (a table behind a session factory, able to assume its role
again when the credentials expire) and returns plain data the state machine carries between steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception_type, wait_random_exponential

from ddbkeeper import __version__
from ddbkeeper.aws import CONTROL_PLANE_CONFIG, SessionFactory, error_code, translate_errors
from ddbkeeper.copy_models import MAX_SEGMENTS, CopyRequest, CopyTask, TableLocation, TargetOverrides
from ddbkeeper.errors import (
    AccessDenied,
    AwsError,
    TableNotFound,
    TargetExists,
    Throttled,
    TransientAwsError,
    UnsafeOperation,
    VerificationFailed,
)
from ddbkeeper.pacing import AdaptiveLimiter
from ddbkeeper.settings import tags_of
from ddbkeeper.tables import describe, pitr_description, pitr_on, ttl_attribute
from ddbkeeper.wire import WireItem, WireTable

Client = Any  # interim: typed clients arrive with the workflow package
logger = Logger(child=True)
T = TypeVar("T")

# The data path sees every throttle itself (no SDK retries) so that the limiter can adapt; waits are ours.
DATA_PLANE_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    user_agent_extra=f"ddbkeeper/{__version__}",
    max_pool_connections=32,
    read_timeout=30,
)
EXPIRED_CODES = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}
BATCH_SIZE = 25
SEGMENT_BYTES = 256 * 1024**2  # one segment per 256 MiB: a few minutes of work for one Lambda


class UnprocessedItemsRemain(Exception):
    """Internal: DynamoDB handed back part of a batch; the retry loop re-sends it."""


# --- access --------------------------------------------------------------------------------------------------------


class TableSide:
    """One side of a copy: a table behind a role, with clients rebuilt when the credentials expire."""

    def __init__(self, factory: SessionFactory, location: TableLocation, config: Config = DATA_PLANE_CONFIG) -> None:
        self.factory = factory
        self.location = location
        self.config = config
        self.refreshes = 0
        self._client: Client | None = None

    @property
    def name(self) -> str:
        return self.location.table

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self.factory.client("dynamodb", self.location.access(), self.config)
        return self._client

    def control(self) -> Client:
        return self.factory.client("dynamodb", self.location.access(), CONTROL_PLANE_CONFIG)

    def wire(self) -> WireTable:
        return WireTable(self.client, self.name)

    def refresh(self) -> None:
        self.refreshes += 1
        self._client = None

    def call(self, operation: str, action: Callable[[WireTable], T], wire: list[WireTable]) -> T:
        """Run one data-path call; expired credentials are renewed (the role assumed again) and the call repeated."""
        for _ in range(3):
            with translate_errors(operation, self.name):
                try:
                    return action(wire[0])
                except ClientError as error:
                    if error_code(error) not in EXPIRED_CODES:
                        raise
            logger.info("credentials expired; assuming the role again", extra={"table": self.name})
            self.refresh()
            wire[0] = self.wire()
        raise AccessDenied(f"{operation} {self.name}: credentials still expired after assuming the role again")


def sides(task: CopyTask) -> tuple[TableSide, TableSide]:
    """Source and target of a copy step, with STS sessions named after the execution."""
    factory = SessionFactory(session_name=f"ddbkeeper-{task.execution.name}")
    return TableSide(factory, task.request.source), TableSide(factory, task.request.target)


# --- planning ------------------------------------------------------------------------------------------------------


def choose_segments(
    size_bytes: int, max_read_units: float | None, max_write_units: float | None, item_count: int = 0
) -> int:
    """Segments for `auto`: one per 256 MiB, fewer when a capacity cap leaves each too little to do (>= 25 units/s)."""
    by_size = max(1, math.ceil(size_bytes / SEGMENT_BYTES))
    if item_count and item_count < 1000:
        by_size = 1
    caps = [cap for cap in (max_read_units, max_write_units) if cap is not None]
    by_capacity = min((max(1, int(cap // 25)) for cap in caps), default=MAX_SEGMENTS)
    return max(1, min(by_size, by_capacity, MAX_SEGMENTS))


def target_spec(source: dict[str, Any], tags: dict[str, str], overrides: TargetOverrides, name: str) -> dict[str, Any]:
    """CreateTable parameters for a target like the source: keys, indexes, capacity, SSE, class, stream, tags."""
    dropped = set(overrides.drop_indexes)
    billing = overrides.billing_mode or source.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if source.get("BillingModeSummary") is None and not source.get("ProvisionedThroughput", {}).get(
        "ReadCapacityUnits"
    ):
        billing = overrides.billing_mode or "PAY_PER_REQUEST"
    spec: dict[str, Any] = {
        "TableName": name,
        "KeySchema": source["KeySchema"],
        "BillingMode": billing,
    }

    def throughput(described: dict[str, Any]) -> dict[str, int]:
        return {
            "ReadCapacityUnits": overrides.read_capacity or max(1, described.get("ReadCapacityUnits", 0)),
            "WriteCapacityUnits": overrides.write_capacity or max(1, described.get("WriteCapacityUnits", 0)),
        }

    if billing == "PROVISIONED":
        spec["ProvisionedThroughput"] = throughput(source.get("ProvisionedThroughput", {}))
    gsis = []
    for index in source.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in dropped:
            continue
        gsi = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = throughput(index.get("ProvisionedThroughput", {}))
        gsis.append(gsi)
    lsis = [
        {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
        for index in source.get("LocalSecondaryIndexes", [])
        if index["IndexName"] not in dropped
    ]
    if gsis:
        spec["GlobalSecondaryIndexes"] = gsis
    if lsis:
        spec["LocalSecondaryIndexes"] = lsis
    used = {key["AttributeName"] for key in spec["KeySchema"]}
    used |= {key["AttributeName"] for index in gsis + lsis for key in index["KeySchema"]}
    spec["AttributeDefinitions"] = [a for a in source["AttributeDefinitions"] if a["AttributeName"] in used]
    sse = source.get("SSEDescription", {})
    if overrides.sse_kms_key_id:
        spec["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": overrides.sse_kms_key_id}
    elif sse.get("Status") in ("ENABLED", "ENABLING") and sse.get("SSEType") == "KMS":
        # The source's key may live in another account: the target gets the AWS managed key unless one is named.
        spec["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
    table_class = overrides.table_class or source.get("TableClassSummary", {}).get("TableClass")
    if table_class:
        spec["TableClass"] = table_class
    stream = source.get("StreamSpecification", {})
    stream_on = overrides.stream if overrides.stream is not None else stream.get("StreamEnabled", False)
    if stream_on:
        spec["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream.get("StreamViewType", "NEW_AND_OLD_IMAGES"),
        }
    merged_tags = tags | overrides.tags
    if merged_tags:
        spec["Tags"] = [{"Key": key, "Value": value} for key, value in sorted(merged_tags.items())]
    protection = overrides.deletion_protection
    spec["DeletionProtectionEnabled"] = (
        source.get("DeletionProtectionEnabled", False) if protection is None else protection
    )
    return spec


def plan_copy(request: CopyRequest, factory: SessionFactory) -> dict[str, Any]:
    """Check everything the copy needs and refuse what it must not do, before anything is changed."""
    source_client = TableSide(factory, request.source).control()
    target_client = TableSide(factory, request.target).control()
    source = describe(source_client, request.source.table)
    if source is None:
        raise TableNotFound(f"source.table: {request.source.table} does not exist")
    target = describe(target_client, request.target.table)
    _refuse_unsafe(request, source, target)
    spec = target_spec(
        source, tags_of(source_client, source["TableArn"]), request.target_overrides, request.target.table
    )
    for index in request.target_overrides.drop_indexes:
        known = {
            i["IndexName"] for i in source.get("GlobalSecondaryIndexes", []) + source.get("LocalSecondaryIndexes", [])
        }
        if index not in known:
            raise UnsafeOperation(f"target_overrides.drop_indexes: the source has no index {index!r}")
    if request.segments == "auto":
        total = choose_segments(
            source.get("TableSizeBytes", 0), request.max_read_units, request.max_write_units, source.get("ItemCount", 0)
        )
    else:
        total = request.segments
    if request.resume:
        segments = [SegmentCheckpoint.from_dict(cp).as_dict() for cp in request.resume]
        total = segments[0]["total_segments"]
    else:
        segments = [SegmentCheckpoint(segment=i, total_segments=total).as_dict() for i in range(total)]
    return {
        "dry_run": request.dry_run,
        "actions": _actions(request, source, target, spec, total),
        "source_arn": source["TableArn"],
        "source_items_estimate": source.get("ItemCount", 0),
        "source_bytes_estimate": source.get("TableSizeBytes", 0),
        "segments": segments,
        "total_segments": total,
        "caps": {
            "read": request.max_read_units / total if request.max_read_units else None,
            "write": request.max_write_units / total if request.max_write_units else None,
        },
        "target_spec": spec,
        "finalize": _settings_after_data(source_client, request.source.table),
    }


def _actions(
    request: CopyRequest, source: dict[str, Any], target: dict[str, Any] | None, spec: dict[str, Any], segments: int
) -> list[str]:
    """What the copy will do, in words: the whole output of a dry run, and the first lines of a real one's plan."""
    name = request.target.table
    actions = []
    if request.mode == "recreate" and target is not None:
        actions.append(f"drop table {name} ({target.get('ItemCount', 0):,} items) and create it again")
    if request.mode in ("create", "recreate"):
        indexes = len(spec.get("GlobalSecondaryIndexes", [])), len(spec.get("LocalSecondaryIndexes", []))
        actions.append(f"create table {name}: {spec['BillingMode']}, {indexes[0]} GSI, {indexes[1]} LSI")
    else:
        actions.append(f"add to table {name} (items with the same keys are overwritten)")
    actions.append(
        f"copy about {source.get('ItemCount', 0):,} items ({source.get('TableSizeBytes', 0) / 1024**2:,.1f} MiB) "
        f"from {source['TableArn']} in {segments} segments"
    )
    actions.append(f"verify: {request.verify}")
    return actions


def _refuse_unsafe(request: CopyRequest, source: dict[str, Any], target: dict[str, Any] | None) -> None:
    """The guardrails: never write to the source, never replace what the mode does not allow replacing."""
    same_place = (request.source.role_arn, request.source.region) == (request.target.role_arn, request.target.region)
    if (target is not None and target["TableArn"] == source["TableArn"]) or (
        same_place and request.source.table == request.target.table
    ):
        raise UnsafeOperation("target: the target is the source table; a copy never writes to its source")
    if request.mode == "create" and target is not None:
        raise TargetExists(f"target.table: {request.target.table} exists; use mode append or recreate")
    if request.mode == "append":
        if target is None:
            raise TableNotFound(f"target.table: {request.target.table} does not exist (mode append)")
        if _keys(target) != _keys(source):
            raise UnsafeOperation(f"target.table: key schema {_keys(target)} differs from the source's {_keys(source)}")
    if request.mode == "recreate":
        if request.confirm_recreate != request.target.table:
            raise UnsafeOperation(
                f"confirm_recreate: must name the target table {request.target.table!r} to drop and recreate it"
            )
        if target is not None and target.get("DeletionProtectionEnabled"):
            raise UnsafeOperation(f"target.table: {request.target.table} has deletion protection; not dropping it")


def _keys(description: dict[str, Any]) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    return [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in description["KeySchema"]]


def _settings_after_data(client: Client, table: str) -> dict[str, Any]:
    """TTL and PITR go on after the data: TTL would start deleting copied items mid-copy, PITR would log the load."""
    settings: dict[str, Any] = {"ttl_attribute": ttl_attribute(client, table), "pitr": False}
    try:
        settings["pitr"] = pitr_on(pitr_description(client, table))
    except AwsError:  # some DynamoDB-compatible servers lack the API (UnknownOperationException): nothing to copy
        logger.warning("DescribeContinuousBackups unavailable; PITR not copied", extra={"table": table})
    return settings


# --- target preparation and finalisation ---------------------------------------------------------------------------


def prepare_target(client: Client, mode: str, spec: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """One step towards an ACTIVE target; the state machine calls it again (after a wait) until phase is READY.

    `state` is the previous step's result: once the target was dropped for a recreate it is never dropped again.
    """
    name = spec["TableName"]
    deleted = bool(state.get("deleted"))
    polls = int(state.get("polls", 0)) + 1
    current = describe(client, name)
    if mode == "recreate" and not deleted:
        if current is not None and current["TableStatus"] != "DELETING":
            if current.get("DeletionProtectionEnabled"):
                raise UnsafeOperation(f"target.table: {name} has deletion protection; not dropping it")
            with translate_errors("DeleteTable", name):
                client.delete_table(TableName=name)
            logger.info("target dropped for recreate", extra={"table": name})
        deleted = True
        current = describe(client, name)
    if current is None:
        if mode == "append":
            raise TableNotFound(f"target.table: {name} disappeared")
        with translate_errors("CreateTable", name):
            client.create_table(**spec)
        logger.info("target created", extra={"table": name})
        current = describe(client, name) or {"TableStatus": "CREATING"}
    busy = current["TableStatus"] != "ACTIVE" or any(
        index.get("IndexStatus", "ACTIVE") != "ACTIVE" for index in current.get("GlobalSecondaryIndexes", [])
    )
    return {"phase": current["TableStatus"] if busy else "READY", "deleted": deleted, "polls": polls}


def finalize_target(client: Client, table: str, settings: dict[str, Any]) -> dict[str, Any]:
    applied: dict[str, Any] = {}
    if settings.get("ttl_attribute"):
        with translate_errors("UpdateTimeToLive", table):
            client.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": settings["ttl_attribute"]}
            )
        applied["ttl_attribute"] = settings["ttl_attribute"]
    if settings.get("pitr"):
        with translate_errors("UpdateContinuousBackups", table):
            client.update_continuous_backups(
                TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        applied["pitr"] = True
    return applied


# --- segments ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentCheckpoint:
    """Where a segment stands: the state machine hands it back to CopySegment until `done`."""

    segment: int
    total_segments: int
    exclusive_start_key: WireItem | None = None
    done: bool = False
    items: int = 0
    bytes: int = 0
    pages: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    throttles: int = 0
    retried_items: int = 0
    credential_refreshes: int = 0
    invocations: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentCheckpoint:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)


@dataclass
class Tuning:
    """Knobs for the data path; tests turn the waits down, never the logic."""

    max_stalls: int = 12  # consecutive attempts without progress before a batch or page gives up
    base_delay: float = 0.05
    max_delay: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    reserve_seconds: float = 10.0
    fault: Callable[[str, SegmentCheckpoint], None] | None = field(default=None, repr=False)  # for crash tests


class SegmentCopier:
    """Copies one parallel-scan segment page by page; a page is fully written before the checkpoint moves past it."""

    def __init__(
        self,
        source: TableSide,
        target: TableSide,
        read_cap: float | None = None,
        write_cap: float | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.tuning = tuning or Tuning()
        self.reads = AdaptiveLimiter(read_cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self.writes = AdaptiveLimiter(write_cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self._source_wire = [source.wire()]
        self._target_wire = [target.wire()]
        self._units_per_item = 1.0

    def run(self, checkpoint: SegmentCheckpoint, time_left: Callable[[], float]) -> SegmentCheckpoint:
        clock = self.tuning.clock
        started = clock()
        refreshes = self.source.refreshes + self.target.refreshes
        state = replace(checkpoint, invocations=checkpoint.invocations + 1)
        slowest_page = 0.0
        while not state.done:
            # At least one page per invocation, then only while a slow page would still fit.
            if state.pages > checkpoint.pages and time_left() < max(self.tuning.reserve_seconds, 2 * slowest_page):
                break
            page_started = clock()
            throttled_before = self.reads.throttle_events + self.writes.throttle_events
            page = self._read(state)
            written, units, retried = self._write_all(page["Items"], state)
            key = page.get("LastEvaluatedKey")
            state = replace(
                state,
                exclusive_start_key=key,
                done=key is None,
                items=state.items + written,
                bytes=state.bytes + int(page.get("ResponseBytes", 0)),
                pages=state.pages + 1,
                read_units=state.read_units + _units(page),
                write_units=state.write_units + units,
                throttles=state.throttles + self.reads.throttle_events + self.writes.throttle_events - throttled_before,
                retried_items=state.retried_items + retried,
            )
            slowest_page = max(slowest_page, clock() - page_started)
        return replace(
            state,
            seconds=round(checkpoint.seconds + clock() - started, 3),
            credential_refreshes=checkpoint.credential_refreshes
            + self.source.refreshes
            + self.target.refreshes
            - refreshes,
        )

    def _read(self, state: SegmentCheckpoint) -> dict[str, Any]:
        def scan(wire: WireTable) -> dict[str, Any]:
            return wire.scan_page(state.segment, state.total_segments, state.exclusive_start_key)

        self.reads.acquire(state.read_units / state.pages if state.pages else 0.0)
        page = with_retries(lambda: self.source.call("Scan", scan, self._source_wire), self.tuning, self.reads)
        self.reads.record(_units(page))
        if self.tuning.fault is not None:
            self.tuning.fault("page-read", state)
        return page

    def _write_all(self, items: list[WireItem], state: SegmentCheckpoint) -> tuple[int, float, int]:
        """Write a page in batches of 25; returns items written, units consumed and items re-sent."""
        units = 0.0
        retried = 0
        for start in range(0, len(items), BATCH_SIZE):
            batch_units, batch_retried = self._write_batch(
                [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_SIZE]]
            )
            units += batch_units
            retried += batch_retried
            if self.tuning.fault is not None:
                self.tuning.fault("batch-written", state)
        return len(items), units, retried

    def _write_batch(self, batch: list[dict[str, Any]]) -> tuple[float, int]:
        """Write every request of the batch, re-sending UnprocessedItems and retrying throttles with full jitter."""
        pending = batch
        units = 0.0
        retried = 0
        stalls = 0

        def attempt() -> None:
            nonlocal pending, units, retried, stalls
            self.writes.acquire(self._units_per_item * len(pending))
            try:
                unprocessed, consumed = self.target.call(
                    "BatchWriteItem", lambda wire: wire.batch_write(pending), self._target_wire
                )
            except (Throttled, TransientAwsError):
                stalls += 1
                self.writes.throttled()
                raise
            accepted = len(pending) - len(unprocessed)
            # Every written item costs at least one unit; some servers report less (or nothing) than DynamoDB would.
            consumed = max(consumed, float(accepted))
            units += consumed
            if accepted:
                self._units_per_item = max(1.0, consumed / accepted)
                self.writes.record(consumed)
            if unprocessed:
                retried += len(unprocessed)
                stalls = 0 if accepted else stalls + 1
                self.writes.throttled()
                pending = unprocessed
                raise UnprocessedItemsRemain(f"{len(unprocessed)} of {len(pending)} items unprocessed")
            pending = []

        try:
            with_retries(attempt, self.tuning, self.writes, stalled=lambda: stalls)
        except UnprocessedItemsRemain as error:
            raise Throttled(
                f"BatchWriteItem {self.target.name}: {len(pending)} items still unprocessed after "
                f"{self.tuning.max_stalls} attempts without progress; the segment stops at its last checkpoint"
            ) from error
        return units, retried


def with_retries(
    action: Callable[[], T],
    tuning: Tuning,
    limiter: AdaptiveLimiter | None = None,
    stalled: Callable[[], int] | None = None,
) -> T:
    """Run `action`, retrying throttling and transient errors with exponential backoff and full jitter.

    Gives up after `tuning.max_stalls` attempts without progress (`stalled` counts them when an attempt can make partial
    progress, as a batch write can) and re-raises: the caller's checkpoint is still the last one fully written.
    """
    attempts = {"n": 0}

    def stop(_: Any) -> bool:
        return (stalled() if stalled else attempts["n"]) >= tuning.max_stalls

    def counted() -> T:
        attempts["n"] += 1
        try:
            return action()
        except (Throttled, TransientAwsError):
            if limiter is not None and stalled is None:
                limiter.throttled()
            raise

    retrying = Retrying(
        retry=retry_if_exception_type((Throttled, TransientAwsError, UnprocessedItemsRemain)),
        wait=wait_random_exponential(multiplier=tuning.base_delay, max=tuning.max_delay),
        stop=stop,
        sleep=tuning.sleep,
        reraise=True,
    )
    return retrying(counted)


def _units(page: dict[str, Any]) -> float:
    capacity = page.get("ConsumedCapacity") or {}
    return float(capacity.get("CapacityUnits", 0.0))


# --- verification --------------------------------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """An attribute value in a form equal for equal items: sets sorted, map keys sorted when dumped."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((kind, inner),) = value.items()
            if kind in ("SS", "NS", "BS"):
                return {kind: sorted(inner)}
            if kind == "L":
                return {kind: [canonical(v) for v in inner]}
            if kind == "M":
                return {kind: {k: canonical(v) for k, v in inner.items()}}
        return {k: canonical(v) for k, v in value.items()}
    return value


def item_digest(item: WireItem) -> int:
    encoded = json.dumps(canonical(item), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(encoded).digest(), "big")


@dataclass(frozen=True)
class TableSummary:
    items: int
    digest: int | None

    def describe(self) -> str:
        digest = f", digest {self.digest:064x}"[:22] + "..." if self.digest is not None else ""
        return f"{self.items} items{digest}"


def summarize(side: TableSide, segments: int, checksum: bool, tuning: Tuning | None = None) -> TableSummary:
    """Count (or count and digest) a table with a parallel scan; the digest is a sum of item hashes, order-free."""
    tuning = tuning or Tuning()

    def one(segment: int) -> tuple[int, int]:
        count = 0
        digest = 0
        key: WireItem | None = None
        wire = [side.wire()]
        for _ in range(10**9):
            current = key

            def scan(w: WireTable, start: WireItem | None = current) -> dict[str, Any]:
                return w.scan_page(segment, segments, start, select_count=not checksum, consistent=True)

            page = with_retries(lambda: side.call("Scan", scan, wire), tuning)
            if checksum:
                count += len(page["Items"])
                digest = (digest + sum(item_digest(item) for item in page["Items"])) % 2**256
            else:
                count += int(page.get("Count", 0))
            key = page.get("LastEvaluatedKey")
            if key is None:
                break
        return count, digest

    with ThreadPoolExecutor(max_workers=min(segments, 8)) as pool:
        results = list(pool.map(one, range(segments)))
    total_digest = sum(d for _, d in results) % 2**256
    return TableSummary(sum(c for c, _ in results), total_digest if checksum else None)


def verify_copy(source: TableSide, target: TableSide, how: str, segments: int) -> dict[str, Any]:
    if how == "none":
        return {"verify": "none"}
    checksum = how == "checksum"
    parallel = max(1, min(segments, 8))
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_future = pool.submit(summarize, source, parallel, checksum)
        target_future = pool.submit(summarize, target, parallel, checksum)
        source_summary, target_summary = source_future.result(), target_future.result()
    if source_summary != target_summary:
        raise VerificationFailed(
            f"{how} mismatch: source {source.name} has {source_summary.describe()}, "
            f"target {target.name} has {target_summary.describe()}"
        )
    result: dict[str, Any] = {"verify": how, "items": source_summary.items}
    if checksum:
        result["digest"] = f"{source_summary.digest:064x}"
    return result
