"""Restores on moto: every item comes back, the dropped settings are re-applied, refusals come before any change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.backup.models import BackupRequest, BackupTask
from ddbkeeper.backup.service import BackupService
from ddbkeeper.errors import InvalidInput, TargetExists, VerificationFailed
from ddbkeeper.models import Execution, parse
from ddbkeeper.restore import RestoreService
from ddbkeeper.restore_models import RestoreRequest, RestoreTask
from ddbkeeper.settings import SettingsRecords as BackupRecords
from ddbkeeper.table_settings import SettingsRecords
from ddbkeeper.tables import TableSide
from moto import mock_aws

from tests.export.test_export_service import BUCKET, export
from tests.support import Client
from tests.support.tables import KEYS, all_items, assert_identical, create_source, protect, settings_of

STARTED = datetime.now(UTC) - timedelta(seconds=5)


@pytest.fixture
def aws() -> Iterator[tuple[Client, Client]]:
    with mock_aws():
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield dynamodb, s3


def restore(
    dynamodb: Client,
    s3: Client,
    payload: dict[str, Any],
    name: str = "restore-1",
    records: SettingsRecords | None = None,
) -> dict[str, Any]:
    """One run of the workflow's steps, chained as statemachines/restore.asl.json chains them."""
    task = RestoreTask(request=parse(RestoreRequest, payload), execution=Execution(name=name, started_at=STARTED))
    steps = RestoreService(dynamodb, s3, records=records)
    plan = steps.plan(task.request)
    progress = steps.start(plan, task.execution)
    deadline = time.monotonic() + 30
    while progress["status"] == "CREATING" and time.monotonic() < deadline:
        progress = steps.check(plan, progress)
        time.sleep(0.01)
    assert progress["status"] == "ACTIVE", progress
    for _ in range(len(plan["settings"]) + 1):
        if steps.finalize(plan)["pending"] == 0:
            break
    side = TableSide(Account(SessionFactory(), task.request.target.access()), task.request.target.table)
    return steps.verify(task, plan, progress, side, datetime.now(UTC))


def test_restore_from_backup_gives_every_item_back_with_the_dropped_settings(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=150, pad=100)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]

    report = restore(dynamodb, s3, {"source": {"backup_arn": backup}, "target": {"table": "orders-restored"}})

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-restored") == 150
    assert report["items"] == 150
    assert report["verification"] == {"verify": "count", "items": 150, "expected": 150, "result": "MATCH"}
    assert report["table_arn"].endswith(":table/orders-restored")
    assert report["duration_seconds"] >= 0
    assert settings_of(dynamodb, "orders-restored") == settings_of(dynamodb, "orders")
    described = dynamodb.describe_table(TableName="orders-restored")["Table"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["by_kind"]


def test_a_deleted_tables_backup_gets_the_settings_recorded_with_it(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=40, pad=0)
    protect(dynamodb, "orders")
    records = SettingsRecords(s3, BUCKET)
    task = BackupTask(
        request=BackupRequest(tables=["orders"]), execution=Execution(name="x", started_at="2026-11-22T03:00:00Z")
    )
    account = Account(SessionFactory(), AccountAccess())
    backup = BackupService(task, account, BackupRecords(account, BUCKET)).create_backup("orders")
    before = settings_of(dynamodb, "orders")
    items = sorted(all_items(dynamodb, "orders"), key=str)
    dynamodb.update_table(TableName="orders", DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName="orders")
    payload = {"source": {"backup_arn": backup.arn}, "target": {"table": "orders"}}

    report = restore(dynamodb, s3, payload, records=records)

    assert sorted(all_items(dynamodb, "orders"), key=str) == items
    assert settings_of(dynamodb, "orders") == before  # tags, PITR and deletion protection came from the record
    assert report["settings_from"] == f"recorded with the backup: {backup.settings}"


def test_without_a_record_a_deleted_tables_backup_gets_what_the_backup_itself_kept(
    aws: tuple[Client, Client],
) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=5, pad=0)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="manual")["BackupDetails"]["BackupArn"]
    dynamodb.update_table(TableName="orders", DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName="orders")
    payload = {"source": {"backup_arn": backup}, "target": {"table": "orders-2", "tags": {"owner": "ops"}}}

    report = restore(dynamodb, s3, payload, records=SettingsRecords(s3, BUCKET))

    restored = settings_of(dynamodb, "orders-2")
    assert (restored["tags"], restored["pitr"], restored["deletion_protection"]) == (
        {"owner": "ops"},
        "DISABLED",
        False,
    )
    assert report["settings_from"] == "the request only: orders is gone and no settings were recorded with the backup"


def test_overrides_win_over_what_the_source_had(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=5, pad=0)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    target = {"table": "orders-dev", "deletion_protection": False, "tags": {"env": "dev"}, "ttl_attribute": "gone"}

    restore(dynamodb, s3, {"source": {"backup_arn": backup}, "target": target})

    restored = settings_of(dynamodb, "orders-dev")
    assert restored["deletion_protection"] is False
    assert restored["tags"] == {"env": "dev", "team": "payments"}
    assert restored["ttl"] == "gone"


def test_an_export_imported_into_a_new_table_gives_every_item_back(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=200, pad=100, importable=True)
    exported = export(dynamodb, s3, {"table": "orders", "bucket": BUCKET, "enable_pitr": True}, STARTED)
    keys = {"key_schema": KEYS["KeySchema"], "attribute_definitions": KEYS["AttributeDefinitions"][:2]}

    report = restore(
        dynamodb,
        s3,
        {"source": {"export": {"export_arn": exported["export_arn"]}}, "target": {"table": "orders-import", **keys}},
    )

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-import") == 200
    assert report["verification"]["result"] == "MATCH"
    assert report["kind"] == "export"


def test_an_import_may_rebuild_the_table_on_a_new_partition_key(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    dynamodb.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(40):
        dynamodb.put_item(TableName="users", Item={"id": {"S": f"u{n}"}, "email": {"S": f"u{n}@example.com"}})
    exported = export(dynamodb, s3, {"table": "users", "bucket": BUCKET, "enable_pitr": True}, STARTED)
    folder = exported["s3"].removeprefix(f"s3://{BUCKET}/").rstrip("/")
    target = {
        "table": "users-by-email",
        "key_schema": [{"AttributeName": "email", "KeyType": "HASH"}],
        "attribute_definitions": [{"AttributeName": "email", "AttributeType": "S"}],
    }

    report = restore(dynamodb, s3, {"source": {"export": {"bucket": BUCKET, "prefix": folder}}, "target": target})

    assert report["items"] == 40

    def by_id(table: str) -> list[dict[str, Any]]:
        return sorted(dynamodb.scan(TableName=table)["Items"], key=lambda item: item["id"]["S"])

    assert by_id("users-by-email") == by_id("users")
    assert dynamodb.describe_table(TableName="users-by-email")["Table"]["KeySchema"] == target["key_schema"]


def test_point_in_time_latest_restores_the_table(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=30, pad=0)
    protect(dynamodb, "orders")

    report = restore(
        dynamodb, s3, {"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "orders-2"}}
    )

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-2") == 30
    assert report["point_in_time"] == "latest"
    assert report["verification"]["result"].startswith("COUNTED")
    assert settings_of(dynamodb, "orders-2") == settings_of(dynamodb, "orders")


def test_a_point_in_time_is_sent_as_given_and_checked_against_the_window(
    aws: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto ignores the restore time and its window is one instant: inject a window, capture what is sent."""
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=3, pad=0)
    dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "EarliestRestorableDateTime": now - timedelta(days=2),
        "LatestRestorableDateTime": now - timedelta(minutes=5),
    }
    sent: list[dict[str, Any]] = []

    def inject_window(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"].update(window)

    dynamodb.meta.events.register("after-call.dynamodb.DescribeContinuousBackups", inject_window)
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.RestoreTableToPointInTime", lambda params, **_: sent.append(dict(params))
    )
    steps = RestoreService(dynamodb, s3)
    execution = Execution(name="r", started_at=now)
    wanted = now - timedelta(hours=1)

    for moment in (now - timedelta(days=3), now):
        request = parse(
            RestoreRequest,
            {"source": {"table": "orders", "point_in_time": moment.isoformat()}, "target": {"table": "orders-3"}},
        )
        with pytest.raises(InvalidInput, match=r"source.point_in_time: .* is outside the restorable window"):
            steps.plan(request)
    request = parse(
        RestoreRequest,
        {"source": {"table": "orders", "point_in_time": wanted.isoformat()}, "target": {"table": "orders-3"}},
    )
    steps.start(steps.plan(request), execution)

    assert sent[0]["RestoreDateTime"] == wanted
    assert "UseLatestRestorableTime" not in sent[0]


def test_an_existing_target_is_refused_before_anything_changes(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=2, pad=0)
    create_source(dynamodb, "taken", items=1, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    request = parse(RestoreRequest, {"source": {"backup_arn": backup}, "target": {"table": "taken"}})

    with pytest.raises(TargetExists, match=r"target.table: taken exists"):
        RestoreService(dynamodb, s3).plan(request)
    assert len(all_items(dynamodb, "taken")) == 1


def test_a_retried_start_adopts_its_own_restore_and_refuses_a_stranger(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=2, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    request = parse(RestoreRequest, {"source": {"backup_arn": backup}, "target": {"table": "orders-4"}})
    steps = RestoreService(dynamodb, s3)
    plan = steps.plan(request)
    execution = Execution(name="r", started_at=STARTED)

    steps.start(plan, execution)
    assert steps.start(plan, execution)["status"] == "CREATING"  # the retry finds its own table

    later = Execution(name="r2", started_at=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(TargetExists, match="created by someone else"):
        steps.start(plan, later)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"table": "orders", "point_in_time": "latest"}, "source.table: orders has point-in-time recovery off"),
        (
            {"backup_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/0123"},
            "source.backup_arn: no backup",
        ),
    ],
)
def test_sources_that_cannot_be_restored_are_named(
    aws: tuple[Client, Client], source: dict[str, Any], message: str
) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=1, pad=0)
    with pytest.raises(Exception, match=message):
        RestoreService(dynamodb, s3).plan(parse(RestoreRequest, {"source": source, "target": {"table": "orders-5"}}))


def test_an_import_that_loses_items_fails_verification(aws: tuple[Client, Client]) -> None:
    """moto's ImportTable silently skips a file holding an empty map: the kind of loss the count check is there for."""
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=20, pad=0)
    exported = export(dynamodb, s3, {"table": "orders", "bucket": BUCKET, "enable_pitr": True}, STARTED)
    keys = {"key_schema": KEYS["KeySchema"], "attribute_definitions": KEYS["AttributeDefinitions"][:2]}
    payload = {"source": {"export": {"export_arn": exported["export_arn"]}}, "target": {"table": "lossy", **keys}}

    with pytest.raises(VerificationFailed, match="lossy has 0 items; 20 were exported"):
        restore(dynamodb, s3, payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"source": {"table": "orders", "point_in_time": "2026-11-22 03:00"}, "target": {"table": "orders-6"}},
            "time zone",
        ),
        (
            {"source": {"table": "orders", "point_in_time": "noon"}, "target": {"table": "orders-6"}},
            "source.point_in_time",
        ),
        ({"source": {"table": "orders"}, "target": {"table": "orders-6"}}, "table and point_in_time go together"),
        (
            {"source": {"export": {"bucket": "b-1"}}, "target": {"table": "orders-6"}},
            "give export_arn, or bucket and prefix",
        ),
        (
            {"source": {"export": {"bucket": "bkt", "prefix": "p"}}, "target": {"table": "orders-6"}},
            "an import needs target.key_schema",
        ),
        (
            {
                "source": {"backup_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/o/backup/1"},
                "target": {"table": "orders-6", "region": "eu-west-1"},
            },
            "target.region: a backup restores in its own region",
        ),
        (
            {
                "source": {"backup_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/o/backup/1"},
                "target": {"table": "orders-6", "key_schema": [{"AttributeName": "x", "KeyType": "HASH"}]},
            },
            "only an import from an export can change the keys",
        ),
    ],
)
def test_bad_requests_name_the_field(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(RestoreRequest, payload)


def test_a_point_in_time_restore_across_regions_names_the_source_by_arn(aws: tuple[Client, Client]) -> None:
    """Called in the new table's region with the source's ARN; moto cannot restore across regions, so the answer is
    injected and the request is what is checked."""
    east, s3 = aws
    west = boto3.client("dynamodb", region_name="us-west-2")
    create_source(west, "orders", items=2, pad=0)
    west.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    sent: list[dict[str, Any]] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        sent.append(params["body"])
        return SimpleNamespace(status_code=200), {"TableDescription": {"TableName": "orders-east"}}

    east.meta.events.register("before-call.dynamodb.RestoreTableToPointInTime", answer)
    payload = {
        "source": {"table": "orders", "region": "us-west-2", "point_in_time": "latest"},
        "target": {"table": "orders-east"},
    }
    steps = RestoreService(east, s3, source=west)

    steps.start(steps.plan(parse(RestoreRequest, payload)), Execution(name="r", started_at=STARTED))

    assert len(sent) == 1
    assert '"SourceTableArn": "arn:aws:dynamodb:us-west-2:123456789012:table/orders"' in sent[0].decode()
    assert "SourceTableName" not in sent[0].decode()


def test_an_incremental_export_cannot_be_imported(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=3, pad=0, importable=True)
    payload = {"table": "orders", "bucket": BUCKET, "enable_pitr": True}
    export(dynamodb, s3, payload, STARTED)
    incremental = export(dynamodb, s3, payload, STARTED + timedelta(hours=1))
    assert incremental["export_type"] == "INCREMENTAL"
    keys = {"key_schema": KEYS["KeySchema"], "attribute_definitions": KEYS["AttributeDefinitions"][:2]}
    request = {"source": {"export": {"export_arn": incremental["export_arn"]}}, "target": {"table": "orders-7", **keys}}

    with pytest.raises(InvalidInput, match="an incremental export holds changes, not a table"):
        RestoreService(dynamodb, s3).plan(parse(RestoreRequest, request))


def test_a_backup_count_that_differs_is_reported_not_failed_as_it_is_an_estimate(aws: tuple[Client, Client]) -> None:
    """DescribeBackup's ItemCount is DynamoDB's estimate (moto's is exact: a stale one is injected)."""
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=12, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]

    def stale(parsed: dict[str, Any], **_: Any) -> None:
        parsed["BackupDescription"]["SourceTableDetails"]["ItemCount"] = 10

    dynamodb.meta.events.register("after-call.dynamodb.DescribeBackup", stale)

    report = restore(dynamodb, s3, {"source": {"backup_arn": backup}, "target": {"table": "orders-8"}})

    assert report["items"] == 12
    assert report["verification"]["expected"] == 10
    assert report["verification"]["result"].startswith("DIFFERS from the backup's estimate by +2")
