"""dynalite as a second DynamoDB backend: every attribute type survives a BatchWriteItem and a 3-segment parallel scan.

What dynalite 4.0.0 (the version package-lock.json pins) was observed NOT to do, with botocore as the client:

- No backup or PITR API: CreateBackup, ListBackups, DescribeContinuousBackups, UpdateContinuousBackups and
  ExportTableToPointInTime answer UnknownOperationException (so do TransactWriteItems, ExecuteStatement,
  DescribeLimits and DescribeEndpoints).
- TTL is read-only: UpdateTimeToLive answers UnknownOperationException; DescribeTimeToLive works and always says
  DISABLED.
- CreateTable accepts DeletionProtectionEnabled, TableClass, SSESpecification, StreamSpecification and Tags, then
  silently drops them all: DescribeTable shows no DeletionProtectionEnabled, TableClassSummary, SSEDescription or
  StreamSpecification, DeleteTable on a "protected" table succeeds, and ListTagsOfResource is empty.
- UpdateTable with only DeletionProtectionEnabled, TableClass, SSESpecification or StreamSpecification is a
  ValidationException ("At least one of ProvisionedThroughput, BillingMode, ... is required"); BillingMode works.
- ARNs are always arn:aws:dynamodb:us-east-1:000000000000:table/..., whatever the client's region or credentials.
- CreateTable answers TableStatus CREATING even with --createTableMs 0, and DescribeTable turns ACTIVE only once a
  timer fires: on a loaded machine, several calls later. Wait for ACTIVE, as the copy workflow does.
- Capacity: ConsistentRead=True on Scan costs the same as an eventually consistent one (DynamoDB charges double).

What it does support (checked, so tests may rely on it): ReturnConsumedCapacity=TOTAL on Scan, BatchWriteItem and
PutItem, INDEXES on Scan (a unit per started KiB written, 0.5 per started 4 KiB scanned), Select=COUNT (Count and
ScannedCount, no Items), Limit (with LastEvaluatedKey, also within a segment), TagResource / UntagResource /
ListTagsOfResource, DescribeTimeToLive, BillingMode changes, GSIs at CreateTable, 38-digit numbers (a 39th significant
digit is a ValidationException, as on DynamoDB); BatchWriteItem rejects duplicate keys and more than 25 requests.
Its readiness probe needs an X-Amz-Date header next to the fake Authorization header to get a 200 for ListTables.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.support import ROOT, Client
from tests.support.dynalite import Dynalite, dynalite_available

pytestmark = pytest.mark.endpoint

SEGMENTS = 3
BIG_NUMBER = "1234567890123456789012345678901234567.8"  # 38 significant digits, DynamoDB's maximum


def item(index: int) -> dict[str, Any]:
    """Wire-format item number index: every DynamoDB type, nested, with binary that is not valid UTF-8."""
    return {
        "pk": {"S": f"item-{index:03d}"},
        "blob": {"B": bytes([index, 0, 255, 128]) + uuid.UUID(int=index).bytes},
        "names": {"SS": [f"n{index}", "alpha", "ünïcödé"]},
        "scores": {"NS": [str(index), "-1.5", "1e10"]},
        "blobs": {"BS": [b"\x00", bytes([index + 1])]},
        "big": {"N": BIG_NUMBER if index % 2 == 0 else f"-{BIG_NUMBER}"},
        "count": {"N": str(index)},
        "flag": {"BOOL": index % 3 == 0},
        "nothing": {"NULL": True},
        "empty": {"S": ""},
        "nested": {
            "M": {
                "list": {"L": [{"N": str(index)}, {"S": "x"}, {"B": b"\x01\x02"}, {"L": [{"NULL": True}]}]},
                "map": {"M": {"deep": {"M": {"set": {"SS": ["a", "b"]}, "n": {"N": "0.000000000000000000000001"}}}}},
                "emptyList": {"L": []},
                "emptyMap": {"M": {}},
            }
        },
    }


def normalise(value: Any) -> Any:
    """Python form with sets made comparable: boto3's TypeDeserializer gives Decimal, Binary, set and dict."""
    return TypeDeserializer().deserialize({"M": value})


def test_every_attribute_type_round_trips_through_a_parallel_scan() -> None:
    # Not a skip: a missing dynalite must not quietly drop the second backend from the run.
    if not dynalite_available(ROOT):
        pytest.fail(f"dynalite is not installed under {ROOT / 'node_modules'} (or node is not on PATH): run `npm ci`")
    with Dynalite(ROOT) as dynalite:
        round_trip(boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1"))


def round_trip(client: Client) -> None:
    table = f"roundtrip-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    written = {f"item-{index:03d}": item(index) for index in range(30)}
    wire = list(written.values())
    for start in range(0, len(wire), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": one}} for one in wire[start : start + 25]]}
        for _ in range(10):
            pending = client.batch_write_item(RequestItems=pending)["UnprocessedItems"]
            if not pending:
                break
        assert not pending, "dynalite left items unprocessed after 10 attempts"

    read: dict[str, dict[str, Any]] = {}
    per_segment = []
    for segment in range(SEGMENTS):
        arguments: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": SEGMENTS}
        found = 0
        while True:
            page = client.scan(**arguments)
            for one in page["Items"]:
                key = one["pk"]["S"]
                assert key not in read, f"{key} came back from two segments"
                read[key] = one
                found += 1
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        per_segment.append(found)

    assert sum(per_segment) == 30
    assert sorted(read) == sorted(written)
    for key, want in written.items():
        got = read[key]
        assert normalise(got) == normalise(want), key
        # Numbers keep every digit; binary comes back byte for byte.
        assert got["big"] == want["big"], key
        assert got["blob"]["B"] == want["blob"]["B"], key
    assert Decimal(read["item-000"]["big"]["N"]) == Decimal(BIG_NUMBER)
