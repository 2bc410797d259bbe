"""The backup functions' sample events in events/ run through their handlers on moto, as `sam local invoke -e` would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ddbkeeper.errors import InvalidInput
from moto import mock_aws

from tests.support import Client, invoke, load_event, made_by_ddbkeeper

STACK_BUCKET = "stack-bucket"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with mock_aws():
        monkeypatch.setenv("SETTINGS_BUCKET", STACK_BUCKET)  # as template.yaml sets it for the backup functions
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=STACK_BUCKET)
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("orders", "customers"):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": "backup", "Value": "daily"}] if name == "customers" else [],
            )
        yield client


def names(dynamodb: Client, table: str = "orders") -> list[str]:
    return sorted(s["BackupName"] for s in dynamodb.list_backups(TableName=table)["BackupSummaries"])


def test_resolve_tables(dynamodb: Client) -> None:
    result = invoke("resolve_tables", load_event("resolve_tables.json"))

    assert result["tables"] == ["orders", "customers"]
    assert result["request"]["retention"]["weekly"] == 4
    assert result["execution"]["name"] == "backup-20261122T030000-0f3c9a1e"


def test_resolve_tables_rejects_bad_input_before_any_call(dynamodb: Client) -> None:
    event: dict[str, Any] = load_event("resolve_tables.json")
    event["request"]["retention"]["daily"] = -1
    with pytest.raises(InvalidInput, match=r"retention\.daily"):
        invoke("resolve_tables", event)


def test_create_backup(dynamodb: Client) -> None:
    result = invoke("create_backup", load_event("create_backup.json"))

    assert result["name"] == "ddbkeeper-orders-20261122T030000123Z"
    assert result["status"] == "AVAILABLE"
    assert result["reused"] is False
    assert names(dynamodb) == [result["name"]]
    assert invoke("create_backup", load_event("create_backup.json"))["reused"] is True


def test_check_backup(dynamodb: Client) -> None:
    event = load_event("check_backup.json")
    started = dynamodb.create_backup(TableName="orders", BackupName=event["backup"]["name"])["BackupDetails"]
    event["backup"]["arn"] = started["BackupArn"]  # moto mints its own ARNs

    result = invoke("check_backup", event)

    assert (result["arn"], result["status"], result["polls"]) == (started["BackupArn"], "AVAILABLE", 1)


def test_prune_backups(dynamodb: Client) -> None:
    own = [f"ddbkeeper-orders-2026112{day}T030000000Z" for day in range(4)]
    made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", own)
    lookalike = "ddbkeeper-orders-20261101T030000000Z"  # a human's backup with the service's exact name form
    for name in ("manual", lookalike):
        dynamodb.create_backup(TableName="orders", BackupName=name)

    result = invoke("prune_backups", load_event("prune_backups.json"))

    # moto stamps every backup "now", so the daily/weekly/monthly rules each keep the newest and keep_last keeps two.
    assert result["kept"] == 2
    assert len(result["deleted"]) == 2
    assert result["unproven"] == [lookalike]
    assert names(dynamodb) == sorted([*(set(own) - set(result["deleted"])), "manual", lookalike])


def test_backup_report() -> None:
    result = invoke("backup_report", load_event("backup_report.json"))

    assert result["status"] == "FAILED"
    assert result["totals"]["failed"] == 1
