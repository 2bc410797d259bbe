"""Each restore function's sample event in events/ runs through its handler on moto, as `sam local invoke -e` would."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ddbkeeper.errors import TargetExists, UnsafeOperation
from ddbkeeper.export_files import read_manifest
from moto import mock_aws

from tests.support import STACK_BUCKET, Client, invoke, load_event
from tests.support.chain import ChainWriter, History, build_chain
from tests.support.tables import all_items, assert_identical, create_source


@pytest.fixture
def dynamodb() -> Iterator[Client]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_source(client, "orders", items=60, pad=100)
        yield client


def with_backup(dynamodb: Client, event: dict[str, Any]) -> dict[str, Any]:
    """The event with its backup ARN swapped for a real backup of orders (moto makes up its own ARNs)."""
    arn = dynamodb.create_backup(TableName="orders", BackupName="before-migration")["BackupDetails"]["BackupArn"]
    event["request"]["source"]["backup_arn"] = arn
    if "plan" in event:
        event["plan"]["params"]["BackupArn"] = arn
    return event


def restored(dynamodb: Client, event: dict[str, Any]) -> dict[str, Any]:
    invoke("start_restore", event)
    return event


def test_plan_restore(dynamodb: Client) -> None:
    result = invoke("plan_restore", with_backup(dynamodb, load_event("plan_restore.json")))

    plan = result["plan"]
    assert plan["kind"] == "backup"
    assert plan["expected_items"] == 60
    assert plan["params"]["BillingModeOverride"] == "PAY_PER_REQUEST"
    assert dynamodb.list_tables()["TableNames"] == ["orders"]  # nothing created


def test_plan_restore_refuses_an_existing_target(dynamodb: Client) -> None:
    event = with_backup(dynamodb, load_event("plan_restore.json"))
    event["request"]["target"]["table"] = "orders"
    with pytest.raises(TargetExists, match=r"target.table: orders exists"):
        invoke("plan_restore", event)


def test_start_restore(dynamodb: Client) -> None:
    result = invoke("start_restore", with_backup(dynamodb, load_event("start_restore.json")))

    assert result == {
        "status": "CREATING",
        "polls": 0,
        "import_arn": None,
        "wait_seconds": 2,
        "imported": None,
        "failure": None,
        "table_arn": None,
    }
    assert "orders-restored" in dynamodb.list_tables()["TableNames"]


def test_check_restore(dynamodb: Client) -> None:
    event = restored(dynamodb, with_backup(dynamodb, load_event("check_restore.json")))

    result = invoke("check_restore", event)

    assert result["status"] == "ACTIVE"
    assert result["polls"] == 1
    assert result["table_arn"].endswith(":table/orders-restored")


def test_finalize_restore_applies_one_setting_per_call(dynamodb: Client) -> None:
    event = restored(dynamodb, with_backup(dynamodb, load_event("finalize_restore.json")))

    turns = []
    for _ in range(10):
        result = invoke("finalize_restore", event)
        event["settings"] = result
        turns.append(result["pending"])
        if result["pending"] == 0:
            break

    assert turns == [5, 4, 3, 2, 1, 0]  # the stack's tag (first), stream, TTL, PITR, tags, deletion protection
    described = dynamodb.describe_table(TableName="orders-restored")["Table"]
    tags = dynamodb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    assert {"Key": "ddbkeeper:managed-by", "Value": os.environ.get("STACK_NAME", "ddbkeeper")} in tags
    assert described["DeletionProtectionEnabled"] is True
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_verify_restore(dynamodb: Client) -> None:
    event = restored(dynamodb, with_backup(dynamodb, load_event("verify_restore.json")))

    report = invoke("verify_restore", event)

    assert report["status"] == "SUCCEEDED"
    assert report["verification"]["result"] == "MATCH"
    assert assert_identical(dynamodb, "orders", dynamodb, "orders-restored") == 60


def listing_event(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """List Export Files' sample event with its exports written in the real layout where it names them, the stack's
    bucket, and the table Start Restore makes from the plan."""
    event = load_event("list_export_files.json")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="my-exports")
    monkeypatch.setenv("SETTINGS_BUCKET", STACK_BUCKET)  # the stack's bucket, as template.yaml gives it
    s3.create_bucket(Bucket=STACK_BUCKET)
    writer = ChainWriter(s3, "my-exports", "ddbkeeper/orders", "orders")
    build_chain(writer, History(12), 1, record=False)
    event["request"]["source"]["exports"] = writer.exports
    event["plan"]["exports"] = [read_manifest(s3, url).model_dump(mode="json") for url in writer.exports]
    boto3.client("dynamodb").create_table(**event["plan"]["params"])
    return event


def listed_files(result: dict[str, Any]) -> list[dict[str, Any]]:
    store = result["store"]
    body = boto3.client("s3").get_object(Bucket=store["bucket"], Key=store["key"])["Body"].read()
    return list(json.loads(body))


def test_list_export_files(dynamodb: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first turn lists the FULL export's data files in the stack's bucket, for the Map's ItemReader."""
    result = invoke("list_export_files", listing_event(monkeypatch))

    assert (result["done"], result["export"], result["listed"]) == (False, 0, 2)
    listed = listed_files(result)
    assert [(item["export"], item["file"]) for item in listed] == [(0, 0), (0, 1)]
    assert sum(item["data"]["item_count"] for item in listed) == 12


def test_apply_file(dynamodb: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample event's file swapped for the first data file of the FULL export written in the real layout: one
    turn applies it and leaves its result; a second run of the item skips it."""
    listing = listing_event(monkeypatch)
    first = listed_files(invoke("list_export_files", listing))[0]
    event = load_event("apply_file.json")
    event["request"], event["file"] = listing["request"], first

    result = invoke("apply_file", event)
    again = invoke("apply_file", event)

    assert (result["done"], result["puts"], result["invocations"]) == (True, first["data"]["item_count"], 1)
    assert (again["done"], again["skipped"], again["puts"]) == (True, True, result["puts"])
    assert len(all_items(dynamodb, "orders-restored")) == first["data"]["item_count"]


def test_repair_items(dynamodb: Client) -> None:
    """The scratch table restored from the backup; one item of the partition deleted and one changed since: both
    come back, the others are left as they are."""
    event = restored(dynamodb, with_backup(dynamodb, load_event("repair_items.json")))
    partition = [i for i in all_items(dynamodb, "orders") if i["pk"] == {"S": "customer-003"}]
    dynamodb.delete_item(TableName="orders", Key={"pk": partition[0]["pk"], "sk": partition[0]["sk"]})
    dynamodb.put_item(TableName="orders", Item=partition[1] | {"kind": {"S": "damaged"}})

    result = invoke("repair_items", event)

    assert (result["done"], result["chosen"], result["added"], result["overwritten"]) == (True, len(partition), 1, 1)
    assert result["left"] == len(partition) - 2
    assert [i for i in all_items(dynamodb, "orders") if i["pk"] == {"S": "customer-003"}] == partition


def test_drop_scratch(dynamodb: Client) -> None:
    event = restored(dynamodb, with_backup(dynamodb, load_event("drop_scratch.json")))
    scratch = event["plan"]["params"]["TargetTableName"]
    arn = dynamodb.describe_table(TableName=scratch)["Table"]["TableArn"]
    dynamodb.tag_resource(  # what Re-apply Settings put on it
        ResourceArn=arn,
        Tags=[
            {"Key": "ddbkeeper:managed-by", "Value": os.environ.get("STACK_NAME", "ddbkeeper")},
            {"Key": "ddbkeeper:scratch", "Value": event["execution"]["name"]},
        ],
    )

    report = invoke("drop_scratch", event)

    assert (report["table"], report["scratch"], report["repaired"]["added"]) == ("orders", scratch, 1)
    assert scratch not in dynamodb.list_tables()["TableNames"]


def test_clean_up_scratch_marks_the_untagged_scratch_table_it_restored_then_drops_it(dynamodb: Client) -> None:
    """A failure before Re-apply Settings leaves the restored scratch table untagged: its RestoreSummary (this
    execution's backup, made since the execution started) is the proof it is the execution's; tagged, then dropped."""
    event = with_backup(dynamodb, load_event("clean_up_scratch.json"))
    invoke("start_restore", event)
    scratch = event["plan"]["params"]["TargetTableName"]

    first = invoke("clean_up_scratch", event)
    then = invoke("clean_up_scratch", event | {"cleanup": first})

    assert (first["status"], then["status"]) == ("WAITING", "DELETED")
    assert scratch not in dynamodb.list_tables()["TableNames"]


def test_clean_up_scratch_leaves_a_table_this_execution_did_not_make(dynamodb: Client) -> None:
    event = with_backup(dynamodb, load_event("clean_up_scratch.json"))
    scratch = event["plan"]["params"]["TargetTableName"]
    create_source(dynamodb, scratch, items=1, pad=0)  # someone else's table by that name, untagged

    with pytest.raises(UnsafeOperation, match="not the scratch table this execution made"):
        invoke("clean_up_scratch", event)
    assert scratch in dynamodb.list_tables()["TableNames"]
