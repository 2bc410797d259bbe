"""Each copy function's sample event in events/ runs through its handler on moto (two accounts)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from ddbkeeper.errors import InvalidInput, TargetExists, UnsafeOperation
from moto import mock_aws

from tests.support import Client, assumed_dynamodb, invoke, load_event
from tests.support.tables import KEYS, assert_identical, create_source

OTHER_ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-copy-target"


@pytest.fixture
def home() -> Iterator[Client]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_source(client, "orders", items=60, pad=100)
        client.tag_resource(
            ResourceArn=client.describe_table(TableName="orders")["Table"]["TableArn"],
            Tags=[{"Key": "team", "Value": "payments"}],
        )
        yield client


def other_account() -> Client:
    return assumed_dynamodb(OTHER_ROLE)


def make_copy_target(home: Client) -> None:
    home.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)


def test_plan_copy(home: Client) -> None:
    result = invoke("plan_copy", load_event("plan_copy.json"))

    plan = result["plan"]
    assert plan["total_segments"] == 1  # 60 items: auto picks one segment
    assert plan["caps"] == {"read": None, "write": 2000.0}
    assert plan["target_spec"]["TableName"] == "orders-copy"
    assert [i["IndexName"] for i in plan["target_spec"]["GlobalSecondaryIndexes"]] == ["by_kind"]
    assert plan["target_spec"]["Tags"] == [{"Key": "team", "Value": "payments"}]
    assert result["prepare"] == {"phase": "START", "deleted": False, "polls": 0, "created": False, "backup": None}


def test_plan_copy_refuses_before_touching_anything(home: Client) -> None:
    event: dict[str, Any] = load_event("plan_copy.json")
    other_account().create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)
    with pytest.raises(TargetExists, match="orders-copy exists"):
        invoke("plan_copy", event)
    event["request"]["target"] = {"table": "orders"}
    with pytest.raises(UnsafeOperation, match="the target is the source table"):
        invoke("plan_copy", event)
    event["request"]["segments"] = 0
    with pytest.raises(InvalidInput, match="segments"):
        invoke("plan_copy", event)


def test_prepare_target(home: Client) -> None:
    result = invoke("prepare_target", load_event("prepare_target.json"))

    assert result == {"phase": "READY", "deleted": False, "polls": 1, "created": True, "backup": None}
    assert home.describe_table(TableName="orders-copy")["Table"]["KeySchema"][0]["AttributeName"] == "pk"


def test_copy_segment(home: Client) -> None:
    make_copy_target(home)
    event = load_event("copy_segment.json")
    first = invoke("copy_segment", event)
    event["checkpoint"] = {**event["checkpoint"], "segment": 0}
    second = invoke("copy_segment", event)

    assert first["done"] and second["done"]
    assert first["items"] + second["items"] == 60
    assert_identical(home, "orders", home, "orders-copy")


def test_finalize_copy(home: Client) -> None:
    make_copy_target(home)

    result = invoke("finalize_copy", load_event("finalize_copy.json"))

    assert result == {"ttl_attribute": "expires_at", "pitr": True, "skipped": None}
    ttl = home.describe_time_to_live(TableName="orders-copy")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    backups = home.describe_continuous_backups(TableName="orders-copy")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_verify_segment(home: Client) -> None:
    make_copy_target(home)
    invoke("copy_segment", {**load_event("copy_segment.json"), "checkpoint": {"segment": 0, "total_segments": 1}})

    result = invoke("verify_segment", load_event("verify_segment.json"))  # an append: read back by key

    assert result["done"] is True
    assert result["source"]["items"] == 60
    assert len(result["source"]["digest"]) == 64
    assert result["append"]["checked"] == 60
    assert (result["append"]["missing"], result["append"]["different"]) == (0, 0)


def test_verify_copy() -> None:
    result = invoke("verify_copy", load_event("verify_copy.json"))

    assert result["verify"] == "checksum"
    assert result["items"] == 2381
    assert result["differing_segments"] == []
    assert [(s["segment"], s["source_items"], s["target_items"], s["copied_items"]) for s in result["segments"]] == [
        (0, 1200, 1200, 1200),
        (1, 1181, 1181, 1180),
    ]
    (warning,) = result["warnings"]
    assert "the source changed during the copy: in 1 segment(s) (1) the copy read 1180 items" in warning


def test_copy_report() -> None:
    result = invoke("copy_report", load_event("copy_report.json"))

    assert result["totals"]["items"] == 2380
    assert result["totals"]["retried_items"] == 14
    assert result["totals"]["credential_refreshes"] == 1
    assert [s["segment"] for s in result["segments"]] == [0, 1]


def test_copy_by_export() -> None:
    """From START to DONE on moto: the FULL export lands in the target account's bucket (S3BucketOwner), ImportTable
    builds the target there from its data/ folder, and the target is counted."""
    event: dict[str, Any] = load_event("copy_by_export.json")
    # Started now: moto's PITR says the latest restorable time is when it was turned on, so there is no window to
    # catch up (tests/copy/test_byexport.py injects one).
    event["execution"]["started_at"] = datetime.now(UTC).isoformat()
    with mock_aws():
        home = boto3.client("dynamodb", region_name="us-east-1")
        create_source(home, "orders", items=40, pad=50, importable=True)
        home.update_continuous_backups(
            TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        other = other_account()
        credentials = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn=OTHER_ROLE, RoleSessionName="test"
        )["Credentials"]
        boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        ).create_bucket(Bucket="orders-copy-exports")
        state = None
        for _ in range(200):
            state = invoke("copy_by_export", {**event, "byexport": state})
            if state["phase"] == "DONE":
                break
            time.sleep(0.02)  # moto exports and imports on a thread
        assert state is not None and state["phase"] == "DONE", state
        assert state["imported_items"] == state["counted"] == state["expected"] == 40
        assert [export["kind"] for export in state["exports"]] == ["FULL"]
        assert assert_identical(home, "orders", other, "orders-copy") == 40
        tags = other.list_tags_of_resource(
            ResourceArn=other.describe_table(TableName="orders-copy")["Table"]["TableArn"]
        )["Tags"]
        assert {"Key": "ddbkeeper:managed-by", "Value": "ddbkeeper"} in tags
        assert {"Key": "team", "Value": "payments"} in tags
