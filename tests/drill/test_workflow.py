"""statemachines/drill.asl.json on the embedded runtime: a drill that passes, a failed verification and a failed
restore that still delete the scratch table, a stranger's table by the scratch name left alone, a dry run; an export
chain drilled (applied into a scratch table), and one with a damaged data file that still deletes it."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from ddbkeeper.drill.service import DrillService
from ddbkeeper.local.runtime import LocalRuntime
from ddbkeeper.settings import tags_of
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.responses import DynamoHandler

from tests.support import STACK_BUCKET, Client, entered, history, load_event, run
from tests.support.chain import KEY_ATTRIBUTES, KEY_SCHEMA, T0, ChainWriter, History, build_chain, ordered
from tests.support.tables import all_items, create_source

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


@pytest.fixture
def names() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:6]
    return lambda stem: f"{stem}-{suffix}"


def drill_tables(dynamodb: Client, *tables: str) -> list[str]:
    """Scratch tables left on the server (of these tables, or of any)."""
    prefixes = tuple(f"ddbkeeper-drill-{table}-" for table in tables) or ("ddbkeeper-drill-",)
    return [name for name in dynamodb.list_tables()["TableNames"] if name.startswith(prefixes)]


def drill(runtime: LocalRuntime, payload: dict[str, Any]) -> Any:
    return run(runtime, "drill", payload)


def test_a_drill_restores_verifies_measures_and_deletes_the_scratch_table(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str]
) -> None:
    table = names("orders")
    create_source(dynamodb, table, items=40, pad=0)
    dynamodb.create_backup(TableName=table, BackupName="nightly")
    payload = load_event("workflow-drill-tables.json") | {"tables": [table]}

    result = drill(runtime, payload)

    assert result.succeeded, result.cause
    report = result.output
    assert (report["status"], report["passed"], report["failed"]) == ("PASSED", 1, 0)
    (line,) = report["tables"]
    assert (line["kind"], line["items"], line["expected_items"], line["count_result"]) == ("backup", 40, 40, "MATCH")
    assert line["sample"]["sampled"] == 40 and line["sample"]["matched"] == 40
    assert line["sample"]["source_digest"] == line["sample"]["scratch_digest"]
    assert line["scratch_deleted"] is True and line["scratch_table"].startswith(f"ddbkeeper-drill-{table}-")
    assert line["restore_seconds"] is not None and line["recovery_point_age_seconds"] is not None
    assert drill_tables(dynamodb, table) == []
    (recorded,) = report["recorded"]  # the audit reads it back
    bucket, key = recorded.removeprefix("s3://").split("/", 1)
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["status"] == "PASSED"
    states = entered(history(runtime, result))
    assert states.index("Verify Scratch Table") < states.index("Delete Scratch Table")


def test_a_failed_verification_still_deletes_the_scratch_table(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    """Every sampled item changed since the backup: VerificationFailed, the compensation deletes the scratch table,
    and the execution fails DrillFailed naming the numbers (the failure topic hears of it)."""
    table = names("ledger")
    create_source(dynamodb, table, items=30, pad=0)
    dynamodb.create_backup(TableName=table, BackupName="stale")
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET changed = :c",
            ExpressionAttributeValues={":c": {"BOOL": True}},
        )

    result = drill(runtime, {"tables": [table]})

    assert (result.status, result.error) == ("FAILED", "DrillFailed")
    assert "VerificationFailed" in (result.cause or "")
    assert "30 of 30 sampled source items missing (0) or different (30)" in (result.cause or "")
    assert drill_tables(dynamodb, table) == []
    states = entered(history(runtime, result))
    assert states.index("Step Failed") < states.index("Delete Scratch Table") < states.index("Drill Failed")


def test_a_failed_restore_still_cleans_up_and_a_table_with_nothing_to_restore_fails_alone(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB refuses one restore (after creating nothing); another table has no backup and PITR off. Both fail,
    each names why, no scratch table is left."""
    broken, bare = names("broken"), names("bare")
    create_source(dynamodb, broken, items=5, pad=0)
    create_source(dynamodb, bare, items=5, pad=0)
    dynamodb.create_backup(TableName=broken, BackupName="nightly")

    def refused(self: DynamoHandler) -> Any:
        raise JsonRESTError("ValidationException", "backup is corrupt")

    monkeypatch.setattr(DynamoHandler, "restore_table_from_backup", refused)

    result = drill(runtime, {"tables": [broken, bare]})

    assert (result.status, result.error) == ("FAILED", "DrillFailed")
    lines = {line["table"]: line for line in json.loads(_report_of(runtime, result))["tables"]}
    assert lines[broken]["error"] == "InvalidInput" and "backup is corrupt" in lines[broken]["cause"]
    assert lines[bare]["error"] == "TableNotFound"
    assert "no AVAILABLE backup and point-in-time recovery is off" in lines[bare]["cause"]
    assert all(line["scratch_deleted"] for line in lines.values())  # nothing was made, nothing is left
    assert drill_tables(dynamodb, broken, bare) == []


def test_a_restore_that_never_produces_its_table_takes_the_restore_failed_path(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB accepts the restore, then the table never appears (cancelled, or failed on its side): Restore Failed,
    then the clean-up all the same, and the drill fails naming it."""
    table = names("vanishing")
    create_source(dynamodb, table, items=5, pad=0)
    dynamodb.create_backup(TableName=table, BackupName="nightly")
    monkeypatch.setattr(DynamoHandler, "restore_table_from_backup", lambda self: json.dumps({"TableDescription": {}}))

    result = drill(runtime, {"tables": [table]})

    assert (result.status, result.error) == ("FAILED", "DrillFailed")
    assert "RestoreFailed" in (result.cause or "") and "the restore was cancelled or failed" in (result.cause or "")
    states = entered(history(runtime, result))
    assert states.index("Restore Failed") < states.index("Delete Scratch Table") < states.index("Drill Failed")
    assert drill_tables(dynamodb, table) == []


def _report_of(runtime: LocalRuntime, result: Any) -> str:
    """The report a failed drill wrote before its Fail state (Drill Report's output in the history)."""
    for event in reversed(history(runtime, result)):
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails")
        if details and '"passed"' in details.get("output", ""):
            return str(details["output"])
    raise AssertionError("no Drill Report output")


def test_a_table_by_the_scratch_name_that_the_drill_did_not_make_is_never_deleted(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone else's table already holds the scratch name: the restore refuses it, the clean-up refuses to tag or
    delete it (UnsafeOperation), and it is still there afterwards with its items."""
    from ddbkeeper.drill import service

    table = names("orders")
    create_source(dynamodb, table, items=5, pad=0)
    dynamodb.create_backup(TableName=table, BackupName="nightly")
    squatter = f"ddbkeeper-drill-{table}-fixed"
    monkeypatch.setattr(service, "scratch_name", lambda prefix, name, stamp: squatter)
    create_source(dynamodb, squatter, items=3, pad=0)

    result = drill(runtime, {"tables": [table]})

    assert (result.status, result.error) == ("FAILED", "DrillFailed")
    assert "UnsafeOperation" in (result.cause or "")
    assert dynamodb.describe_table(TableName=squatter)["Table"]["ItemCount"] == 3
    arn = dynamodb.describe_table(TableName=squatter)["Table"]["TableArn"]
    assert dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []


def test_a_dry_run_plans_and_creates_nothing(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    tagged = names("tagged")
    create_source(dynamodb, tagged, items=3, pad=0, Tags=[{"Key": "backup", "Value": "daily"}])
    dynamodb.update_continuous_backups(
        TableName=tagged, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    before = drill_tables(dynamodb)

    result = drill(runtime, load_event("workflow-drill-dry-run.json"))

    assert result.succeeded, result.cause
    planned = {target["table"]: target for target in result.output["tables"]}
    assert planned[tagged]["kind"] == "point_in_time"
    assert any(f"{tagged}: restore its latest restorable moment (PITR)" in a for a in result.output["actions"])
    assert drill_tables(dynamodb) == before


def test_a_bad_input_fails_at_the_first_step_naming_the_fields(runtime: LocalRuntime) -> None:
    result = drill(runtime, load_event("workflow-drill-invalid.json"))

    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert "source: Input should be 'auto', 'backup', 'point_in_time' or 'export_chain'" in (
        result.cause_message() or ""
    )
    assert "sample_size" in (result.cause_message() or "")
    assert os.environ["STACK_NAME"]


# --- the export chain: a scratch table the drill creates and applies the chain's exports into ----------------------


def chain_source(
    dynamodb: Client, s3: Client, table: str, windows: int = 3
) -> tuple[ChainWriter, list[dict[Any, Any]]]:
    """A table and its export chain in the stack's bucket, where the export workflow writes it (ddbkeeper/<table>),
    ledger and all; the live table holds the chain's last window end, so the sample matches."""
    writer = ChainWriter(s3, STACK_BUCKET, f"ddbkeeper/{table}", table)
    snapshots = build_chain(writer, History(60, seed=3), windows, record=True)
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST", KeySchema=KEY_SCHEMA, AttributeDefinitions=KEY_ATTRIBUTES
    )
    for value in snapshots[-1].values():
        dynamodb.put_item(TableName=table, Item=value)
    return writer, snapshots


def started_at(runtime: LocalRuntime, result: Any) -> datetime:
    """The execution's start as the workflow itself read it ($$.Execution.StartTime, Read Input's output)."""
    for event in history(runtime, result):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Read Input":
            return datetime.fromisoformat(json.loads(details["output"])["execution"]["started_at"])
    raise AssertionError("no Read Input state")


def test_a_drill_of_the_export_chain_applies_it_into_a_scratch_table_verifies_and_deletes_it(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain's end (a FULL export and three incremental windows) applied into a scratch table created with the
    source's keys and tagged as the drill's: item for item the table at the last window end, counted exactly
    (the FULL export's items plus the inserts, minus the deletes), sampled, then deleted. RPO is the window end's
    age; a backup of the table does not change what `export_chain` drills."""
    table = names("orders")
    _, snapshots = chain_source(dynamodb, s3, table)
    dynamodb.create_backup(TableName=table, BackupName="nightly")
    seen: dict[str, Any] = {}
    verify = DrillService.verify

    def keep_what_the_scratch_table_held(self: DrillService, target: Any, progress: Any) -> Any:
        seen["items"] = all_items(dynamodb, target.scratch_table)
        seen["tags"] = tags_of(dynamodb, dynamodb.describe_table(TableName=target.scratch_table)["Table"]["TableArn"])
        return verify(self, target, progress)

    monkeypatch.setattr(DrillService, "verify", keep_what_the_scratch_table_held)
    payload = load_event("workflow-drill-export-chain.json") | {"tables": [table]}

    result = drill(runtime, payload)

    assert result.succeeded, result.cause
    assert seen["items"] == ordered(snapshots[-1].values())
    stack = os.environ["STACK_NAME"]
    assert seen["tags"] == {"ddbkeeper:drill": stack, "ddbkeeper:managed-by": stack}
    (line,) = result.output["tables"]
    end = T0 + timedelta(hours=3)
    assert (line["status"], line["kind"], line["recovery_point"], line["backup_arn"]) == (
        "PASSED", "export_chain", "2026-09-01T03:00:00Z", None,
    )  # fmt: skip
    assert (line["items"], line["expected_items"], line["count_result"]) == (len(snapshots[-1]),) * 2 + ("MATCH",)
    assert line["sample"]["sampled"] == line["sample"]["matched"] == 50
    assert line["recovery_point_age_seconds"] == round((started_at(runtime, result) - end).total_seconds(), 1)
    assert line["scratch_deleted"] is True and line["note"] is None
    assert drill_tables(dynamodb, table) == []
    states = entered(history(runtime, result))
    assert "Check Scratch Restore" in states
    assert states.index("Verify Scratch Table") < states.index("Delete Scratch Table")


def test_a_chain_data_file_whose_md5_is_wrong_fails_the_drill_and_the_scratch_table_is_still_deleted(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str]
) -> None:
    """One incremental data file changed after its manifest was written: nothing of it is applied, the drill fails
    VerificationFailed naming the file, and the compensation deletes the scratch table."""
    table = names("payments")
    writer, _ = chain_source(dynamodb, s3, table, windows=2)
    summary = json.loads(s3.get_object(Bucket=STACK_BUCKET, Key=writer.exports[-1].split("/", 3)[3])["Body"].read())
    files = s3.get_object(Bucket=STACK_BUCKET, Key=summary["manifestFilesS3Key"])["Body"].read().splitlines()
    damaged = json.loads(files[0])["dataFileS3Key"]
    body = s3.get_object(Bucket=STACK_BUCKET, Key=damaged)["Body"].read()
    s3.put_object(Bucket=STACK_BUCKET, Key=damaged, Body=body + b"\n")

    result = drill(runtime, {"tables": [table], "source": "export_chain"})

    assert (result.status, result.error) == ("FAILED", "DrillFailed")
    assert "VerificationFailed" in (result.cause or "")
    assert f"s3://{STACK_BUCKET}/{damaged}: MD5" in (result.cause or "")
    (line,) = json.loads(_report_of(runtime, result))["tables"]
    assert (line["kind"], line["scratch_deleted"], line["items"]) == ("export_chain", True, None)
    assert drill_tables(dynamodb, table) == []
    states = entered(history(runtime, result))
    assert states.index("Step Failed") < states.index("Delete Scratch Table") < states.index("Drill Failed")
    assert "Verify Scratch Table" not in states


def test_auto_drills_the_chain_of_a_table_with_nothing_else_and_stops_before_a_gap(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str]
) -> None:
    """No backup, PITR off: `auto` plans the export chain. The ledger lost its 01:00-02:00 window: the plan drills up
    to 01:00, the last point reachable from the FULL export, and says which points the gap cuts off."""
    table = names("ledgered")
    chain_source(dynamodb, s3, table)
    folder = f"ddbkeeper/{table}/ddbkeeper-ledger/{table}/"
    entries = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=STACK_BUCKET, Prefix=folder)["Contents"])
    s3.delete_object(Bucket=STACK_BUCKET, Key=entries[2])  # the window ending 02:00

    result = drill(runtime, {"tables": [table], "dry_run": True})

    assert result.succeeded, result.cause
    (target,) = result.output["tables"]
    assert (target["kind"], target["recovery_point"], target["problem"]) == (
        "export_chain",
        "2026-09-01T01:00:00Z",
        None,
    )
    assert target["chain"]["exports"] == 2 and target["expected_items"] == 60
    assert "gap from 2026-09-01T01:00:00Z to 2026-09-01T02:00:00Z" in target["note"]
    (action,) = result.output["actions"]
    assert "its export chain to the window end 2026-09-01T01:00:00Z" in action and target["note"] in action
    assert drill_tables(dynamodb, table) == []
