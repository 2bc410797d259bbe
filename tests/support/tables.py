"""Tables and items for tests: GSIs, LSIs and every attribute type, compared item for item; the settings a restore
drops, set on a table and read back."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from mypy_boto3_dynamodb import DynamoDBClient as Client

KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "kind", "AttributeType": "S"},
        {"AttributeName": "score", "AttributeType": "N"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_kind",
            "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "by_score",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "score", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
}


def create_source(
    client: Client, name: str, items: int, *, seed: int = 7, pad: int = 2000, importable: bool = False, **extra: Any
) -> None:
    """`importable`: items moto's ImportTable reads back intact (its JSON reader skips a whole file when an item holds
    an empty map, and keeps non-ASCII characters as \\u escapes); DynamoDB itself takes every item."""
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS, **extra)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    rng = random.Random(seed)
    for start in range(0, items, 25):
        batch = [{"PutRequest": {"Item": item(n, rng, pad, importable)}} for n in range(start, min(start + 25, items))]
        client.batch_write_item(RequestItems={name: batch})


def item(n: int, rng: random.Random, pad: int, importable: bool = False) -> dict[str, Any]:
    """Every attribute type, nested values, binary, sets, numbers with 38 digits, unicode, optional attributes."""
    value: dict[str, Any] = {
        "pk": {"S": f"customer-{n % 17:03d}"},
        "sk": {"N": str(n)},
        "kind": {"S": rng.choice(["order", "refund", "note"])},
        "score": {"N": str(Decimal(rng.randint(-(10**6), 10**6)) / 1000)},
        "big": {"N": "9" * 38},
        "tiny": {"N": "-0.000000000000000000000000000000000001"},
        "blob": {"B": bytes(rng.randrange(256) for _ in range(32))},
        "flag": {"BOOL": n % 2 == 0},
        "nothing": {"NULL": True},
        "tags": {"SS": sorted({f"t{rng.randint(0, 9)}" for _ in range(3)})},
        "nums": {"NS": sorted({str(rng.randint(0, 99)) for _ in range(3)})},
        "bins": {"BS": [b"\x00\x01", b"\xff\xfe" + bytes([n % 256])]},
        "doc": {
            "M": {
                "name": {"S": f"näme-{n}-✓"},
                "lines": {"L": [{"N": str(i)} for i in range(n % 4)] + [{"M": {"deep": {"B": b"\x00"}}}]},
                "empty": {"M": {}},
            }
        },
        "pad": {"S": "x" * pad},
    }
    if importable:
        del value["doc"]["M"]["empty"]
        value["doc"]["M"]["name"] = {"S": f"name-{n}"}
    if n % 5 == 0:
        value["optional"] = {"S": "sometimes"}
    return value


def all_items(client: Client, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda i: (i["pk"]["S"], int(i["sk"]["N"])))


def assert_identical(source: Client, source_table: str, target: Client, target_table: str) -> int:
    expected = all_items(source, source_table)
    actual = all_items(target, target_table)
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        assert got == want
    return len(actual)


def protect(dynamodb: Client, table: str) -> None:
    """TTL, PITR, a tag, a stream and deletion protection: everything a restore leaves behind."""
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "payments"}])
    dynamodb.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        DeletionProtectionEnabled=True,
    )


def settings_of(dynamodb: Client, table: str) -> dict[str, Any]:
    described = dynamodb.describe_table(TableName=table)["Table"]
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    tags = dynamodb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    return {
        "ttl": dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"].get("AttributeName"),
        "pitr": pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "tags": {tag["Key"]: tag["Value"] for tag in tags},
        "stream": (described.get("StreamSpecification") or {}).get("StreamViewType"),
        "deletion_protection": described.get("DeletionProtectionEnabled"),
    }


def stack_tagged(settings: dict[str, Any], stack: str) -> dict[str, Any]:
    """`settings` (as `settings_of` reads them) with the tag every table a restore or copy makes ends up carrying."""
    return {**settings, "tags": {**settings["tags"], "ddbkeeper:managed-by": stack}}
