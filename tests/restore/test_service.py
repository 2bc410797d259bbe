"""Restores on moto: every item comes back, the dropped settings are re-applied, refusals come before any change."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
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
from ddbkeeper.restore.models import RestoreReport, RestoreRequest, RestoreTask, SettingsProgress
from ddbkeeper.restore.service import RestoreService
from ddbkeeper.settings import SETTINGS, SettingsRecords
from moto import mock_aws
from pydantic import BaseModel

from tests.support import Client
from tests.support.exports import export_table
from tests.support.faults import deny_s3_reads
from tests.support.tables import (
    KEYS,
    all_items,
    assert_identical,
    create_source,
    protect,
    settings_of,
    stack_tagged,
)

STARTED = datetime.now(UTC) - timedelta(seconds=5)
BUCKET = "exports-bucket"
STACK = "ddbkeeper"  # the stack name a restore tags its table with when STACK_NAME is not set


@pytest.fixture
def dynamodb() -> Iterator[Client]:
    """moto in-process, with the bucket exports and settings records go to."""
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield boto3.client("dynamodb")


def service(
    payload: dict[str, Any],
    name: str = "restore-1",
    started: datetime = STARTED,
    records: str | None = None,
    **env: str,
) -> RestoreService:
    """The service for one run, built as each step builds it; `records`: the stack's bucket (SETTINGS_BUCKET), `env`:
    the rest of the function's environment (STACK_NAME, ALLOWED_REGIONS)."""
    task = RestoreTask(request=parse(RestoreRequest, payload), execution=Execution(name=name, started_at=started))
    return RestoreService.for_task(task, env | ({"SETTINGS_BUCKET": records} if records else {}))


def client(steps: RestoreService) -> Any:
    """The DynamoDB client the service acts on the new table with (to inject what moto does not do)."""
    return steps.table.control


def through_json(model: BaseModel) -> Any:
    """What the next step reads: Step Functions hands the state over as JSON."""
    return type(model).model_validate(model.model_dump(mode="json"))


def restore(steps: RestoreService) -> RestoreReport:
    """One run of the workflow's steps, chained as statemachines/restore.asl.json chains them."""
    plan = through_json(steps.plan()).plan
    progress = through_json(steps.start(plan))
    deadline = time.monotonic() + 30
    while progress.status == "CREATING" and time.monotonic() < deadline:
        progress = through_json(steps.check(progress))
        time.sleep(0.01)
    assert progress.status == "ACTIVE", progress
    settings = SettingsProgress(pending=-1)
    for _ in range(len(SETTINGS) + 1):
        settings = through_json(steps.finalize(plan, settings))
        if settings.pending == 0:
            break
    report: RestoreReport = through_json(steps.verify(plan, progress))
    return report


def test_restore_from_backup_gives_every_item_back_with_the_dropped_settings(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=150, pad=100)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]

    report = restore(service({"source": {"backup_arn": backup}, "target": {"table": "orders-restored"}}))

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-restored") == 150
    assert report.items == 150
    assert report.verification.model_dump() == {"verify": "count", "items": 150, "expected": 150, "result": "MATCH"}
    assert str(report.table_arn).endswith(":table/orders-restored")
    assert report.duration_seconds >= 0
    assert settings_of(dynamodb, "orders-restored") == stack_tagged(settings_of(dynamodb, "orders"), STACK)
    described = dynamodb.describe_table(TableName="orders-restored")["Table"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["by_kind"]


def test_a_deleted_tables_backup_gets_the_settings_recorded_with_it(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=40, pad=0)
    protect(dynamodb, "orders")
    task = BackupTask(
        request=BackupRequest(tables=["orders"]), execution=Execution(name="x", started_at="2026-11-22T03:00:00Z")
    )
    account = Account(SessionFactory(), AccountAccess())
    backup = BackupService(task, account, SettingsRecords(account, BUCKET)).create_backup("orders")
    before = settings_of(dynamodb, "orders")
    items = sorted(all_items(dynamodb, "orders"), key=str)
    dynamodb.update_table(TableName="orders", DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName="orders")
    payload = {"source": {"backup_arn": backup.arn}, "target": {"table": "orders"}}

    report = restore(service(payload, records=BUCKET))

    assert sorted(all_items(dynamodb, "orders"), key=str) == items
    # tags, PITR and deletion protection came from the record
    assert settings_of(dynamodb, "orders") == stack_tagged(before, STACK)
    assert report.settings_from == f"recorded with the backup: {backup.settings}"


def test_without_a_record_a_deleted_tables_backup_gets_what_the_backup_itself_kept(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=5, pad=0)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="manual")["BackupDetails"]["BackupArn"]
    dynamodb.update_table(TableName="orders", DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName="orders")
    payload = {"source": {"backup_arn": backup}, "target": {"table": "orders-2", "tags": {"owner": "ops"}}}

    report = restore(service(payload, records=BUCKET))

    restored = settings_of(dynamodb, "orders-2")
    assert (restored["tags"], restored["pitr"], restored["deletion_protection"]) == (
        {"owner": "ops", "ddbkeeper:managed-by": STACK},
        "DISABLED",
        False,
    )
    assert report.settings_from == "the request only: orders is gone and no settings were recorded with the backup"


def test_overrides_win_over_what_the_source_had(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=5, pad=0)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    target = {"table": "orders-dev", "deletion_protection": False, "tags": {"env": "dev"}, "ttl_attribute": "gone"}

    restore(service({"source": {"backup_arn": backup}, "target": target}))

    restored = settings_of(dynamodb, "orders-dev")
    assert restored["deletion_protection"] is False
    assert restored["tags"] == {"env": "dev", "team": "payments", "ddbkeeper:managed-by": STACK}
    assert restored["ttl"] == "gone"


def test_an_export_imported_into_a_new_table_gives_every_item_back(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=200, pad=100, importable=True)
    exported = export_table(dynamodb, "orders", BUCKET)
    keys = {"key_schema": KEYS["KeySchema"], "attribute_definitions": KEYS["AttributeDefinitions"][:2]}

    report = restore(
        service(
            {"source": {"export": {"export_arn": exported["ExportArn"]}}, "target": {"table": "orders-import", **keys}}
        )
    )

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-import") == 200
    assert report.verification.result == "MATCH"
    assert report.kind == "export"


def test_an_import_may_rebuild_the_table_on_a_new_partition_key(dynamodb: Client) -> None:
    dynamodb.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(40):
        dynamodb.put_item(TableName="users", Item={"id": {"S": f"u{n}"}, "email": {"S": f"u{n}@example.com"}})
    folder = export_table(dynamodb, "users", BUCKET)["S3Prefix"]
    target = {
        "table": "users-by-email",
        "key_schema": [{"AttributeName": "email", "KeyType": "HASH"}],
        "attribute_definitions": [{"AttributeName": "email", "AttributeType": "S"}],
    }

    report = restore(service({"source": {"export": {"bucket": BUCKET, "prefix": folder}}, "target": target}))

    assert report.items == 40

    def by_id(table: str) -> list[dict[str, Any]]:
        return sorted(dynamodb.scan(TableName=table)["Items"], key=lambda item: item["id"]["S"])

    assert by_id("users-by-email") == by_id("users")
    assert dynamodb.describe_table(TableName="users-by-email")["Table"]["KeySchema"] == target["key_schema"]


def test_point_in_time_latest_restores_the_table(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=30, pad=0)
    protect(dynamodb, "orders")

    report = restore(
        service({"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "orders-2"}})
    )

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-2") == 30
    assert report.point_in_time == "latest"
    assert str(report.verification.result).startswith("COUNTED")
    assert settings_of(dynamodb, "orders-2") == stack_tagged(settings_of(dynamodb, "orders"), STACK)


def test_a_point_in_time_is_sent_as_given_and_checked_against_the_window(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto ignores the restore time and its window is one instant: inject a window, capture what is sent."""
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

    def steps_at(moment: datetime) -> RestoreService:
        payload = {"source": {"table": "orders", "point_in_time": moment.isoformat()}, "target": {"table": "orders-3"}}
        steps = service(payload, name="r", started=now)
        events = client(steps).meta.events
        events.register("after-call.dynamodb.DescribeContinuousBackups", inject_window)
        events.register(
            "provide-client-params.dynamodb.RestoreTableToPointInTime", lambda params, **_: sent.append(dict(params))
        )
        return steps

    wanted = now - timedelta(hours=1)

    for moment in (now - timedelta(days=3), now):
        with pytest.raises(InvalidInput, match=r"source.point_in_time: .* is outside the restorable window"):
            steps_at(moment).plan()
    steps = steps_at(wanted)
    steps.start(steps.plan().plan)

    assert sent[0]["RestoreDateTime"] == wanted
    assert "UseLatestRestorableTime" not in sent[0]


def test_an_existing_target_is_refused_before_anything_changes(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=2, pad=0)
    create_source(dynamodb, "taken", items=1, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]

    with pytest.raises(TargetExists, match=r"target.table: taken exists"):
        service({"source": {"backup_arn": backup}, "target": {"table": "taken"}}).plan()
    assert len(all_items(dynamodb, "taken")) == 1


def test_a_retried_start_adopts_its_own_restore_and_refuses_a_stranger(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=2, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    payload = {"source": {"backup_arn": backup}, "target": {"table": "orders-4"}}
    steps = service(payload, name="r")
    plan = steps.plan().plan

    steps.start(plan)
    assert steps.start(plan).status == "CREATING"  # the retry finds its own table

    later = service(payload, name="r2", started=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(TargetExists, match="created by someone else"):
        later.start(plan)


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
def test_sources_that_cannot_be_restored_are_named(dynamodb: Client, source: dict[str, Any], message: str) -> None:
    create_source(dynamodb, "orders", items=1, pad=0)
    with pytest.raises(Exception, match=message):
        service({"source": source, "target": {"table": "orders-5"}}).plan()


def test_an_import_that_loses_items_fails_verification(dynamodb: Client) -> None:
    """moto's ImportTable silently skips a file holding an empty map: the kind of loss the count check is there for."""
    create_source(dynamodb, "orders", items=20, pad=0)
    exported = export_table(dynamodb, "orders", BUCKET)
    keys = {"key_schema": KEYS["KeySchema"], "attribute_definitions": KEYS["AttributeDefinitions"][:2]}
    payload = {"source": {"export": {"export_arn": exported["ExportArn"]}}, "target": {"table": "lossy", **keys}}

    with pytest.raises(VerificationFailed, match="lossy has 0 items; 20 were exported"):
        restore(service(payload))


def test_a_point_in_time_restore_across_regions_names_the_source_by_arn(dynamodb: Client) -> None:
    """Called in the new table's region with the source's ARN; moto cannot restore across regions, so the answer is
    injected and the request is what is checked."""
    west = boto3.client("dynamodb", region_name="us-west-2")
    create_source(west, "orders", items=2, pad=0)
    west.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    sent: list[dict[str, Any]] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        sent.append(params["body"])
        return SimpleNamespace(status_code=200), {"TableDescription": {"TableName": "orders-east"}}

    payload = {
        "source": {"table": "orders", "region": "us-west-2", "point_in_time": "latest"},
        "target": {"table": "orders-east"},
    }
    steps = service(payload)
    east = client(steps)
    assert east.meta.region_name == "us-east-1"
    east.meta.events.register("before-call.dynamodb.RestoreTableToPointInTime", answer)

    steps.start(steps.plan().plan)

    assert len(sent) == 1
    assert '"SourceTableArn": "arn:aws:dynamodb:us-west-2:123456789012:table/orders"' in sent[0].decode()
    assert "SourceTableName" not in sent[0].decode()


def test_an_incremental_export_cannot_be_imported(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=3, pad=0, importable=True)
    export_table(dynamodb, "orders", BUCKET)
    incremental = export_table(dynamodb, "orders", BUCKET, incremental=True)
    assert incremental["ExportType"] == "INCREMENTAL_EXPORT"
    keys = {"key_schema": KEYS["KeySchema"], "attribute_definitions": KEYS["AttributeDefinitions"][:2]}
    request = {"source": {"export": {"export_arn": incremental["ExportArn"]}}, "target": {"table": "orders-7", **keys}}

    with pytest.raises(InvalidInput, match="an incremental export holds changes, not a table"):
        service(request).plan()


def test_a_backup_count_that_differs_is_reported_not_failed_as_it_is_an_estimate(dynamodb: Client) -> None:
    """DescribeBackup's ItemCount is DynamoDB's estimate (moto's is exact: a stale one is injected)."""
    create_source(dynamodb, "orders", items=12, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]

    def stale(parsed: dict[str, Any], **_: Any) -> None:
        parsed["BackupDescription"]["SourceTableDetails"]["ItemCount"] = 10

    steps = service({"source": {"backup_arn": backup}, "target": {"table": "orders-8"}})
    client(steps).meta.events.register("after-call.dynamodb.DescribeBackup", stale)

    report = restore(steps)

    assert report.items == 12
    assert report.verification.expected == 10
    assert str(report.verification.result).startswith("DIFFERS from the backup's estimate by +2")


# --- the record beside the backup: only the backup's own is used, and it never stands in the way --------------------

FORGED = {
    "table_class": "STANDARD",
    "ttl_attribute": "forged",
    "pitr": True,
    "tags": {"forged": "yes"},
    "deletion_protection": True,
}


def record_key(backup: str) -> str:
    """Where Create Backup records a backup's settings in the stack's bucket."""
    return (
        SettingsRecords(Account(SessionFactory(), AccountAccess()), BUCKET).url(backup).removeprefix(f"s3://{BUCKET}/")
    )


def stack_s3(steps: RestoreService) -> Any:
    """The S3 client the service reads the records with (the function's own access), to inject what moto does not do."""
    return steps.table.account.factory.s3(AccountAccess())


@pytest.mark.parametrize(
    ("names", "why"),
    [
        ("forged", "the record beside the backup names another backup"),
        ("another backup", "the record beside the backup names another backup"),
        ("another table", "the record beside the backup names another table"),
        ("not a record", "the object beside the backup is not a settings record"),
    ],
)
def test_a_forged_record_beside_the_backup_is_ignored_and_the_report_says_so(
    dynamodb: Client, names: str, why: str
) -> None:
    create_source(dynamodb, "orders", items=5, pad=0)
    arn = dynamodb.describe_table(TableName="orders")["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "payments"}])
    backup = dynamodb.create_backup(TableName="orders", BackupName="manual")["BackupDetails"]["BackupArn"]
    other = dynamodb.create_backup(TableName="orders", BackupName="other")["BackupDetails"]["BackupArn"]
    named = {"forged": "forged", "another backup": other, "another table": backup}.get(names, backup)
    table = "payments" if names == "another table" else "orders"
    record = {"backup_arn": named, "table": table, "table_arn": arn, "settings": FORGED}
    body = b"{not a record" if names == "not a record" else json.dumps(record).encode()
    boto3.client("s3").put_object(Bucket=BUCKET, Key=record_key(backup), Body=body)

    report = restore(service({"source": {"backup_arn": backup}, "target": {"table": "orders-2"}}, records=BUCKET))

    assert settings_of(dynamodb, "orders-2") == {
        "ttl": None,
        "pitr": "DISABLED",
        "tags": {"team": "payments", "ddbkeeper:managed-by": STACK},
        "stream": None,
        "deletion_protection": False,
    }
    assert report.settings_from == f"the source table as it is now ({why}: ignored)"
    assert "forged" not in report.settings["tags"]


def test_a_forged_record_of_a_dropped_table_leaves_the_request_only(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=3, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="manual")["BackupDetails"]["BackupArn"]
    dynamodb.delete_table(TableName="orders")
    record = {"backup_arn": "forged", "table": "orders", "table_arn": "x", "settings": FORGED}
    boto3.client("s3").put_object(Bucket=BUCKET, Key=record_key(backup), Body=json.dumps(record).encode())

    report = restore(service({"source": {"backup_arn": backup}, "target": {"table": "orders"}}, records=BUCKET))

    restored = settings_of(dynamodb, "orders")
    assert (restored["ttl"], restored["tags"], restored["deletion_protection"]) == (
        None,
        {"ddbkeeper:managed-by": STACK},
        False,
    )
    assert report.settings_from == (
        "the request only: orders is gone and no settings were recorded with the backup "
        "(the record beside the backup names another backup: ignored)"
    )


def refuse(code: str, status: int, message: str) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """A GetObject answer S3 gives: botocore raises it as it would the service's own (its retries already spent)."""

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return SimpleNamespace(status_code=status), error

    return answer


INJECTED = {  # what S3 answers once botocore's retries are spent: code, status, message
    "kms": ("KMS.DisabledException", 400, "the object's KMS key is disabled"),
    "throttled": ("SlowDown", 503, "Please reduce your request rate"),
}


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("no bucket", "NoSuchBucket"),
        ("access denied", "AccessDenied: Access Denied"),
        ("kms", "KMS.DisabledException: the object's KMS key is disabled"),
        ("throttled", "SlowDown: Please reduce your request rate"),
    ],
)
def test_a_record_that_cannot_be_read_falls_back_to_the_live_table_and_says_why(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch, fault: str, says: str
) -> None:
    create_source(dynamodb, "orders", items=8, pad=0)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    payload = {"source": {"backup_arn": backup}, "target": {"table": "orders-2"}}
    steps = service(payload, records="no-such-bucket" if fault == "no bucket" else BUCKET)
    if fault == "access denied":
        refused = deny_s3_reads(monkeypatch, "ddbkeeper-settings/")
    elif fault in INJECTED:
        stack_s3(steps).meta.events.register("before-call.s3.GetObject", refuse(*INJECTED[fault]))

    report = restore(steps)

    assert settings_of(dynamodb, "orders-2") == stack_tagged(settings_of(dynamodb, "orders"), STACK)
    assert report.settings_from.startswith("settings record unreadable: GetObject s3://")
    assert says in report.settings_from
    assert report.settings_from.endswith("; the source table as it is now")
    if fault == "access denied":
        assert refused["ddbkeeper-settings/"] >= 1


def test_a_backup_ddbkeeper_did_not_make_restores_with_the_stack_bucket_absent(dynamodb: Client) -> None:
    """The table dropped and the stack's bucket gone: what the backup itself kept, and the request, still restore."""
    create_source(dynamodb, "orders", items=6, pad=0)
    backup = dynamodb.create_backup(TableName="orders", BackupName="manual")["BackupDetails"]["BackupArn"]
    dynamodb.delete_table(TableName="orders")
    payload = {"source": {"backup_arn": backup}, "target": {"table": "orders", "tags": {"owner": "ops"}}}

    report = restore(service(payload, records="no-such-bucket"))

    assert report.items == 6
    assert settings_of(dynamodb, "orders")["tags"] == {"owner": "ops", "ddbkeeper:managed-by": STACK}
    assert report.settings_from.startswith("settings record unreadable: GetObject s3://no-such-bucket/")
    assert report.settings_from.endswith(
        "NoSuchBucket: The specified bucket does not exist; the request only: orders is gone"
    )


# --- the stack's tag: the first change, then among the tags the table ends with ---------------------------------------


def test_the_stacks_tag_is_the_first_change_and_no_other_tag_gives_way(dynamodb: Client) -> None:
    create_source(dynamodb, "orders", items=4, pad=0)
    protect(dynamodb, "orders")
    arn = dynamodb.describe_table(TableName="orders")["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": "ddbkeeper:managed-by", "Value": "another-stack"}])
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    payload = {"source": {"backup_arn": backup}, "target": {"table": "orders-2", "tags": {"owner": "ops"}}}
    steps = service(payload, STACK_NAME="prod-keeper")
    made: list[tuple[str, Any]] = []
    for operation in ("TagResource", "UpdateTable", "UpdateTimeToLive", "UpdateContinuousBackups"):
        client(steps).meta.events.register(
            f"provide-client-params.dynamodb.{operation}",
            lambda params, event_name, **_: made.append((event_name.rsplit(".", 1)[-1], params.get("Tags"))),
        )

    report = restore(steps)

    assert made[0] == ("TagResource", [{"Key": "ddbkeeper:managed-by", "Value": "prod-keeper"}])
    assert len(made) == 6  # the tag, then stream, TTL, PITR, tags, deletion protection: one change a turn
    tags = {"team": "payments", "owner": "ops", "ddbkeeper:managed-by": "prod-keeper"}
    assert settings_of(dynamodb, "orders-2")["tags"] == tags
    assert report.settings["tags"] == tags


def test_the_turn_that_tags_waits_for_the_tag_to_show_before_the_next_change(dynamodb: Client) -> None:
    """DynamoDB's tags are eventually consistent: the next change comes a few seconds later, once it is listed."""
    create_source(dynamodb, "orders", items=2, pad=0)
    protect(dynamodb, "orders")
    backup = dynamodb.create_backup(TableName="orders", BackupName="before")["BackupDetails"]["BackupArn"]
    steps = service({"source": {"backup_arn": backup}, "target": {"table": "orders-2"}})
    plan = steps.plan().plan
    steps.start(plan)
    hidden = {"listings": 0}

    def not_listed_yet(parsed: dict[str, Any], **_: Any) -> None:
        hidden["listings"] += 1
        if hidden["listings"] == 2:  # the second turn's listing lags behind the first turn's TagResource
            parsed["Tags"] = [tag for tag in parsed["Tags"] if tag["Key"] != "ddbkeeper:managed-by"]

    client(steps).meta.events.register("after-call.dynamodb.ListTagsOfResource", not_listed_yet)

    first = steps.finalize(plan, SettingsProgress(pending=-1))
    second = steps.finalize(plan, first)
    third = steps.finalize(plan, second)

    assert (first.applied[0], first.wait_seconds, first.pending) == ("managed_by", 3, 5)
    assert (second.wait_seconds, second.pending) == (3, 5)  # tagged again, nothing else changed
    assert (third.wait_seconds, third.pending) == (0, 4)  # listed now: the stream comes next


# --- regions --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {
                "source": {"table": "orders", "region": "eu-west-1", "point_in_time": "latest"},
                "target": {"table": "orders-2"},
            },
            "source.region: 'eu-west-1'",
        ),
        (
            {
                "source": {"backup_arn": "arn:aws:dynamodb:ap-south-1:123456789012:table/orders/backup/01"},
                "target": {"table": "orders-2", "region": "ap-south-1"},
            },
            "target.region: 'ap-south-1'",
        ),
    ],
)
def test_a_region_the_stacks_policies_do_not_cover_is_refused_before_anything(
    payload: dict[str, Any], field: str
) -> None:
    """No moto here: the refusal comes while the service is built, before any client exists."""
    with pytest.raises(InvalidInput, match=rf"^{field} is not a region this stack acts in \(us-east-1, us-west-2\)"):
        service(payload, ALLOWED_REGIONS="us-east-1,us-west-2,")

    assert service(payload, ALLOWED_REGIONS="us-east-1,us-west-2,eu-west-1,ap-south-1").request == parse(
        RestoreRequest, payload
    )
