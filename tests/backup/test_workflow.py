"""statemachines/backup.asl.json on the embedded runtime: happy, retry, polling, catch and failure paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from ddbkeeper.local.runtime import LocalRuntime
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Backup

from tests.support import Client, assumed_dynamodb, backup_names, entered, history, load_event, run

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


def test_selector_and_named_tables_are_backed_up_and_reported(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str]
) -> None:
    tag = {"backup": f"t-{id(runtime)}"}
    tagged = [table_factory("tagged", tags=tag), table_factory("tagged", tags=tag)]
    named = table_factory("named")
    untagged = table_factory("untagged")

    result = run(runtime, "backup", {"tables": [named], "selector": {"tag_key": "backup", "tag_value": tag["backup"]}})

    assert result.succeeded, result.cause
    report = result.output
    assert sorted(line["table"] for line in report["tables"]) == sorted([named, *tagged])
    assert report["totals"] == {
        "tables": 3,
        "succeeded": 3,
        "failed": 0,
        "backups_created": 3,
        "backups_would_create": 0,
        "backups_deleted": 0,
        "backups_would_delete": 0,
    }
    for line in report["tables"]:
        assert line["backup_status"] == "AVAILABLE"
        assert line["backup_name"].startswith(f"ddbkeeper-{line['table']}-")
        assert backup_names(dynamodb, line["table"]) == [line["backup_name"]]
    assert backup_names(dynamodb, untagged) == []
    assert entered(history(runtime, result))[-2:] == ["All Tables Backed Up?", "Backups Done"]


def test_sample_inputs_run_as_documented(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str]
) -> None:
    """events/workflow-backup-tables.json and -nightly.json, against tables with the names they use."""
    for name in ("orders", "customers"):
        if name not in dynamodb.list_tables()["TableNames"]:
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": "backup", "Value": "daily"}],
            )
    by_name = run(runtime, "backup", load_event("workflow-backup-tables.json"))
    nightly = run(runtime, "backup", load_event("workflow-backup-nightly.json"))

    assert by_name.succeeded and nightly.succeeded, (by_name.cause, nightly.cause)
    assert {line["table"] for line in by_name.output["tables"]} == {"orders", "customers"}
    assert {"orders", "customers"} <= {line["table"] for line in nightly.output["tables"]}
    assert len(backup_names(dynamodb, "orders")) >= 2


def test_retention_over_several_runs_prunes_only_own_backups(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str]
) -> None:
    table = table_factory()
    dynamodb.create_backup(TableName=table, BackupName="manual-before-migration")
    dynamodb.create_backup(TableName=table, BackupName=f"other-{table}-20200101T000000000Z")
    lookalike = f"ddbkeeper-{table}-20200101T000000000Z"  # the service's exact name form, made by hand
    dynamodb.create_backup(TableName=table, BackupName=lookalike)
    created: list[str] = []
    for _ in range(4):
        result = run(runtime, "backup", {"tables": [table], "retention": {"keep_last": 2}})
        assert result.succeeded, result.cause
        created.append(result.output["tables"][0]["backup_name"])

    assert backup_names(dynamodb, table) == sorted(
        [*created[-2:], "manual-before-migration", f"other-{table}-20200101T000000000Z", lookalike]
    )
    assert result.output["tables"][0]["deleted"] == [created[1]]
    assert result.output["tables"][0]["unproven"] == [lookalike]
    assert result.output["totals"]["backups_deleted"] == 1


def test_a_prefix_the_stack_does_not_use_is_refused_before_anything(runtime: LocalRuntime, dynamodb: Client) -> None:
    """A request may not widen retention to a human's backups by naming their prefix."""
    dynamodb.create_backup(TableName=table_of(dynamodb), BackupName="manual-orders-20250101T000000000Z")
    before = dynamodb.list_backups()["BackupSummaries"]

    result = run(
        runtime, "backup", {"tables": ["orders"], "backup_name_prefix": "manual", "retention": {"keep_last": 1}}
    )

    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert "backup_name_prefix: 'manual' is not this stack's prefix" in (result.cause_message() or "")
    assert dynamodb.list_backups()["BackupSummaries"] == before


def test_dry_run_reports_and_deletes_nothing(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str]
) -> None:
    table = table_factory()
    for _ in range(2):
        assert run(runtime, "backup", {"tables": [table]}).succeeded
    before = backup_names(dynamodb, table)
    payload = {**load_event("workflow-backup-dry-run.json"), "tables": [table]}

    result = run(runtime, "backup", payload)

    assert result.succeeded, result.cause
    line = result.output["tables"][0]
    assert result.output["dry_run"] is True
    assert (line["backup_status"], line["backup_arn"]) == ("PLANNED", None)
    assert line["backup_name"].startswith(f"ddbkeeper-{table}-")
    assert line["deleted"] == []
    assert line["would_delete"] == before  # everything older than the backup the run would take
    assert result.output["totals"]["backups_would_create"] == 1
    assert backup_names(dynamodb, table) == before  # nothing created, nothing deleted


def test_limit_exceeded_is_retried_by_the_state_machine(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = table_factory()
    calls = {"n": 0}
    original = DynamoDBBackend.create_backup

    def busy_then_ok(self: DynamoDBBackend, table_name: str, backup_name: str) -> Any:
        calls["n"] += 1
        if calls["n"] <= 6:  # more than botocore's own 5 attempts, so the error reaches the state machine once
            raise JsonRESTError("LimitExceededException", "Too many concurrent control plane operations")
        return original(self, table_name, backup_name)

    monkeypatch.setattr(DynamoDBBackend, "create_backup", busy_then_ok)

    result = run(runtime, "backup", {"tables": [table]})

    assert result.succeeded, result.cause
    failures = [e for e in history(runtime, result) if e["type"] == "LambdaFunctionFailed" or e["type"] == "TaskFailed"]
    assert [f.get("lambdaFunctionFailedEventDetails", f.get("taskFailedEventDetails"))["error"] for f in failures] == [
        "BackupLimitExceeded"
    ]
    assert len(backup_names(dynamodb, table)) == 1  # the retry did not start a second backup


def test_a_creating_backup_is_polled_until_available(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = table_factory()
    original_init = Backup.__init__
    polls = {"n": 0}

    def creating(self: Backup, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.status = "CREATING"

    original_describe = DynamoDBBackend.describe_backup

    def becomes_available(self: DynamoDBBackend, backup_arn: str) -> Backup:
        backup = original_describe(self, backup_arn)
        polls["n"] += 1
        if polls["n"] >= 2:
            backup.status = "AVAILABLE"
        return backup

    monkeypatch.setattr(Backup, "__init__", creating)
    monkeypatch.setattr(DynamoDBBackend, "describe_backup", becomes_available)

    result = run(runtime, "backup", {"tables": [table]})

    assert result.succeeded, result.cause
    states = entered(history(runtime, result))
    assert states.count("Wait For Backup") == 2
    assert states.count("Check Backup") == 2
    assert result.output["tables"][0]["backup_status"] == "AVAILABLE"


def test_one_missing_table_fails_alone_and_is_named(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str]
) -> None:
    table = table_factory()

    result = run(runtime, "backup", {"tables": [table, "no-such-table"], "retention": {"keep_last": 3}})

    assert result.status == "FAILED"
    assert result.error == "BackupFailed"
    assert "1 of 2 tables backed up" in result.cause
    assert "no-such-table: TableNotFound" in result.cause
    assert len(backup_names(dynamodb, table)) == 1


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        (load_event("workflow-backup-invalid.json"), ["retention.keep_last", "backup_name_prefx: unknown field"]),
        ({"retention": {"keep_last": 2}}, ["give tables (a list of names) and/or selector"]),
        ({"tables": ["orders"], "retention": {}}, ["retention", "at least one of"]),
        ({"tables": ["orders"], "retention": {"keep_last": "7"}}, ["retention.keep_last", "integer"]),
        ({"tables": ["x"]}, ["tables.0", "at least 3"]),
        ({"selector": {"tag_value": "daily"}}, ["selector", "name_prefix and/or tag_key"]),
        ({"tables": ["orders"], "role_arn": "arn:aws:iam::1:user/me"}, ["role_arn"]),
    ],
)
def test_bad_input_fails_at_once_naming_the_field(
    runtime: LocalRuntime, dynamodb: Client, payload: dict[str, Any], fragments: list[str]
) -> None:
    before = dynamodb.list_backups()["BackupSummaries"]

    result = run(runtime, "backup", payload)

    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    for fragment in fragments:
        assert fragment in (result.cause_message() or ""), result.cause_message()
    assert entered(history(runtime, result)) == ["Read Input", "Resolve Tables", "Workflow Failed"]
    assert dynamodb.list_backups()["BackupSummaries"] == before


def test_selector_matching_nothing_is_an_error(runtime: LocalRuntime) -> None:
    result = run(runtime, "backup", {"selector": {"name_prefix": "nothing-is-called-this-"}})

    assert result.status == "FAILED"
    assert result.error == "TableNotFound"
    assert "matched no table" in (result.cause_message() or "")


def test_retention_failure_is_caught_and_reported_with_the_backup(
    runtime: LocalRuntime, dynamodb: Client, table_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = table_factory()
    assert run(runtime, "backup", {"tables": [table]}).succeeded

    def denied(self: DynamoDBBackend, backup_arn: str) -> Any:
        raise JsonRESTError("AccessDeniedException", "not authorized to perform dynamodb:DeleteBackup")

    monkeypatch.setattr(DynamoDBBackend, "delete_backup", denied)

    result = run(runtime, "backup", {"tables": [table], "retention": {"keep_last": 1}})

    assert result.status == "FAILED"
    assert f"{table}: AccessDenied" in result.cause
    assert "Retention Failed" in entered(history(runtime, result))
    assert len(backup_names(dynamodb, table)) == 2  # the new backup exists; nothing was deleted


def test_cross_account_backup_through_an_assumed_role(runtime: LocalRuntime, table_factory: Callable[..., str]) -> None:
    payload = load_event("workflow-backup-cross-account.json")
    other = assumed_dynamodb(payload["role_arn"])
    if "ledger" not in other.list_tables()["TableNames"]:
        other.create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    result = run(runtime, "backup", payload)

    assert result.succeeded, result.cause
    arn = result.output["tables"][0]["backup_arn"]
    assert ":222222222222:table/ledger/backup/" in arn
    assert backup_names(other, "ledger") == [result.output["tables"][0]["backup_name"]]
    home = boto3.client("dynamodb", region_name="us-east-1")
    assert "ledger" not in home.list_tables()["TableNames"]


def table_of(dynamodb: Client, name: str = "orders") -> str:
    if name not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return name
