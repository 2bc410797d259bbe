"""statemachines/copy.asl.json with strategy export on the embedded runtime: across two accounts, the FULL export
imported in the target's account and an injected incremental export applied (tests.support.catchup); a recreate;
a dry run with auto; a refusal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

import pytest
from ddbkeeper.cli.report_view import show_result
from ddbkeeper.executions import ExecutionResult
from ddbkeeper.local.runtime import LocalRuntime
from mypy_boto3_s3 import S3Client
from rich.console import Console

from tests.support import Client, assumed, assumed_dynamodb, entered, history, load_event
from tests.support import run as run_workflow
from tests.support.catchup import CatchUp
from tests.support.tables import KEYS, assert_identical, create_source

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]
OTHER_ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-copy-target"


@pytest.fixture
def names() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:6]
    return lambda stem: f"{stem}-{suffix}"


def assumed_s3(role_arn: str) -> S3Client:
    return cast("S3Client", assumed("s3", role_arn))


def source_with_pitr(dynamodb: Client, name: str, items: int) -> None:
    create_source(dynamodb, name, items=items, pad=50, importable=True)
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def payload(source: str, target: str, bucket: str, **changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = load_event("workflow-copy-by-export.json")
    request["source"]["table"], request["target"]["table"] = source, target
    request["export"]["bucket"] = bucket
    return request | changes


def run(runtime: LocalRuntime, request: dict[str, Any]) -> ExecutionResult:
    return run_workflow(runtime, "copy", request, timeout_seconds=300)


def test_copy_by_export_across_accounts_catches_up_item_for_item(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target, bucket = names("orders"), names("orders-copy"), names("exports")
    source_with_pitr(dynamodb, source, items=120)
    s3 = assumed_s3(OTHER_ROLE)
    s3.create_bucket(Bucket=bucket)
    catch_up = CatchUp(dynamodb, source, s3, bucket).install(monkeypatch)

    result = run(runtime, payload(source, target, bucket))

    assert result.succeeded, result.cause
    other = assumed_dynamodb(OTHER_ROLE)
    assert assert_identical(dynamodb, source, other, target) == 120  # a put, an update and a delete came over
    states = entered(history(runtime, result))
    assert "Copy By Export" in states and "Copy Segments" not in states and "Verify Segments" not in states
    report = result.output
    assert report["strategy"] == "export"
    (incremental,) = catch_up.started
    assert report["point_in_time"] == report["by_export"]["exports"][-1]["end"]
    assert [export["kind"] for export in report["by_export"]["exports"]] == ["FULL", "INCREMENTAL"]
    assert incremental["S3BucketOwner"] == "222222222222"
    assert "consistent snapshot" in report["by_export"]["snapshot"]
    assert report["verification"] == {**report["verification"], "verify": "count", "items": 120}
    assert (report["by_export"]["puts"], report["by_export"]["deletes"]) == (2, 1)
    described = other.describe_table(TableName=target)["Table"]
    assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == ["by_kind"]
    pitr = other.describe_continuous_backups(TableName=target)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"  # Finalize Target


def test_recreate_by_export_backs_up_drops_and_imports(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], s3: Client
) -> None:
    source, target, bucket = names("orders"), names("orders-staging"), names("exports")
    source_with_pitr(dynamodb, source, items=30)
    dynamodb.create_table(
        TableName=target,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=KEYS["KeySchema"],
        AttributeDefinitions=KEYS["AttributeDefinitions"][:2],
    )
    dynamodb.put_item(TableName=target, Item={"pk": {"S": "stale"}, "sk": {"N": "1"}})
    s3.create_bucket(Bucket=bucket)
    request = payload(source, target, bucket, mode="recreate", confirm_recreate=target)
    request["target"] = {"table": target}

    result = run(runtime, request)

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 30  # the stale item went with the old table
    assert result.output["pre_drop_backup"]["status"] == "AVAILABLE"


def test_a_dry_run_with_auto_estimates_both_and_changes_nothing(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], s3: Client
) -> None:
    source, target, bucket = names("orders"), names("orders-copy"), names("exports")
    source_with_pitr(dynamodb, source, items=20)
    s3.create_bucket(Bucket=bucket)
    request = payload(source, target, bucket, strategy="auto", dry_run=True)
    request["target"] = {"table": target}

    result = run(runtime, request)

    assert result.succeeded, result.cause
    plan = result.output
    assert plan["strategy"] == "scan" and "export $" in plan["strategy_reason"]
    assert plan["estimate"]["total_usd"] < plan["export_estimate"]["total_usd"]
    console = Console(record=True, width=200)
    show_result(console, result)  # the readable view prints both estimates and the choice
    shown = console.export_text()
    assert "estimate: $" in shown and "by export: $" in shown and "strategy scan: " in shown
    assert target not in dynamodb.list_tables()["TableNames"]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_export_without_pitr_is_refused_before_anything_is_touched(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], s3: Client
) -> None:
    source, target, bucket = names("orders"), names("orders-copy"), names("exports")
    create_source(dynamodb, source, items=5, pad=10, importable=True)
    s3.create_bucket(Bucket=bucket)
    request = payload(source, target, bucket)
    request["target"] = {"table": target}

    result = run(runtime, request)

    assert not result.succeeded
    assert result.error == "InvalidInput"
    assert "point-in-time recovery is off" in (result.cause or "")
    assert target not in dynamodb.list_tables()["TableNames"]
