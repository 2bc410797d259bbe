"""The audit function's sample event in events/ runs through its handler on moto, as `sam local invoke -e` would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ddbkeeper import coverage
from moto import mock_aws

from tests.support import Client, invoke, load_event

STACK_BUCKET = "stack-bucket"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with mock_aws():
        monkeypatch.setenv("SETTINGS_BUCKET", STACK_BUCKET)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=STACK_BUCKET)
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "backup", "Value": "daily"}],
        )
        yield client


def test_audit_tables(dynamodb: Client, capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke("audit_tables", load_event("audit_tables.json"))

    (line,) = result["tables"]
    assert (line["table"], line["verdict"], line["tagged_for_protection"]) == ("orders", "unprotected", True)
    assert result["counts"] == {
        "protected": 0,
        "at_risk": 0,
        "unprotected": 1,
        "unreadable": 0,
        "tagged_at_risk": 1,
        "stale_backups": 1,
    }
    (emitted,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert (emitted["TaggedTablesAtRisk"], emitted["TablesUnprotected"], emitted["TablesProtected"]) == (
        [1.0],
        [1.0],
        [0.0],
    )


def scratch_table(client: Client, name: str) -> None:
    """A table nobody tagged for protection: the account's scratch and dev tables."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def audited(names: list[str]) -> Any:
    event = load_event("audit_tables.json")
    event["request"]["tables"] = names
    return invoke("audit_tables", event)


def test_the_backup_age_alarm_counts_only_tables_tagged_for_protection(dynamodb: Client) -> None:
    """An untagged table with no backup is judged like any other, but the backup-age alarm is about tagged tables:
    counting every table of the account would keep it firing every day."""
    scratch_table(dynamodb, "scratch")

    result = audited(["orders", "scratch"])

    lines = {line["table"]: line for line in result["tables"]}
    assert (lines["scratch"]["verdict"], lines["scratch"]["tagged_for_protection"]) == ("unprotected", False)
    assert (result["counts"]["stale_backups"], result["counts"]["tagged_at_risk"]) == (1, 1)  # orders, not scratch


def test_a_table_that_cannot_be_read_is_a_line_of_its_own_and_the_others_are_judged(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table dropped between ListTables and DescribeTable (drills create and delete scratch tables all the time)."""
    scratch_table(dynamodb, "scratch")
    real = coverage.describe
    monkeypatch.setattr(coverage, "describe", lambda client, name: None if name == "scratch" else real(client, name))

    result = audited(["scratch", "orders"])

    lines = {line["table"]: line for line in result["tables"]}
    assert lines["orders"]["verdict"] == "unprotected"
    assert lines["scratch"]["verdict"] == "unreadable"
    assert lines["scratch"]["reasons"] == ["could not be read: TableNotFound: table: scratch does not exist"]
    assert lines["scratch"]["tagged_for_protection"] is None and lines["scratch"]["pitr"] is None
    assert result["counts"] == {
        "protected": 0,
        "at_risk": 0,
        "unprotected": 1,
        "unreadable": 1,
        "tagged_at_risk": 1,
        "stale_backups": 1,
    }
    assert result["summary"].endswith("; 1 could not be read")
    (emitted,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emitted["TablesUnreadable"] == [1.0]
