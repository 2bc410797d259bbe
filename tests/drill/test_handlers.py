"""The drill functions' sample events in events/ run through their handlers on moto, as `sam local invoke -e` would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ddbkeeper.apply import ApplyTuning
from ddbkeeper.drill.models import CheckScratch
from ddbkeeper.drill.service import DrillService
from ddbkeeper.errors import InvalidInput, UnsafeOperation
from ddbkeeper.wire import WireTable
from moto import mock_aws

from tests.support import Client, invoke, load_event

STACK_BUCKET = "stack-bucket"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with mock_aws():
        monkeypatch.setenv("SETTINGS_BUCKET", STACK_BUCKET)
        monkeypatch.setenv("STACK_NAME", "ddbkeeper")
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=STACK_BUCKET)
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(12):
            client.put_item(TableName="orders", Item={"id": {"S": f"order-{n:02d}"}, "total": {"N": str(n)}})
        yield client


def with_backup(client: Client, event: dict[str, Any]) -> dict[str, Any]:
    """The event's table as it is on this moto: its real backup ARN, its real ARN."""
    backup = client.create_backup(TableName="orders", BackupName="nightly")["BackupDetails"]["BackupArn"]
    event["table"] |= {
        "backup_arn": backup,
        "table_arn": client.describe_table(TableName="orders")["Table"]["TableArn"],
    }
    return event


def test_plan_drill(dynamodb: Client) -> None:
    dynamodb.create_backup(TableName="orders", BackupName="nightly")

    result = invoke("plan_drill", load_event("plan_drill.json"))

    (target,) = result["plan"]["tables"]
    assert (target["kind"], target["expected_items"], target["key_attributes"]) == ("backup", 12, ["id"])
    assert target["scratch_table"] == "ddbkeeper-drill-orders-20261123t050000250z"


def test_plan_drill_refuses_bad_input_naming_the_field(dynamodb: Client) -> None:
    event = load_event("plan_drill.json")
    event["request"]["max_mismatch_percent"] = 120
    with pytest.raises(InvalidInput, match="max_mismatch_percent"):
        invoke("plan_drill", event)


def test_start_check_verify_and_delete_the_scratch_table(dynamodb: Client) -> None:
    event = with_backup(dynamodb, load_event("start_scratch_restore.json"))
    target, scratch = event["table"], event["table"]["scratch_table"]

    started = invoke("start_scratch_restore", event)
    again = invoke("start_scratch_restore", event)  # a retried step adopts the restore it already started
    checked = invoke("check_scratch_restore", load_event("check_scratch_restore.json") | {"table": target})

    assert (started["status"], started["reused"], again["reused"]) == ("CREATING", False, True)
    assert checked["status"] == "ACTIVE"
    arn = dynamodb.describe_table(TableName=scratch)["Table"]["TableArn"]
    tags = {t["Key"]: t["Value"] for t in dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"ddbkeeper:drill": "ddbkeeper", "ddbkeeper:managed-by": "ddbkeeper"}
    verified = invoke("verify_scratch_table", load_event("verify_scratch_table.json") | {"table": target})
    assert (verified["items"], verified["sample"]["matched"], verified["count_result"]) == (12, 12, "MATCH")
    deleted = invoke("delete_scratch_table", load_event("delete_scratch_table.json") | {"table": target})
    assert deleted["status"] == "DELETED"
    assert scratch not in dynamodb.list_tables()["TableNames"]


def test_delete_scratch_table_refuses_a_table_the_drill_did_not_make(dynamodb: Client) -> None:
    event = load_event("delete_scratch_table.json")
    dynamodb.create_table(
        TableName=event["table"]["scratch_table"],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(UnsafeOperation, match="not the scratch table this execution made"):
        invoke("delete_scratch_table", event)
    assert event["table"]["scratch_table"] in dynamodb.list_tables()["TableNames"]


def test_drill_report(dynamodb: Client, capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke("drill_report", load_event("drill_report.json"))

    assert (result["status"], result["passed"], result["failed"]) == ("FAILED", 1, 1)
    assert "customers: TableNotFound: customers: nothing to restore from" in result["summary"]
    assert result["recorded"][0].startswith(f"s3://{STACK_BUCKET}/ddbkeeper-drills/123456789012/us-east-1/orders/")
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emitted,) = metrics
    assert emitted["DrillSucceeded"] == [1.0, 0.0]
    assert (emitted["RestoreSeconds"], emitted["RecoveryPointAgeSeconds"]) == ([41.5], [7193.2])


def test_check_scratch_restore_fails_a_restore_whose_table_never_appears(dynamodb: Client) -> None:
    """The Restore Failed path: the scratch table is missing check after check (cancelled, or failed by DynamoDB)."""
    event = load_event("check_scratch_restore.json")
    event["restore"]["polls"] = 2

    checked = invoke("check_scratch_restore", event)

    assert (checked["status"], checked["polls"]) == ("FAILED", 3)
    scratch = event["table"]["scratch_table"]
    assert checked["failure"] == f"{scratch} does not exist: the restore was cancelled or failed"


def test_the_sample_is_read_back_however_few_keys_each_batch_get_answers(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttled scratch table answers one key per BatchGetItem: the sample is read with the shared path
    (ddbkeeper.reads: backoff with jitter, given up only after attempts without progress), not ten quick tries."""
    scratch = "ddbkeeper-drill-orders-20261123t050000250z"
    dynamodb.create_table(
        TableName=scratch,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in dynamodb.scan(TableName="orders")["Items"]:
        dynamodb.put_item(TableName=scratch, Item=item)
    answer = WireTable.batch_get

    def one_key_a_call(self: WireTable, keys: list[Any], *, consistent: bool = True) -> Any:
        found, unprocessed = answer(self, keys[:1], consistent=consistent)
        return found, unprocessed + keys[1:]

    monkeypatch.setattr(WireTable, "batch_get", one_key_a_call)
    event = load_event("verify_scratch_table.json")
    task = CheckScratch.model_validate(event)
    target = task.table.model_copy(
        update={"table_arn": dynamodb.describe_table(TableName="orders")["Table"]["TableArn"], "scratch_table": scratch}
    )
    service = DrillService.for_task(task, {"STACK_NAME": "ddbkeeper"})
    service.tuning = ApplyTuning(sleep=lambda _: None)

    verified = service.verify(target, task.restore)

    assert (verified.sample.sampled, verified.sample.matched, verified.sample.missing) == (12, 12, 0)
