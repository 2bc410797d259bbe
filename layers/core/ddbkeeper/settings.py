"""The table settings a restore does not carry over: read from a table, and recorded beside each backup.

RestoreTableFromBackup brings back keys, indexes, capacity and SSE; the backup itself remembers the stream and TTL
(SourceTableFeatureDetails) but not tags, PITR, deletion protection or table class. So when Create Backup starts a
backup it also writes the table's settings to the stack's bucket, one write-once object per backup, and a restore from
that backup re-applies them even when the source table is gone.
"""

from __future__ import annotations

import json
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
        body = {
            "backup_arn": backup_arn,
            "table": table["TableName"],
            "table_arn": table["TableArn"],
            "settings": settings.model_dump(mode="json"),
        }
        with translate_errors("PutObject", self.url(backup_arn)):
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self._key(backup_arn),
                Body=json.dumps(body, indent=2).encode(),
                ContentType="application/json",
            )
        return self.url(backup_arn)

    def load(self, backup_arn: str) -> TableSettings | None:
        """The settings recorded when the backup was taken, or None for a backup this service did not record."""
        with translate_errors("GetObject", self.url(backup_arn)):
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=self._key(backup_arn))["Body"].read()
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
        return TableSettings.model_validate(json.loads(body)["settings"])

    @staticmethod
    def _key(backup_arn: str) -> str:
        _, _, _, region, account, resource = backup_arn.split(":", 5)
        return f"{RECORD_FOLDER}/{account}/{region}/{resource.removeprefix('table/')}.json"
