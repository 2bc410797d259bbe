"""BackupService on moto in-process, plus the failure cases moto cannot produce."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.backup.models import BackupRequest, BackupSettings, BackupState, BackupTask
from ddbkeeper.backup.service import BackupService
from ddbkeeper.backup_names import backup_name, own_backup_pattern
from ddbkeeper.errors import AccessDenied, InvalidInput, Misconfigured, TableNotFound, Throttled
from ddbkeeper.models import Execution, parse
from ddbkeeper.pacing import RateLimiter
from ddbkeeper.settings import SettingsRecords, TableSettings
from moto import mock_aws

from tests.support import Client, made_by_ddbkeeper

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
EXECUTION = Execution(name="backup-run-1", started_at=datetime(2026, 11, 22, 3, 0, 0, 123000, tzinfo=UTC))


def task(execution: Execution = EXECUTION, **request: Any) -> BackupTask:
    return BackupTask(request=parse(BackupRequest, {"tables": ["orders"], **request}), execution=execution)


STACK_BUCKET = "stack-bucket"


def records(bucket: str = STACK_BUCKET) -> SettingsRecords:
    return SettingsRecords(Account(SessionFactory(), AccountAccess()), bucket)


def service(
    records: SettingsRecords | None = None,
    execution: Execution = EXECUTION,
    settings: BackupSettings | None = None,
    **request: Any,
) -> BackupService:
    account = Account(SessionFactory(), AccountAccess())
    return BackupService(
        task(execution, **request), account, records, settings=settings, sleep=lambda s: None, clock=lambda: NOW
    )


@pytest.fixture
def dynamodb() -> Iterator[Client]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=STACK_BUCKET)
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
    ("tables", "selector", "expected"),
    [
        (["users"], None, ["users"]),
        (["users", "users"], None, ["users"]),
        (None, {"name_prefix": "orders"}, ["orders", "orders-archive"]),
        (None, {"tag_key": "backup"}, ["orders", "orders-archive"]),
        (None, {"tag_key": "backup", "tag_value": "daily"}, ["orders"]),
        (["users"], {"name_prefix": "orders", "tag_key": "backup", "tag_value": "weekly"}, ["users", "orders-archive"]),
        (["missing-is-checked-later"], None, ["missing-is-checked-later"]),
    ],
)
def test_resolve_tables(dynamodb: Client, tables: list[str], selector: dict[str, str], expected: list[str]) -> None:
    resolved = service(tables=tables, selector=selector).resolve_tables()
    assert resolved.tables == expected
    assert resolved.execution == EXECUTION


def test_a_selector_matching_nothing_is_an_error(dynamodb: Client) -> None:
    with pytest.raises(
        TableNotFound, match=r"selector \{'tag_key': 'backup', 'tag_value': 'hourly'\} matched no table"
    ):
        service(tables=["users"], selector={"tag_key": "backup", "tag_value": "hourly"}).resolve_tables()


def test_names_too_long_are_refused_before_any_backup(dynamodb: Client) -> None:
    with pytest.raises(InvalidInput, match="backup_name_prefix"):
        service(tables=["t" * 250], backup_name_prefix="p" * 10).resolve_tables()


def test_create_is_idempotent_per_execution(dynamodb: Client) -> None:
    first = service().create_backup("orders")
    again = service().create_backup("orders")

    assert (first.reused, again.reused) == (False, True)
    assert first.arn == again.arn
    assert first.name == "ddbkeeper-orders-20261122T030000123Z"
    assert first.status == "AVAILABLE"
    assert len(dynamodb.list_backups(TableName="orders")["BackupSummaries"]) == 1


def test_create_on_a_missing_table_is_table_not_found(dynamodb: Client) -> None:
    with pytest.raises(TableNotFound, match="CreateBackup nope"):
        service().create_backup("nope")
    with pytest.raises(TableNotFound, match="CreateBackup nope"):
        service(dry_run=True).create_backup("nope")


def test_a_dry_run_creates_nothing_and_names_the_backup_it_would_take(dynamodb: Client) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")

    planned = service(records(), dry_run=True).create_backup("orders")

    assert planned == BackupState(
        arn=None,
        name="ddbkeeper-orders-20261122T030000123Z",
        status="PLANNED",
        created_at="2026-11-22T03:00:00.123000+00:00",
    )
    assert service(dry_run=True).check_backup(planned) == planned
    assert dynamodb.list_backups(TableName="orders")["BackupSummaries"] == []
    assert s3.list_objects_v2(Bucket=STACK_BUCKET)["KeyCount"] == 0


def test_own_backups_are_recognised_by_exact_name(dynamodb: Client) -> None:
    own = ["ddbkeeper-orders-20261120T030000000Z", "ddbkeeper-orders-20261121T030000000Z"]
    for name in [*own, "manual", "ddbkeeper-orders-latest", "other-orders-20261121T030000000Z"]:
        dynamodb.create_backup(TableName="orders", BackupName=name)
    dynamodb.create_backup(TableName="orders-archive", BackupName="ddbkeeper-orders-archive-20261121T030000000Z")

    assert sorted(b.name for b in service().own_backups("orders")) == own
    assert [b.name for b in service().own_backups("orders-archive")] == ["ddbkeeper-orders-archive-20261121T030000000Z"]


NEWEST = BackupState(arn=None, name="x", status="AVAILABLE")


def test_retention_deletes_only_what_no_rule_keeps(dynamodb: Client) -> None:
    names = [f"ddbkeeper-orders-2026112{day}T030000000Z" for day in range(5)]
    made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", names)
    dynamodb.create_backup(TableName="orders", BackupName="manual")

    outcome = service(records(), retention={"keep_last": 2}).enforce_retention("orders", NEWEST)
    remaining = sorted(s["BackupName"] for s in dynamodb.list_backups(TableName="orders")["BackupSummaries"])
    assert outcome.kept == 2
    assert len(outcome.deleted) == 3 and outcome.would_delete == [] and outcome.unproven == []
    assert len(remaining) == 3 and "manual" in remaining

    assert service(records()).enforce_retention("orders", NEWEST).kept == 2  # no policy: nothing deleted


def test_a_backup_merely_named_like_ours_is_never_deleted(dynamodb: Client) -> None:
    """A human's backup with the service's exact name form has no record beside it: retention keeps it."""
    made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", ["ddbkeeper-orders-20261121T030000000Z"])
    dynamodb.create_backup(TableName="orders", BackupName="ddbkeeper-orders-20250101T000000000Z")

    outcome = service(records(), retention={"keep_last": 1}).enforce_retention("orders", NEWEST)

    assert outcome.unproven == ["ddbkeeper-orders-20250101T000000000Z"]
    assert outcome.deleted == []
    assert len(dynamodb.list_backups(TableName="orders")["BackupSummaries"]) == 2


def test_a_record_naming_another_backup_proves_nothing(dynamodb: Client) -> None:
    (arn,) = made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", ["ddbkeeper-orders-20261120T030000000Z"])
    made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", ["ddbkeeper-orders-20261121T030000000Z"])
    s3 = boto3.client("s3", region_name="us-east-1")
    key = records().url(arn).removeprefix(f"s3://{STACK_BUCKET}/")
    forged = json.loads(s3.get_object(Bucket=STACK_BUCKET, Key=key)["Body"].read())
    forged["backup_arn"] = "forged"
    s3.put_object(Bucket=STACK_BUCKET, Key=key, Body=json.dumps(forged).encode())

    assert records().record(arn) is None
    assert records().load(arn) is None
    outcome = service(records(), retention={"keep_last": 1}).enforce_retention("orders", NEWEST)
    assert outcome.deleted == [] and outcome.unproven == ["ddbkeeper-orders-20261120T030000000Z"]


def test_without_the_stacks_records_retention_deletes_nothing(dynamodb: Client) -> None:
    made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", [f"ddbkeeper-orders-2026112{d}T030000000Z" for d in range(3)])

    outcome = service(None, retention={"keep_last": 1}).enforce_retention("orders", NEWEST)

    assert outcome.deleted == [] and len(outcome.unproven) == 3
    assert len(dynamodb.list_backups(TableName="orders")["BackupSummaries"]) == 3


def test_the_stack_fixes_the_prefix_and_the_regions(dynamodb: Client) -> None:
    with pytest.raises(InvalidInput, match=r"backup_name_prefix: 'manual' is not this stack's prefix \('ddbkeeper'\)"):
        service(backup_name_prefix="manual")
    assert service(settings=BackupSettings(BACKUP_NAME_PREFIX="nightly")).prefix == "nightly"
    assert service(backup_name_prefix="ddbkeeper").prefix == "ddbkeeper"
    allowed = BackupSettings(ALLOWED_REGIONS="us-east-1,eu-west-1,")
    with pytest.raises(InvalidInput, match=r"region: 'ap-fake-9' is not a region this stack acts in"):
        service(settings=allowed, region="ap-fake-9")
    assert service(settings=allowed, region="eu-west-1").request.region == "eu-west-1"


def test_a_dry_run_of_retention_counts_the_backup_it_would_take(dynamodb: Client) -> None:
    made_by_ddbkeeper(dynamodb, STACK_BUCKET, "orders", [f"ddbkeeper-orders-2026111{d}T030000000Z" for d in range(3)])
    now = Execution(name="later", started_at=datetime.now(UTC) + timedelta(seconds=1))  # moto stamps backups "now"
    planned = service(dry_run=True, execution=now).create_backup("orders")

    outcome = service(records(), execution=now, dry_run=True, retention={"keep_last": 2}).enforce_retention(
        "orders", planned
    )

    # keep_last 2 keeps the planned backup and the newest existing one: two existing ones would go.
    assert outcome.would_delete == ["ddbkeeper-orders-20261110T030000000Z", "ddbkeeper-orders-20261111T030000000Z"]
    assert outcome.deleted == [] and outcome.dry_run
    assert len(dynamodb.list_backups(TableName="orders")["BackupSummaries"]) == 3


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


def faked(fake: FakeDynamoDB, sleeps: list[float] | None = None) -> BackupService:
    account = types.SimpleNamespace(dynamodb=fake, region="us-east-1")
    sleep = sleeps.append if sleeps is not None else lambda s: None
    return BackupService(task(), account, sleep=sleep)  # type: ignore[arg-type]


def test_a_backup_deleted_meanwhile_is_not_an_error() -> None:
    assert faked(FakeDynamoDB(["BackupNotFoundException"]))._delete("arn:b") is False


def test_throttled_deletes_are_retried_then_give_up() -> None:
    sleeps: list[float] = []
    fake = FakeDynamoDB(["ThrottlingException", "LimitExceededException"])
    assert faked(fake, sleeps)._delete("arn:b") is True
    assert fake.deleted == ["arn:b"]

    hopeless = FakeDynamoDB(["ThrottlingException"] * 10)
    with pytest.raises(Throttled):
        faked(hopeless, sleeps)._delete("arn:b")
    assert hopeless.failures == ["ThrottlingException"] * 4  # 6 attempts, then the error surfaces

    with pytest.raises(AccessDenied):
        faked(FakeDynamoDB(["AccessDeniedException"]))._delete("arn:b")


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


@pytest.mark.pure
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
    dynamodb.create_backup(TableName="users", BackupName="ddbkeeper-users-20261122T030000000Z")
    (backup,) = service().own_backups("users")
    assert backup.created.tzinfo is not None
    assert abs(datetime.now(UTC) - backup.created) < timedelta(minutes=5)


def test_the_tables_settings_are_recorded_beside_its_backup(dynamodb: Client) -> None:
    dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    dynamodb.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    state = service(records()).create_backup("orders")

    assert state.arn is not None
    account, backup_path = state.arn.split(":")[4], state.arn.split(":table/")[1]
    assert state.settings == f"s3://stack-bucket/ddbkeeper-settings/{account}/us-east-1/{backup_path}.json"
    assert state.settings_error is None
    assert records().load(state.arn) == TableSettings(
        table_class="STANDARD", ttl_attribute="ttl", pitr=True, tags={"backup": "daily"}, deletion_protection=False
    )
    assert records().load(state.arn.replace("orders", "users")) is None  # a backup nobody recorded


def test_settings_that_cannot_be_recorded_are_reported_and_the_backup_stands(dynamodb: Client) -> None:
    state = service(records("missing-bucket")).create_backup("orders")  # no such bucket

    assert state.settings is None
    assert state.settings_error is not None
    assert state.settings_error.startswith("PutObject s3://missing-bucket/ddbkeeper-settings/")
    assert "NoSuchBucket" in state.settings_error
    assert [b["BackupArn"] for b in dynamodb.list_backups(TableName="orders")["BackupSummaries"]] == [state.arn]


def test_for_task_reads_the_functions_environment(dynamodb: Client) -> None:
    built = BackupService.for_task(task(), {"SETTINGS_BUCKET": STACK_BUCKET, "DELETE_BACKUP_RATE": "2"})
    assert built.records is not None and built.records.bucket == STACK_BUCKET
    assert built.settings.DELETE_BACKUP_RATE == 2.0
    assert BackupService.for_task(task(), {}).records is None
    with pytest.raises(Misconfigured, match="DELETE_BACKUP_RATE"):
        BackupService.for_task(task(), {"DELETE_BACKUP_RATE": "fast"})
