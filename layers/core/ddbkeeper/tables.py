"""Table access: what a table is (description, keys, PITR, TTL), one side of a data path, the guarded drop, counting.

Every workflow reads tables the same way through these; none of them reaches for another workflow's code to do it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.aws import DATA_PLANE_CONFIG, EXPIRED_CODES, Account, error_code, translate_errors
from ddbkeeper.errors import AccessDenied, TableNotFound, UnsafeOperation
from ddbkeeper.pacing import Tuning, with_retries
from ddbkeeper.wire import WireItem, WireTable, item_digest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PointInTimeRecoveryDescriptionTypeDef, TableDescriptionTypeDef

logger = Logger(child=True)
T = TypeVar("T")
KeyAttribute = tuple[str, str, str]  # name, HASH or RANGE, S/N/B
MANAGED_BY = "ddbkeeper:managed-by"  # the tag naming the stack that made a table (template.yaml's IAM conditions)


def describe(client: DynamoDBClient, table: str) -> TableDescriptionTypeDef | None:
    """DescribeTable's `Table`, or None when there is no such table."""
    try:
        with translate_errors("DescribeTable", table):
            return client.describe_table(TableName=table)["Table"]
    except TableNotFound:
        return None


def is_ready(table: TableDescriptionTypeDef) -> bool:
    """ACTIVE, and so is every global secondary index."""
    return table.get("TableStatus") == "ACTIVE" and all(
        index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in table.get("GlobalSecondaryIndexes", [])
    )


def key_schema(table: TableDescriptionTypeDef) -> list[KeyAttribute]:
    """The table's key as (name, HASH or RANGE, type): two tables take the same items when these are equal."""
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    return [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in table.get("KeySchema", [])]


def index_names(table: TableDescriptionTypeDef) -> set[str]:
    return {i["IndexName"] for i in [*table.get("GlobalSecondaryIndexes", []), *table.get("LocalSecondaryIndexes", [])]}


def pitr_description(client: DynamoDBClient, table: str) -> PointInTimeRecoveryDescriptionTypeDef:
    """DescribeContinuousBackups' PointInTimeRecoveryDescription: status and restorable window ({} when absent)."""
    with translate_errors("DescribeContinuousBackups", table):
        described = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return described.get("PointInTimeRecoveryDescription", {})


def pitr_on(pitr: PointInTimeRecoveryDescriptionTypeDef) -> bool:
    return pitr.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING")


def ttl_attribute(client: DynamoDBClient, table: str) -> str | None:
    """The attribute TTL expires items by, when TTL is on or turning on."""
    with translate_errors("DescribeTimeToLive", table):
        ttl = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    return ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None


def drop_table(client: DynamoDBClient, table: TableDescriptionTypeDef) -> None:
    """Delete a table the caller has already decided to drop; never one with deletion protection."""
    name = table["TableName"]
    if table.get("DeletionProtectionEnabled"):
        raise UnsafeOperation(f"target.table: {name} has deletion protection; not dropping it")
    with translate_errors("DeleteTable", name):
        client.delete_table(TableName=name)
    logger.info("table dropped", extra={"table": name})


class TableSide:
    """One table on a data path: Scan and BatchWriteItem in wire form, the role assumed again when credentials expire.

    Any number of threads may share a side: they share its client (botocore clients are thread-safe).
    """

    def __init__(self, account: Account, table: str) -> None:
        self.account = account
        self.name = table
        self.refreshes = 0
        self._lock = threading.Lock()
        self._wire: WireTable | None = None

    @property
    def control(self) -> DynamoDBClient:
        """The control-plane client (describe, create, update), with botocore's own retries."""
        return self.account.dynamodb

    @property
    def wire(self) -> WireTable:
        """The data-path client (no SDK retries: every push-back reaches the caller's limiter), items in wire form.

        Built once and reused for every call, until a refresh replaces the client (new credentials)."""
        client = self.account.factory.dynamodb(self.account.access, DATA_PLANE_CONFIG)
        wire = self._wire
        if wire is None or wire.client is not client:
            wire = self._wire = WireTable(client, self.name)
        return wire

    def refresh(self) -> None:
        with self._lock:
            self.refreshes += 1
            self.account.factory.forget(self.account.access)

    def call(self, operation: str, action: Callable[[WireTable], T]) -> T:
        """Run one data-path call; expired credentials are renewed (the role assumed again) and the call repeated."""
        for _ in range(3):
            with translate_errors(operation, self.name):
                try:
                    return action(self.wire)
                except ClientError as error:
                    if error_code(error) not in EXPIRED_CODES:
                        raise
            logger.info("credentials expired; assuming the role again", extra={"table": self.name})
            self.refresh()
        raise AccessDenied(f"{operation} {self.name}: credentials still expired after assuming the role again")


@dataclass(frozen=True)
class TableSummary:
    """What a full scan of a table found: its items, and (for a checksum) the sum of their digests."""

    items: int
    digest: int | None

    def describe(self) -> str:
        digest = f", digest {self.digest:064x}"[:22] + "..." if self.digest is not None else ""
        return f"{self.items} items{digest}"


def summarize(side: TableSide, segments: int, checksum: bool, tuning: Tuning | None = None) -> TableSummary:
    """Count (or count and digest) a table with a parallel, consistent scan; the digest is order-free."""
    tuning = tuning or Tuning()

    def one(segment: int) -> tuple[int, int]:
        count = 0
        digest = 0
        key: WireItem | None = None
        for _ in range(10**9):
            start = key

            def scan(wire: WireTable, start: WireItem | None = start) -> dict[str, Any]:
                return wire.scan_page(segment, segments, start, select_count=not checksum, consistent=True)

            page = with_retries(lambda: side.call("Scan", scan), tuning)
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
