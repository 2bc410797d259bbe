"""The records beside backups: only a record naming the backup and its table is trusted; anything else at its key is
ignored with the reason, and a record that cannot be read is the domain error, for the caller to weigh."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.errors import AwsError
from ddbkeeper.settings import SettingsRecord, SettingsRecords, TableSettings
from moto import mock_aws

BUCKET = "stack-bucket"
BACKUP = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01795487891489-b33c54f6"
KEY = "ddbkeeper-settings/123456789012/us-east-1/orders/backup/01795487891489-b33c54f6.json"


@pytest.fixture
def records() -> Iterator[SettingsRecords]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield SettingsRecords(Account(SessionFactory(), AccountAccess()), BUCKET)


def put(body: object) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key=KEY, Body=text.encode())


def record(**fields: object) -> dict[str, object]:
    return {"backup_arn": BACKUP, "table": "orders", "table_arn": "arn", "settings": {"pitr": True}} | fields


def test_the_backups_own_record_is_found(records: SettingsRecords) -> None:
    put(record())

    found = records.find(BACKUP)

    assert found.record == SettingsRecord.model_validate(record())
    assert found.ignored is None
    assert records.load(BACKUP) == TableSettings(pitr=True)


def test_no_record_is_nothing_to_ignore(records: SettingsRecords) -> None:
    found = records.find(BACKUP)

    assert (found.record, found.ignored) == (None, None)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (record(backup_arn="forged"), "the record beside the backup names another backup"),
        (
            record(backup_arn=BACKUP.replace("b33c54f6", "00000000")),
            "the record beside the backup names another backup",
        ),
        (record(table="payments"), "the record beside the backup names another table"),
        ("{not json", "the object beside the backup is not a settings record"),
        ({"backup_arn": BACKUP}, "the object beside the backup is not a settings record"),
    ],
)
def test_anything_else_at_the_key_is_ignored_with_the_reason(records: SettingsRecords, body: object, why: str) -> None:
    put(body)

    found = records.find(BACKUP)

    assert (found.record, found.ignored) == (None, why)
    assert records.record(BACKUP) is None


def test_a_record_that_cannot_be_read_is_the_domain_error(records: SettingsRecords) -> None:
    missing = SettingsRecords(records.account, "no-such-bucket")

    with pytest.raises(AwsError, match=r"GetObject s3://no-such-bucket/ddbkeeper-settings/.*: NoSuchBucket"):
        missing.find(BACKUP)
