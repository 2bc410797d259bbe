"""The table settings a restore does not carry over: read from a table, and recorded beside each backup.

RestoreTableFromBackup brings back keys, indexes, capacity and SSE; the backup itself remembers the stream and TTL
(SourceTableFeatureDetails) but not tags, PITR, deletion protection or table class. So when Create Backup starts a
backup it also writes the table's settings to the stack's bucket, one write-once object per backup, and a restore from
that backup re-applies them even when the source table is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ddbkeeper.aws import Account, error_code, translate_errors
from ddbkeeper.models import StepModel
from ddbkeeper.tables import pitr_description, pitr_on, ttl_attribute

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef
    from mypy_boto3_s3 import S3Client

RECORD_FOLDER = "ddbkeeper-settings"


class TableSettings(StepModel):
    """A table's settings in the order a restore applies them: deletion protection last, once nothing else will touch
    the table. A field left at its default is a setting the table does not have (or that nobody knows)."""

    table_class: str | None = None
    stream: str | None = None  # the stream's view type when a stream is on
    ttl_attribute: str | None = None
    pitr: bool = False
    tags: dict[str, str] = {}
    deletion_protection: bool = False


SETTINGS: tuple[str, ...] = tuple(TableSettings.model_fields)


def tags_of(client: DynamoDBClient, arn: str) -> dict[str, str]:
    """A table's tags, every page of them."""
    tags: dict[str, str] = {}
    params: dict[str, Any] = {"ResourceArn": arn}
    with translate_errors("ListTagsOfResource", arn):
        for _ in range(10_000):  # a bound, not a limit anyone reaches: 50 tags per table at most
            page = client.list_tags_of_resource(**params)
            tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
    return tags


def settings_of(client: DynamoDBClient, table: TableDescriptionTypeDef) -> TableSettings:
    """The settings of a table (its DescribeTable `Table`)."""
    name = table["TableName"]
    stream = table.get("StreamSpecification", {})
    return TableSettings(
        table_class=table.get("TableClassSummary", {}).get("TableClass", "STANDARD"),
        stream=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        ttl_attribute=ttl_attribute(client, name),
        pitr=pitr_on(pitr_description(client, name)),
        tags=tags_of(client, table["TableArn"]),
        deletion_protection=bool(table.get("DeletionProtectionEnabled")),
    )


class SettingsRecord(StepModel):
    """What Create Backup (or Prepare Target, for the backup a copy takes before dropping its target) wrote beside a
    backup: which backup of which table, and the table's settings then.

    Only those two functions' roles may write under ddbkeeper-settings/ (IAM and the bucket policy), so a record whose
    backup and table match is also the proof that ddbkeeper made the backup: retention deletes nothing without one.
    """

    backup_arn: str
    table: str
    table_arn: str
    settings: TableSettings

    def matches(self, backup_arn: str) -> bool:
        return self.backup_arn == backup_arn and self.table == _table_of(backup_arn)


@dataclass(frozen=True)
class FoundRecord:
    """What a backup's record key holds: the backup's own record, or nothing trusted (`ignored` says why, when an
    object is there all the same)."""

    record: SettingsRecord | None
    ignored: str | None = None


class SettingsRecords:
    """`s3://<bucket>/ddbkeeper-settings/<account>/<region>/<table>/backup/<backup id>.json`, one per backup."""

    def __init__(self, account: Account, bucket: str) -> None:
        self.account = account  # the stack's own account: the function's credentials, not a request's role
        self.bucket = bucket

    @property
    def s3(self) -> S3Client:
        return self.account.s3

    def url(self, backup_arn: str) -> str:
        """Where the record of a backup is, whether or not it was written."""
        return f"s3://{self.bucket}/{self._key(backup_arn)}"

    def save(self, backup_arn: str, table: TableDescriptionTypeDef, settings: TableSettings) -> str:
        record = SettingsRecord(
            backup_arn=backup_arn, table=table["TableName"], table_arn=table["TableArn"], settings=settings
        )
        with translate_errors("PutObject", self.url(backup_arn)):
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self._key(backup_arn),
                Body=record.model_dump_json(indent=2).encode(),
                ContentType="application/json",
            )
        return self.url(backup_arn)

    def record(self, backup_arn: str) -> SettingsRecord | None:
        """The record written for this backup, when there is one that names it; None for a backup this service did
        not record (or a record at its key that names another backup or table: never trusted)."""
        return self.find(backup_arn).record

    def find(self, backup_arn: str) -> FoundRecord:
        """What is at the backup's record key: its record, or why nothing there is trusted (a restore says so).
        A record that cannot be read raises the domain error (NoSuchBucket, AccessDenied, KMS, throttling)."""
        with translate_errors("GetObject", self.url(backup_arn)):
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=self._key(backup_arn))["Body"].read()
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return FoundRecord(None)
                raise
        try:
            record = SettingsRecord.model_validate_json(body)
        except ValueError:
            return FoundRecord(None, "the object beside the backup is not a settings record")
        if record.backup_arn != backup_arn:
            return FoundRecord(None, "the record beside the backup names another backup")
        if not record.matches(backup_arn):
            return FoundRecord(None, "the record beside the backup names another table")
        return FoundRecord(record)

    def load(self, backup_arn: str) -> TableSettings | None:
        """The settings recorded when the backup was taken, or None for a backup this service did not record."""
        record = self.record(backup_arn)
        return record.settings if record else None

    def recorded(self, backup_arns: list[str]) -> set[str]:
        """Which of one table's backups have a record (one listing of the table's folder, not one read per backup)."""
        if not backup_arns:
            return set()
        folder = self._key(backup_arns[0]).rsplit("/", 1)[0] + "/"
        keys: set[str] = set()
        with translate_errors("ListObjectsV2", f"s3://{self.bucket}/{folder}"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                keys.update(obj["Key"] for obj in page.get("Contents", []))
        return {arn for arn in backup_arns if self._key(arn) in keys}

    @staticmethod
    def _key(backup_arn: str) -> str:
        _, _, _, region, account, resource = backup_arn.split(":", 5)
        return f"{RECORD_FOLDER}/{account}/{region}/{resource.removeprefix('table/')}.json"


def _table_of(backup_arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<table>/backup/<id> -> <table>"""
    return backup_arn.split(":table/", 1)[-1].split("/backup/", 1)[0]
