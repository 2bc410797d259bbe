"""statemachines/restore.asl.json on the embedded runtime: backup, point in time, export; retry and catch paths."""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from ddbkeeper.errors import TransientAwsError, VerificationFailed
from ddbkeeper.export_files import read_files, read_manifest
from ddbkeeper.local.runtime import LocalContext, LocalRuntime
from ddbkeeper.restore.files import AppliedFiles
from ddbkeeper.restore.repair import ItemRepairer
from ddbkeeper.restore.service import RestoreService
from ddbkeeper.writes import BatchWriter
from moto.dynamodb.responses import DynamoHandler

from tests.support import Client, entered, history, load_event, run
from tests.support.chain import KEY_ATTRIBUTES, KEY_SCHEMA, ChainWriter, History, Item, build_chain, ordered
from tests.support.faults import ServerError, deny_s3_reads, inject
from tests.support.tables import (
    KEYS,
    all_items,
    assert_identical,
    create_source,
    protect,
    settings_of,
    stack_tagged,
)

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


@pytest.fixture
def names() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:6]
    return lambda stem: f"{stem}-{suffix}"


def export_arn(runtime: LocalRuntime, table: str, bucket: str) -> str:
    """Export `table` with the real export workflow; the ARN of the export to restore from."""
    exported = run(runtime, "export", {"table": table, "bucket": bucket, "enable_pitr": True})
    assert exported.succeeded, exported.cause
    return str(exported.output["export_arn"])


def test_a_dropped_table_comes_back_from_its_scheduled_backup_with_its_settings(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str]
) -> None:
    """Disaster recovery: the backup workflow recorded the settings; the table is gone; the restore re-applies them."""
    s3.create_bucket(Bucket=os.environ["SETTINGS_BUCKET"])  # the stack's bucket (its local stand-in's name)
    table = names("ledger")
    create_source(dynamodb, table, items=30, pad=0)
    protect(dynamodb, table)
    before, items = settings_of(dynamodb, table), all_items(dynamodb, table)
    backed_up = run(runtime, "backup", {"tables": [table]})
    assert backed_up.succeeded, backed_up.cause
    (line,) = backed_up.output["tables"]
    assert line["settings"].startswith(f"s3://{os.environ['SETTINGS_BUCKET']}/ddbkeeper-settings/")
    dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName=table)

    result = run(runtime, "restore", {"source": {"backup_arn": line["backup_arn"]}, "target": {"table": table}})

    assert result.succeeded, result.cause
    assert sorted(all_items(dynamodb, table), key=str) == sorted(items, key=str)
    assert settings_of(dynamodb, table) == stack_tagged(before, os.environ["STACK_NAME"])
    assert result.output["settings_from"] == f"recorded with the backup: {line['settings']}"


FORGED = {"ttl_attribute": "forged", "pitr": True, "tags": {"forged": "yes"}, "deletion_protection": True}


def record_key(backup: str) -> str:
    """Where Create Backup records a backup's settings in the stack's bucket (README: the backup workflow)."""
    _, _, _, region, account, resource = backup.split(":", 5)
    return f"ddbkeeper-settings/{account}/{region}/{resource.removeprefix('table/')}.json"


def test_a_forged_record_beside_a_backup_gives_the_restored_table_none_of_its_settings(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str]
) -> None:
    """Valid JSON at the backup's record key naming another backup: the live table's settings instead, and said so."""
    stack_bucket = os.environ["SETTINGS_BUCKET"]
    s3.create_bucket(Bucket=stack_bucket)
    source, target = names("orders"), names("orders-restored")
    create_source(dynamodb, source, items=12, pad=0)
    arn = dynamodb.describe_table(TableName=source)["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "payments"}])
    backup = dynamodb.create_backup(TableName=source, BackupName="by-hand")["BackupDetails"]["BackupArn"]
    forged = {"backup_arn": "forged", "table": source, "table_arn": arn, "settings": FORGED}
    s3.put_object(Bucket=stack_bucket, Key=record_key(backup), Body=json.dumps(forged).encode())

    result = run(runtime, "restore", {"source": {"backup_arn": backup}, "target": {"table": target}})

    assert result.succeeded, result.cause
    assert settings_of(dynamodb, target) == {
        "ttl": None,
        "pitr": "DISABLED",
        "tags": {"team": "payments", "ddbkeeper:managed-by": os.environ["STACK_NAME"]},
        "stream": None,
        "deletion_protection": False,
    }
    expected = "the source table as it is now (the record beside the backup names another backup: ignored)"
    assert result.output["settings_from"] == expected


def test_a_record_that_cannot_be_read_does_not_stop_the_restore(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AccessDenied on the record (IAM, the bucket policy, its KMS key): the live table's settings, and why."""
    source, target = names("orders"), names("orders-restored")
    create_source(dynamodb, source, items=9, pad=0)
    protect(dynamodb, source)
    backup = dynamodb.create_backup(TableName=source, BackupName="by-hand")["BackupDetails"]["BackupArn"]
    refused = deny_s3_reads(monkeypatch, "ddbkeeper-settings/")

    result = run(runtime, "restore", {"source": {"backup_arn": backup}, "target": {"table": target}})

    assert result.succeeded, result.cause
    assert refused["ddbkeeper-settings/"] >= 1
    assert assert_identical(dynamodb, source, dynamodb, target) == 9
    assert settings_of(dynamodb, target) == stack_tagged(settings_of(dynamodb, source), os.environ["STACK_NAME"])
    settings_from = result.output["settings_from"]
    assert settings_from.startswith(f"settings record unreadable: GetObject s3://{os.environ['SETTINGS_BUCKET']}/")
    assert "AccessDenied: Access Denied; the source table as it is now" in settings_from


def test_restore_from_a_backup_brings_back_items_and_settings(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = names("orders"), names("orders-restored")
    create_source(dynamodb, source, items=80, pad=100)
    protect(dynamodb, source)
    backup = dynamodb.create_backup(TableName=source, BackupName="before-migration")["BackupDetails"]["BackupArn"]
    payload = load_event("workflow-restore-backup.json")
    payload["source"]["backup_arn"], payload["target"]["table"] = backup, target
    original = DynamoHandler.restore_table_from_backup
    calls = {"n": 0}

    def created_then_lost_the_reply(self: DynamoHandler) -> Any:
        """The first attempt starts the restore but its reply is lost: the retry must adopt it, not fail."""
        calls["n"] += 1
        response = original(self)
        if calls["n"] == 1:
            raise ServerError("InternalServerError", "connection reset after the restore started")
        return response

    monkeypatch.setattr(DynamoHandler, "restore_table_from_backup", created_then_lost_the_reply)

    result = run(runtime, "restore", payload)

    assert result.succeeded, result.cause
    assert calls["n"] == 2
    assert assert_identical(dynamodb, source, dynamodb, target) == 80
    report = result.output
    assert report["verification"] == {"verify": "count", "items": 80, "expected": 80, "result": "MATCH"}
    assert report["table_arn"].endswith(f":table/{target}")
    assert settings_of(dynamodb, target) == {
        "ttl": "expires",
        "pitr": "ENABLED",
        "tags": {"team": "payments", "ddbkeeper:managed-by": os.environ["STACK_NAME"]},
        "stream": "NEW_IMAGE",
        "deletion_protection": True,
    }
    assert entered(history(runtime, result)).count("Re-apply Settings") == 6  # the stack's tag, then one setting a turn


def test_restore_to_the_latest_point_in_time(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-restored")
    create_source(dynamodb, source, items=40, pad=0)
    protect(dynamodb, source)
    payload = load_event("workflow-restore-point-in-time.json")
    payload["source"]["table"], payload["target"]["table"] = source, target

    result = run(runtime, "restore", payload)

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 40
    assert result.output["point_in_time"] == "latest"
    assert settings_of(dynamodb, target)["tags"] == {
        "team": "payments",
        "restored-from": "pitr",
        "ddbkeeper:managed-by": os.environ["STACK_NAME"],
    }


def test_a_dry_run_says_what_the_restore_would_do_and_creates_nothing(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-restored")
    create_source(dynamodb, source, items=5, pad=0)
    protect(dynamodb, source)
    payload = load_event("workflow-restore-dry-run.json")
    payload["source"]["table"], payload["target"]["table"] = source, target

    result = run(runtime, "restore", payload)

    assert result.succeeded, result.cause
    actions = result.output["actions"]
    assert actions[0].startswith(f"restore arn:aws:dynamodb:us-east-1:123456789012:table/{source} as of latest")
    assert actions[1] == "with BillingModeOverride"
    stack = os.environ["STACK_NAME"]
    assert f"tags={{'team': 'payments', 'restored-by': 'ddbkeeper', 'ddbkeeper:managed-by': '{stack}'}}" in actions[2]
    assert "deletion_protection=True" in actions[2]
    assert actions[3] == "verify: count the new table (no recorded count to compare)"
    assert target not in dynamodb.list_tables()["TableNames"]


def test_an_export_restored_by_import_gives_every_item_back(
    runtime: LocalRuntime, dynamodb: Client, bucket: str, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-v2")
    create_source(dynamodb, source, items=70, pad=100, importable=True)
    payload = load_event("workflow-restore-export.json")
    payload["source"]["export"]["export_arn"], payload["target"]["table"] = export_arn(runtime, source, bucket), target

    result = run(runtime, "restore", payload)

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 70
    assert result.output["verification"]["result"] == "MATCH"
    assert settings_of(dynamodb, target)["pitr"] == "ENABLED"


def test_an_import_that_loses_items_is_caught(
    runtime: LocalRuntime, dynamodb: Client, bucket: str, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("lossy")
    create_source(dynamodb, source, items=30, pad=0)  # empty maps: moto's import skips the file
    payload = load_event("workflow-restore-export.json")
    payload["source"]["export"]["export_arn"], payload["target"]["table"] = export_arn(runtime, source, bucket), target

    result = run(runtime, "restore", payload)

    assert result.status == "FAILED"
    assert result.error == "VerificationFailed"
    assert "has 0 items; 30 were exported" in (result.cause_message() or "")


def test_an_existing_target_and_bad_input_are_refused_first(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source = names("orders")
    dynamodb.create_table(TableName=source, BillingMode="PAY_PER_REQUEST", **KEYS)
    dynamodb.update_continuous_backups(
        TableName=source, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    onto_itself = run(
        runtime, "restore", {"source": {"table": source, "point_in_time": "latest"}, "target": {"table": source}}
    )
    assert onto_itself.error == "TargetExists"
    assert entered(history(runtime, onto_itself))[-1] == "Workflow Failed"

    invalid = run(runtime, "restore", load_event("workflow-restore-invalid.json"))
    assert invalid.error == "InvalidInput"
    assert "source.point_in_time: expected 'latest' or an ISO time" in (invalid.cause_message() or "")


def test_an_import_dynamodb_fails_ends_the_execution_with_its_reason(
    runtime: LocalRuntime, dynamodb: Client, bucket: str, names: Callable[[str], str]
) -> None:
    """Items without the new key attribute make the import fail; the execution says so in DynamoDB's words."""
    source = names("users")
    dynamodb.create_table(
        TableName=source,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(6):
        item = {"id": {"S": f"u{n}"}} | ({"email": {"S": f"u{n}@example.com"}} if n % 2 else {})
        dynamodb.put_item(TableName=source, Item=item)
    target = {
        "table": names("users-by-email"),
        "key_schema": [{"AttributeName": "email", "KeyType": "HASH"}],
        "attribute_definitions": [{"AttributeName": "email", "AttributeType": "S"}],
    }

    result = run(
        runtime,
        "restore",
        {"source": {"export": {"export_arn": export_arn(runtime, source, bucket)}}, "target": target},
    )

    assert result.status == "FAILED"
    assert result.error == "RestoreFailed"
    assert "email" in (result.cause or "")
    assert entered(history(runtime, result))[-3:] == ["Restore Failed", "Failure Cleanup?", "Workflow Failed"]


def test_a_region_the_stack_does_not_act_in_fails_the_first_step(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source = names("orders")
    payload = {
        "source": {"table": source, "point_in_time": "latest", "region": "eu-west-1"},
        "target": {"table": source},
    }

    result = run(runtime, "restore", payload)

    assert result.error == "InvalidInput"
    assert "source.region: 'eu-west-1' is not a region this stack acts in (us-east-1)" in (result.cause_message() or "")
    assert entered(history(runtime, result)) == ["Read Input", "Plan Restore", "Workflow Failed"]


# --- the export chain: exports in DynamoDB's real layout, applied item by item ------------------------------------


def chain_payload(bucket: str, table: str, target: str) -> dict[str, Any]:
    payload = load_event("workflow-restore-export-chain.json")
    payload["source"]["export_chain"] |= {"table": table, "bucket": bucket}
    payload["target"]["table"] = target
    return payload


def test_an_export_chain_restores_the_table_as_it_was_at_the_window_before_to(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, bucket: str, names: Callable[[str], str]
) -> None:
    table, target = names("orders"), names("orders-0901")
    writer = ChainWriter(s3, bucket, "ddbkeeper/orders", table)
    snapshots = build_chain(writer, History(90), 4)

    result = run(runtime, "restore", chain_payload(bucket, table, target))

    assert result.succeeded, result.cause
    assert all_items(dynamodb, target) == ordered(snapshots[2].values())
    report = result.output
    assert (report["restored_to"], report["behind_seconds"]) == ("2026-09-01T02:00:00Z", 1800.0)
    assert report["verification"]["result"] == "MATCH"
    assert (report["applied"]["files"], report["applied"]["exports_applied"]) == (6, 3)
    assert settings_of(dynamodb, target)["pitr"] == "ENABLED"
    states = entered(history(runtime, result))
    # One Map per export, strictly one after another: FULL, then the incrementals in order (build_chain changes one
    # key in both of the first two windows; the table holds its later value, as the reference does).
    assert states.count("Apply Export Files") == 3
    assert states.count("List Export Files") == 4
    assert states.index("Apply Export Files") < states.index("Re-apply Settings")


def test_several_files_per_export_are_applied_by_the_map_and_the_state_stays_small(
    runtime: LocalRuntime,
    dynamodb: Client,
    s3: Client,
    bucket: str,
    names: Callable[[str], str],
    *,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five data files an export: each is a Map item of its own, leaves its result in the execution's folder, and the
    state carries none of them."""
    table, target = names("orders"), names("orders-0901")
    monkeypatch.setattr(ChainWriter, "_data_files", _five_files(ChainWriter._data_files))
    snapshots = build_chain(ChainWriter(s3, bucket, "ddbkeeper/orders", table), History(90, seed=6), 3)

    result = run(runtime, "restore", chain_payload(bucket, table, target))

    assert result.succeeded, result.cause
    assert all_items(dynamodb, target) == ordered(snapshots[2].values())
    assert result.output["applied"]["files"] == 15
    assert result.output["verification"]["result"] == "MATCH"
    folder = f"ddbkeeper-restores/{result.arn.rsplit(':', 1)[-1]}/exports/"
    listing = s3.list_objects_v2(Bucket=os.environ["SETTINGS_BUCKET"], Prefix=folder)["Contents"]
    assert len([obj for obj in listing if "/applied/" in obj["Key"]]) == 15
    events = history(runtime, result)
    entries = [e["stateEnteredEventDetails"] for e in events if e["type"].endswith("StateEntered")]
    verify_input = next(entry["input"] for entry in entries if entry["name"] == "Verify Restore")
    assert len(verify_input) < 40_000 and "applied/" not in verify_input


def _five_files(write: Callable[..., Any]) -> Callable[..., Any]:
    def five(self: Any, lines: Any, folder: str, files: int) -> Any:
        return write(self, lines, folder, 5)

    return five


def test_a_throttled_apply_is_paced_and_loses_nothing(
    runtime: LocalRuntime,
    dynamodb: Client,
    s3: Client,
    bucket: str,
    names: Callable[[str], str],
    *,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, target = names("orders"), names("orders-0901")
    snapshots = build_chain(ChainWriter(s3, bucket, "ddbkeeper/orders", table), History(80, seed=2), 3)

    with inject(monkeypatch) as faults:
        faults.storm = (random.Random(5), 2)
        faults.script("BatchWriteItem", "throttle", "throttling", "5xx", "limit")
        result = run(runtime, "restore", chain_payload(bucket, table, target))

    assert result.succeeded, result.cause
    assert all_items(dynamodb, target) == ordered(snapshots[2].values())
    applied = result.output["applied"]
    assert applied["retried_items"] == faults.injected["unprocessed"] > 0
    assert applied["throttles"] >= 4


def test_a_crash_mid_file_is_retried_from_its_line_and_a_file_done_is_not_applied_again(
    runtime: LocalRuntime,
    dynamodb: Client,
    s3: Client,
    bucket: str,
    names: Callable[[str], str],
    *,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten items a turn (no Lambda time left after the first chunk); one turn dies after writing: Step Functions
    invokes it again with the line its child still holds. Another turn dies after its file's result was put: the retry
    finds the result and skips the file. The table and the counts come out exact."""
    table, target = names("orders"), names("orders-0901")
    snapshots = build_chain(ChainWriter(s3, bucket, "ddbkeeper/orders", table), History(40, seed=4), 3)
    monkeypatch.setattr("ddbkeeper.apply.CHUNK", 10)
    monkeypatch.setattr(LocalContext, "get_remaining_time_in_millis", lambda self: 0)
    original, save = BatchWriter.write, AppliedFiles.save
    calls = {"writes": 0, "saves": 0}
    applied: list[tuple[int, int]] = []

    def dies_after_the_fifth_chunk(self: BatchWriter, requests: Any, after_batch: Any = None) -> Any:
        written = original(self, requests, after_batch)
        calls["writes"] += 1
        if calls["writes"] == 5:  # written, but the invocation dies before it returns its line
            raise TransientAwsError("connection reset after the batch was written")
        return written

    def dies_after_the_second_result(self: AppliedFiles, file: Any) -> None:
        save(self, file)
        applied.append((file.export, file.file))
        calls["saves"] += 1
        if calls["saves"] == 2:  # the result is put, but the invocation dies before it returns
            raise TransientAwsError("connection reset after the result was put")

    monkeypatch.setattr(BatchWriter, "write", dies_after_the_fifth_chunk)
    monkeypatch.setattr(AppliedFiles, "save", dies_after_the_second_result)

    result = run(runtime, "restore", chain_payload(bucket, table, target))

    assert result.succeeded, result.cause
    assert all_items(dynamodb, target) == ordered(snapshots[2].values())
    assert result.output["verification"]["result"] == "MATCH"
    assert result.output["applied"]["files"] == 6
    assert len(applied) == len(set(applied)) == 6  # the file whose turn died after its result was not applied again


def test_a_window_is_undone_in_a_live_table_the_stack_did_not_make(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, bucket: str, names: Callable[[str], str]
) -> None:
    """The last hour's changes undone from its OldImages; the table's settings and tags are left as they are."""
    table = names("orders")
    writer = ChainWriter(s3, bucket, "ddbkeeper/orders", table)
    snapshots = build_chain(writer, History(60, seed=9), 2)
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=KEY_ATTRIBUTES,
        Tags=[{"Key": "team", "Value": "orders"}],
    )
    for item in snapshots[2].values():
        dynamodb.put_item(TableName=table, Item=item)
    payload = load_event("workflow-restore-revert.json")
    payload["source"]["revert"], payload["target"]["table"], payload["confirm_apply"] = writer.exports[2], table, table
    unconfirmed_payload = {key: value for key, value in payload.items() if key != "confirm_apply"}

    unconfirmed = run(runtime, "restore", unconfirmed_payload)
    result = run(runtime, "restore", payload)

    assert unconfirmed.error == "InvalidInput"
    assert "target.existing needs confirm_apply naming the target table" in (unconfirmed.cause_message() or "")
    assert result.succeeded, result.cause
    assert all_items(dynamodb, table) == ordered(snapshots[1].values())
    assert settings_of(dynamodb, table)["tags"] == {"team": "orders"}
    states = entered(history(runtime, result))
    assert "Apply Export Files" in states
    assert "Re-apply Settings" not in states
    assert result.output["kind"] == "revert"


# --- repairing items in a live table through a scratch table ---------------------------------------------------------


def test_items_are_repaired_in_the_live_table_from_a_backup_and_the_scratch_table_dropped(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    table = names("orders")
    create_source(dynamodb, table, items=40, pad=0)
    before = all_items(dynamodb, table)
    backup = dynamodb.create_backup(TableName=table, BackupName="nightly")["BackupDetails"]["BackupArn"]
    partition = before[0]["pk"]
    for item in [i for i in before if i["pk"] == partition][:2]:
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    payload = load_event("workflow-restore-repair.json")
    payload["source"]["backup_arn"], payload["target"]["table"], payload["confirm_apply"] = backup, table, table
    payload["repair"]["partition"] = {"pk": partition}

    result = run(runtime, "restore", payload)

    assert result.succeeded, result.cause
    assert all_items(dynamodb, table) == before
    assert result.output["repaired"]["added"] == 2
    assert dynamodb.list_tables()["TableNames"].count(result.output["scratch"]) == 0
    states = entered(history(runtime, result))
    assert states[-3:] == ["Items Repaired?", "Drop Scratch Table", "Restored"]
    assert "Verify Restore" not in states


def test_a_failed_repair_still_drops_its_scratch_table(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = names("orders")
    create_source(dynamodb, table, items=10, pad=0)
    backup = dynamodb.create_backup(TableName=table, BackupName="nightly")["BackupDetails"]["BackupArn"]

    def fails(self: Any, chosen: Any, state: Any) -> Any:
        raise VerificationFailed("the live table answered something unexpected")

    monkeypatch.setattr(ItemRepairer, "_repair", fails)
    payload = {
        "source": {"backup_arn": backup},
        "target": {"table": table, "existing": True},
        "confirm_apply": table,
        "repair": {"keys": [{"pk": {"S": "customer-001"}, "sk": {"N": "1"}}]},
    }

    result = run(runtime, "restore", payload)

    assert (result.status, result.error) == ("FAILED", "VerificationFailed")  # the failure's own error
    states = entered(history(runtime, result))
    assert states[-5:] == [
        "Failure Cleanup?",
        "Start Dropping",
        "Drop Scratch After Failure",
        "Scratch Dropped?",
        "Workflow Failed",
    ]
    assert [name for name in dynamodb.list_tables()["TableNames"] if name.startswith(f"{table}-repair-")] == []


def test_a_repair_failing_before_its_scratch_table_is_tagged_still_drops_it_and_keeps_its_error(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RestoreTableFromBackup takes no tags: a failure while the scratch table is restored leaves it untagged. The
    clean-up proves it is this execution's (its RestoreSummary), marks it, drops it, and the execution fails with the
    failure's own error."""
    table = names("orders")
    create_source(dynamodb, table, items=10, pad=0)
    backup = dynamodb.create_backup(TableName=table, BackupName="nightly")["BackupDetails"]["BackupArn"]

    def fails(self: Any, progress: Any) -> Any:
        raise VerificationFailed("the restore's table answered something unexpected")

    monkeypatch.setattr(RestoreService, "check", fails)
    monkeypatch.setattr("ddbkeeper.restore.service.RestoreService.start", _started_creating(RestoreService.start))
    payload = {
        "source": {"backup_arn": backup},
        "target": {"table": table, "existing": True},
        "confirm_apply": table,
        "repair": {"keys": [{"pk": {"S": "customer-001"}, "sk": {"N": "1"}}]},
    }

    result = run(runtime, "restore", payload)

    assert (result.status, result.error) == ("FAILED", "VerificationFailed")
    states = entered(history(runtime, result))
    assert states.count("Drop Scratch After Failure") == 2  # marked first, dropped on the next turn
    assert [name for name in dynamodb.list_tables()["TableNames"] if name.startswith(f"{table}-repair-")] == []


def _started_creating(start: Callable[..., Any]) -> Callable[..., Any]:
    """Start Restore as it is, answering CREATING, as DynamoDB does while a restore runs (moto restores at once)."""

    def started(self: Any, plan: Any) -> Any:
        return start(self, plan).model_copy(update={"status": "CREATING"})

    return started


def live_chain_table(dynamodb: Client, s3: Client, bucket: str, table: str) -> tuple[ChainWriter, list[Item]]:
    """A live table keyed as the chain (pk, sk) holding the chain's end, and its chain in the real layout."""
    writer = ChainWriter(s3, bucket, "ddbkeeper/orders", table)
    snapshots = build_chain(writer, History(30, seed=9), 2)
    dynamodb.create_table(
        TableName=table, KeySchema=KEY_SCHEMA, AttributeDefinitions=KEY_ATTRIBUTES, BillingMode="PAY_PER_REQUEST"
    )
    for value in snapshots[-1].values():
        dynamodb.put_item(TableName=table, Item=value)
    return writer, ordered(snapshots[-1].values())


def chain_repair(bucket: str, table: str, keys: list[Item]) -> dict[str, Any]:
    payload = load_event("workflow-restore-repair.json")
    del payload["source"]["backup_arn"]
    chain = {"table": table, "bucket": bucket, "prefix": "ddbkeeper/orders"}
    payload["source"] |= {"export_chain": chain, "to": "latest"}
    payload["target"]["table"], payload["confirm_apply"] = table, table
    payload["repair"] = {"keys": keys, "conflict": "overwrite"}
    return payload


def test_items_are_repaired_from_the_export_chain_through_a_scratch_table_applied_and_dropped(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, bucket: str, names: Callable[[str], str]
) -> None:
    table = names("orders")
    _, end = live_chain_table(dynamodb, s3, bucket, table)
    lost, changed = end[3], end[7]
    dynamodb.delete_item(TableName=table, Key={"pk": lost["pk"], "sk": lost["sk"]})
    dynamodb.put_item(TableName=table, Item=changed | {"note": {"S": "a bad deploy wrote this"}})
    keys = [{"pk": value["pk"], "sk": value["sk"]} for value in (lost, changed)]

    result = run(runtime, "restore", chain_repair(bucket, table, keys))

    assert result.succeeded, result.cause
    assert all_items(dynamodb, table) == end
    repaired = result.output["repaired"]
    assert (repaired["added"], repaired["overwritten"]) == (1, 1)
    assert result.output["scratch"] not in dynamodb.list_tables()["TableNames"]
    states = entered(history(runtime, result))
    assert "Apply Scratch Export Files" in states and "Apply Export Files" not in states
    assert states[-3:] == ["Items Repaired?", "Drop Scratch Table", "Restored"]


def test_a_chain_repair_whose_data_file_is_damaged_still_drops_its_scratch_table(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, bucket: str, names: Callable[[str], str]
) -> None:
    table = names("orders")
    writer, end = live_chain_table(dynamodb, s3, bucket, table)
    damaged = read_files(s3, read_manifest(s3, writer.exports[1]))[0]
    body = s3.get_object(Bucket=bucket, Key=damaged.key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=damaged.key, Body=body + b"\x00")
    dynamodb.delete_item(TableName=table, Key={"pk": end[0]["pk"], "sk": end[0]["sk"]})

    result = run(runtime, "restore", chain_repair(bucket, table, [{"pk": end[0]["pk"], "sk": end[0]["sk"]}]))

    assert (result.status, result.error) == ("FAILED", "VerificationFailed")
    assert "MD5" in (result.cause_message() or "")
    states = entered(history(runtime, result))
    assert states[-4:] == ["Start Dropping", "Drop Scratch After Failure", "Scratch Dropped?", "Workflow Failed"]
    assert "Apply Scratch Export Files" in states
    assert [name for name in dynamodb.list_tables()["TableNames"] if name.startswith(f"{table}-repair-")] == []
    assert all_items(dynamodb, table) == end[1:]  # the live table was not touched
