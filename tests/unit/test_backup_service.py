"""BackupService and table resolution on moto in-process, plus the failure cases moto cannot produce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ddbkeeper.aws import Client
from ddbkeeper.backup import BackupService, RateLimiter, backup_name, own_backup_pattern, resolve_tables
from ddbkeeper.errors import AccessDenied, InvalidInput, TableNotFound, Throttled
from ddbkeeper.models import Selector
from ddbkeeper.retention import RetentionPolicy
from ddbkeeper.table_settings import SettingsRecords
from moto import mock_aws

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[Client]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for name, tags in (("orders", {"backup": "daily"}), ("orders-archive", {"backup": "weekly"}), ("users", {})):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        yield client


@pytest.mark.parametrize(
    ("names", "selector", "expected"),
    [
        (["users"], None, ["users"]),
        (["users", "users"], None, ["users"]),
        ([], Selector(name_prefix="orders"), ["orders", "orders-archive"]),
        ([], Selector(tag_key="backup"), ["orders", "orders-archive"]),
        ([], Selector(tag_key="backup", tag_value="daily"), ["orders"]),
        (["users"], Selector(name_prefix="orders", tag_key="backup", tag_value="weekly"), ["users", "orders-archive"]),
        (["missing-is-checked-later"], None, ["missing-is-checked-later"]),
    ],
)
def test_resolve_tables(dynamodb: Client, names: list[str], selector: Selector | None, expected: list[str]) -> None:
    assert resolve_tables(dynamodb, names, selector, "us-east-1") == expected


def test_a_selector_matching_nothing_is_an_error(dynamodb: Client) -> None:
    with pytest.raises(
        TableNotFound, match=r"selector \{'tag_key': 'backup', 'tag_value': 'hourly'\} matched no table"
    ):
        resolve_tables(dynamodb, ["users"], Selector(tag_key="backup", tag_value="hourly"), "us-east-1")


def test_create_is_idempotent_per_name(dynamodb: Client) -> None:
    service = BackupService(dynamodb)
    first = service.create("orders", "ddbkeeper-orders-20261122T030000123Z")
    again = service.create("orders", "ddbkeeper-orders-20261122T030000123Z")

    assert (first.reused, again.reused) == (False, True)
    assert first.arn == again.arn
    assert first.status == "AVAILABLE"
    assert len(dynamodb.list_backups(TableName="orders")["BackupSummaries"]) == 1


def test_create_on_a_missing_table_is_table_not_found(dynamodb: Client) -> None:
    with pytest.raises(TableNotFound, match="CreateBackup nope"):
        BackupService(dynamodb).create("nope", "ddbkeeper-nope-20261122T030000123Z")


def test_own_backups_are_recognised_by_exact_name(dynamodb: Client) -> None:
    service = BackupService(dynamodb)
    own = ["ddbkeeper-orders-20261120T030000000Z", "ddbkeeper-orders-20261121T030000000Z"]
    for name in [*own, "manual", "ddbkeeper-orders-latest", "other-orders-20261121T030000000Z"]:
        dynamodb.create_backup(TableName="orders", BackupName=name)
    dynamodb.create_backup(TableName="orders-archive", BackupName="ddbkeeper-orders-archive-20261121T030000000Z")

    assert sorted(b.name for b in service.own_backups("orders", "ddbkeeper")) == own
    assert [b.name for b in service.own_backups("orders-archive", "ddbkeeper")] == [
        "ddbkeeper-orders-archive-20261121T030000000Z"
    ]


def test_prune_deletes_only_what_no_rule_keeps(dynamodb: Client) -> None:
    service = BackupService(dynamodb, sleep=lambda s: None)
    names = [f"ddbkeeper-orders-2026112{day}T030000000Z" for day in range(5)]
    for name in names:
        dynamodb.create_backup(TableName="orders", BackupName=name)
    dynamodb.create_backup(TableName="orders", BackupName="manual")

    dry = service.prune("orders", "ddbkeeper", RetentionPolicy(keep_last=2), NOW, dry_run=True)
    assert len(dry.would_delete) == 3 and dry.deleted == ()
    assert len(dynamodb.list_backups(TableName="orders")["BackupSummaries"]) == 6

    outcome = service.prune("orders", "ddbkeeper", RetentionPolicy(keep_last=2), NOW, dry_run=False)
    remaining = sorted(s["BackupName"] for s in dynamodb.list_backups(TableName="orders")["BackupSummaries"])
    assert outcome.kept == 2
    assert sorted(outcome.deleted) == sorted(dry.would_delete)
    assert len(remaining) == 3 and "manual" in remaining

    assert service.prune("orders", "ddbkeeper", None, NOW, dry_run=False).kept == 2


class FakeDynamoDB:
    """A DynamoDB that fails DeleteBackup in the ways moto cannot."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.deleted: list[str] = []

    def delete_backup(self, BackupArn: str) -> dict[str, Any]:
        if self.failures:
            code = self.failures.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "DeleteBackup")
        self.deleted.append(BackupArn)
        return {}


def test_a_backup_deleted_meanwhile_is_not_an_error() -> None:
    fake = FakeDynamoDB(["BackupNotFoundException"])
    assert BackupService(fake)._delete("arn:b") is False


def test_throttled_deletes_are_retried_then_give_up() -> None:
    sleeps: list[float] = []
    fake = FakeDynamoDB(["ThrottlingException", "LimitExceededException"])
    assert BackupService(fake, sleep=sleeps.append)._delete("arn:b") is True
    assert fake.deleted == ["arn:b"]

    hopeless = FakeDynamoDB(["ThrottlingException"] * 10)
    with pytest.raises(Throttled):
        BackupService(hopeless, sleep=sleeps.append)._delete("arn:b")
    assert hopeless.failures == ["ThrottlingException"] * 4  # 6 attempts, then the error surfaces

    with pytest.raises(AccessDenied):
        BackupService(FakeDynamoDB(["AccessDeniedException"]))._delete("arn:b")


def test_rate_limiter_spaces_calls() -> None:
    clock = {"now": 100.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds

    limiter = RateLimiter(10.0, clock=lambda: clock["now"], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == pytest.approx([0.1] * 4)
    clock["now"] += 5
    limiter.acquire()
    assert len(slept) == 4


def test_backup_names() -> None:
    name = backup_name("ddbkeeper", "orders", "20261122T030000123Z")
    assert name == "ddbkeeper-orders-20261122T030000123Z"
    assert own_backup_pattern("ddbkeeper", "orders").match(name)
    assert not own_backup_pattern("ddbkeeper", "orders").match("ddbkeeper-orders-archive-20261122T030000123Z")
    assert not own_backup_pattern("ddb.keeper", "orders").match("ddbXkeeper-orders-20261122T030000123Z")
    with pytest.raises(InvalidInput, match="backup_name_prefix"):
        backup_name("p" * 64, "t" * 255, "20261122T030000123Z")


def test_timestamps_round_trip_through_the_policy(dynamodb: Client) -> None:
    """BackupCreationDateTime from the API is what retention sorts on, in UTC."""
    service = BackupService(dynamodb)
    dynamodb.create_backup(TableName="users", BackupName="ddbkeeper-users-20261122T030000000Z")
    (backup,) = service.own_backups("users", "ddbkeeper")
    assert backup.created.tzinfo is not None
    assert abs(datetime.now(UTC) - backup.created) < timedelta(minutes=5)


def test_the_tables_settings_are_recorded_beside_its_backup(dynamodb: Client) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stack-bucket")
    dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    dynamodb.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    records = SettingsRecords(s3, "stack-bucket")
    service = BackupService(dynamodb)

    state = service.record_settings("orders", service.create("orders", "ddbkeeper-orders-1"), records)

    account, backup_path = state.arn.split(":")[4], state.arn.split(":table/")[1]
    assert state.settings == f"s3://stack-bucket/ddbkeeper-settings/{account}/us-east-1/{backup_path}.json"
    assert records.load(state.arn) == {
        "table_class": "STANDARD",
        "stream": None,
        "ttl_attribute": "ttl",
        "pitr": True,
        "tags": {"backup": "daily"},
        "deletion_protection": False,
    }
    assert records.load(state.arn.replace("orders", "users")) is None  # a backup nobody recorded


def test_settings_that_cannot_be_recorded_are_reported_and_the_backup_stands(dynamodb: Client) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")  # no such bucket
    service = BackupService(dynamodb)
    created = service.create("orders", "ddbkeeper-orders-1")

    state = service.record_settings("orders", created, SettingsRecords(s3, "missing-bucket"))

    assert state.settings is not None
    assert state.settings.startswith("not recorded: PutObject s3://missing-bucket/ddbkeeper-settings/")
    assert "NoSuchBucket" in state.settings
    assert service.record_settings("orders", created, None) == created  # no stack bucket: nothing to record
    assert [b["BackupArn"] for b in dynamodb.list_backups(TableName="orders")["BackupSummaries"]] == [created.arn]
