"""Each export function's sample event in events/ runs through its handler on moto, as `sam local invoke -e` would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ddbkeeper.errors import InvalidInput
from moto import mock_aws

from tests.support import Client, invoke, load_event
from tests.support.tables import create_source

BUCKET = "ddbkeeper-exports-123456789012"


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[tuple[Client, Client]]:
    with mock_aws():
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        create_source(dynamodb, "orders", items=60, pad=100)
        s3.create_bucket(Bucket=BUCKET)
        if "prepare_export" not in request.node.name:  # the later steps' events were planned with PITR on
            dynamodb.update_continuous_backups(
                TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        yield dynamodb, s3


def started(event: dict[str, Any]) -> dict[str, Any]:
    """Start the event's export and wait for moto to finish it."""
    progress: dict[str, Any] = invoke("start_export", event)
    for _ in range(500):
        if progress["status"] != "IN_PROGRESS":
            break
        time.sleep(0.01)
        progress = invoke("check_export", event | {"export": progress})
    return progress


def test_prepare_export_turns_pitr_on_and_plans_the_first_export_as_full(aws: tuple[Client, Client]) -> None:
    dynamodb, _ = aws
    result = invoke("prepare_export", load_event("prepare_export.json"))

    plan = result["plan"]
    assert plan["pitr"] == "ENABLED"
    assert plan["window"]["export_type"] == "FULL"
    assert plan["s3_prefix"].startswith("exports/orders/")
    assert result["request"]["table"] == "orders"
    pitr = dynamodb.describe_continuous_backups(TableName="orders")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_prepare_export_without_a_bucket_anywhere_is_refused(
    aws: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("prepare_export.json")
    del event["request"]["bucket"]
    monkeypatch.delenv("EXPORT_BUCKET", raising=False)
    with pytest.raises(InvalidInput, match="bucket: no bucket given"):
        invoke("prepare_export", event)


def test_start_export(aws: tuple[Client, Client]) -> None:
    result = invoke("start_export", load_event("start_export.json"))

    assert result["status"] in ("IN_PROGRESS", "COMPLETED")
    assert result["polls"] == 0


def test_check_export(aws: tuple[Client, Client]) -> None:
    event = load_event("check_export.json")
    event["export"]["arn"] = invoke("start_export", event)["arn"]

    result = invoke("check_export", event)

    assert result["polls"] == 1
    assert result["arn"] == event["export"]["arn"]


def test_record_export_writes_the_ledger_entry(aws: tuple[Client, Client]) -> None:
    _, s3 = aws
    event = load_event("record_export.json")
    event["export"] = started(event)

    report = invoke("record_export", event)

    assert report["status"] == "SUCCEEDED"
    assert report["items"] == 60
    assert report["ledger"] == f"s3://{BUCKET}/exports/orders/ddbkeeper-ledger/orders/20261122T030000Z.json"
    assert s3.head_object(Bucket=BUCKET, Key="exports/orders/ddbkeeper-ledger/orders/20261122T030000Z.json")
