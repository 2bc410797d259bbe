"""statemachines/export.asl.json on the embedded runtime: skip, retry after 5xx, DynamoDB's failure, bad input."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ddbkeeper.clock import iso, stamp
from ddbkeeper.local.runtime import LocalRuntime
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table_export import TableExport

from tests.support import Client, entered, history, load_event, run
from tests.support.faults import ERRORS, fail_first
from tests.support.tables import all_items, create_source

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


@pytest.fixture
def table(dynamodb: Client) -> str:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    create_source(dynamodb, name, items=60, pad=100)
    return name


def payload(event: str, table: str, bucket: str) -> dict[str, Any]:
    data: dict[str, Any] = load_event(event)
    data.update(table=table, bucket=bucket)
    return data


def test_auto_exports_the_table_then_skips_a_window_under_15_minutes(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, table: str, bucket: str
) -> None:
    first = run(runtime, "export", payload("workflow-export-auto.json", table, bucket))

    assert first.succeeded, first.cause
    report = first.output
    assert (report["status"], report["export_type"], report["items"]) == ("SUCCEEDED", "FULL", 60)
    assert report["window"]["reason"] == "first export of the table"
    data = report["data"].removeprefix(f"s3://{bucket}/")
    lines = [
        json.loads(line)
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=data)["Contents"]
        for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()).splitlines()
    ]
    assert sorted(line["Item"]["sk"]["N"] for line in lines) == sorted(i["sk"]["N"] for i in all_items(dynamodb, table))
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"  # enable_pitr turned it on

    second = run(runtime, "export", payload("workflow-export-auto.json", table, bucket))

    assert second.succeeded, second.cause
    assert second.output["status"] == "SKIPPED"
    assert "No Export" in entered(history(runtime, second))


def test_auto_catches_up_a_two_day_gap_in_windows_of_at_most_a_day(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, table: str, bucket: str
) -> None:
    """The ledger's last export ended 50 h ago and PITR reaches back 3 days: three incremental exports in one run."""
    now = datetime.now(UTC).replace(microsecond=0)
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    pitr = dynamodb_backends["123456789012"]["us-east-1"].tables[table].continuous_backups
    pitr["PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"] = (now - timedelta(days=3)).timestamp()
    table_arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    last_end = now - timedelta(hours=50)
    entry = {"table_arn": table_arn, "export_arn": "arn:previous", "window": {"end": iso(last_end)}}
    s3.put_object(
        Bucket=bucket, Key=f"ddbkeeper/{table}/ddbkeeper-ledger/{table}/{stamp(last_end)}.json", Body=json.dumps(entry)
    )

    result = run(runtime, "export", {"table": table, "bucket": bucket})

    assert result.succeeded, result.cause
    exports = result.output["exports"]
    assert [e["export_type"] for e in exports] == ["INCREMENTAL"] * 3
    starts = [datetime.fromisoformat(e["window"]["start"]) for e in exports]
    ends = [datetime.fromisoformat(e["window"]["end"]) for e in exports]
    assert starts == [last_end, *ends[:-1]]  # contiguous from the ledger's end
    assert all(
        timedelta(hours=12) <= end - start <= timedelta(hours=24) for start, end in zip(starts, ends, strict=True)
    )
    assert now <= ends[-1] <= datetime.now(UTC)  # caught up to the execution's start
    assert result.output["items"] == sum(e["items"] for e in exports)
    assert entered(history(runtime, result)).count("Prepare Next Window") == 2
    ledger = s3.list_objects_v2(Bucket=bucket, Prefix=f"ddbkeeper/{table}/ddbkeeper-ledger/")["Contents"]
    assert len(ledger) == 4


def test_a_dry_run_plans_the_export_and_changes_nothing_not_even_pitr(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, table: str, bucket: str
) -> None:
    result = run(runtime, "export", payload("workflow-export-dry-run.json", table, bucket))

    assert result.succeeded, result.cause
    actions = result.output["actions"]
    assert actions[0] == f"turn point-in-time recovery on for {table}"
    assert actions[1].startswith(f"FULL export of {table} as of ")
    assert actions[2].startswith(f"write DYNAMODB_JSON to s3://{bucket}/ddbkeeper/{table}/")
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert "Start Export" not in entered(history(runtime, result))


def test_incremental_right_after_a_full_export_fails_naming_the_window(
    runtime: LocalRuntime, table: str, bucket: str
) -> None:
    assert run(runtime, "export", payload("workflow-export-auto.json", table, bucket)).succeeded

    result = run(runtime, "export", payload("workflow-export-incremental.json", table, bucket))

    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    assert "shorter than 15 minutes" in (result.cause_message() or "")


def test_a_5xx_on_start_is_retried_and_one_export_runs(
    runtime: LocalRuntime, dynamodb: Client, table: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore's five attempts, then the state machine's Retry
    calls = fail_first(monkeypatch, "export_table_to_point_in_time", 5, ERRORS["5xx"])

    result = run(runtime, "export", payload("workflow-export-auto.json", table, bucket))

    assert result.succeeded, result.cause
    assert calls["export_table_to_point_in_time"] == 6
    assert entered(history(runtime, result)).count("Start Export") == 1  # retried inside the state, not re-entered
    table_arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    assert len(dynamodb.list_exports(TableArn=table_arn)["ExportSummaries"]) == 1


def test_credentials_expiring_while_the_export_runs_are_renewed_by_the_retry(
    runtime: LocalRuntime, dynamodb: Client, table: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fail_first(monkeypatch, "describe_export", 1, ERRORS["expired"])
    original = TableExport.run

    def still_running_when_started(self: TableExport) -> None:
        time.sleep(0.3)  # moto's export thread can finish before Start Export replies: then nothing would poll
        original(self)

    monkeypatch.setattr(TableExport, "run", still_running_when_started)

    result = run(runtime, "export", payload("workflow-export-auto.json", table, bucket))

    assert result.succeeded, result.cause
    assert calls["describe_export"] >= 2
    steps = entered(history(runtime, result))
    assert steps.count("Start Export") == 1  # the poll was retried, the export was not started again
    table_arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    assert len(dynamodb.list_exports(TableArn=table_arn)["ExportSummaries"]) == 1
    assert result.output["items"] == 60


def test_a_failed_export_fails_the_execution_with_dynamodbs_reason(
    runtime: LocalRuntime, table: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: TableExport, s3_backend: Any) -> None:
        raise PermissionError("Access Denied writing to the bucket")

    monkeypatch.setattr(TableExport, "_backup_to_s3_file", denied)  # moto reports the export FAILED with this reason

    result = run(runtime, "export", payload("workflow-export-auto.json", table, bucket))

    assert result.status == "FAILED"
    assert result.error == "ExportFailed"
    assert result.cause == "UNKNOWN: Access Denied writing to the bucket"
    assert "Record Export" not in entered(history(runtime, result))  # nothing enters the ledger


def test_a_missing_bucket_is_named_before_anything_starts(runtime: LocalRuntime, table: str) -> None:
    result = run(runtime, "export", {"table": table, "bucket": "no-such-bucket-here", "enable_pitr": True})

    assert result.error == "InvalidInput"
    assert "bucket: no-such-bucket-here does not exist" in (result.cause_message() or "")


def test_a_table_without_pitr_is_refused_unless_enable_pitr(runtime: LocalRuntime, table: str, bucket: str) -> None:
    result = run(runtime, "export", {"table": table, "bucket": bucket})

    assert result.error == "InvalidInput"
    assert f"enable_pitr: {table} has point-in-time recovery off" in (result.cause_message() or "")


def test_bad_input_fails_at_the_first_step_naming_the_fields(runtime: LocalRuntime) -> None:
    result = run(runtime, "export", load_event("workflow-export-invalid.json"))

    assert result.error == "InvalidInput"
    cause = result.cause_message() or ""
    assert "export_type: Input should be 'FULL', 'INCREMENTAL' or 'AUTO'" in cause
    assert "export_time: " in cause
    assert "time zone" in cause
