"""The table settings a restore does not carry over, read from a table, and their record at backup time.

RestoreTableFromBackup brings back keys, indexes, capacity and SSE; the backup itself remembers the stream and TTL
(SourceTableFeatureDetails) but not tags, PITR, deletion protection or table class. So when Create Backup starts a
backup it also writes the table's settings to the stack's bucket, one write-once object per backup, and a restore from
that backup re-applies them even when the source table is gone.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError

from ddbkeeper.aws import AccountAccess, SessionFactory, error_code, translate_errors
from ddbkeeper.tables import pitr_description, pitr_on, ttl_attribute

Client = Any  # interim

# In the order a restore applies them: deletion protection last, once nothing else will touch the table.
SETTINGS = ("table_class", "stream", "ttl_attribute", "pitr", "tags", "deletion_protection")
RECORD_FOLDER = "ddbkeeper-settings"


def tags_of(client: Client, arn: str) -> dict[str, str]:
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


def settings_of(client: Client, table: dict[str, Any]) -> dict[str, Any]:
    """The settings of a table (its DescribeTable `Table`), in the shape a restore plan applies them."""
    name = table["TableName"]
    stream = table.get("StreamSpecification") or {}
    return {
        "table_class": (table.get("TableClassSummary") or {}).get("TableClass", "STANDARD"),
        "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "ttl_attribute": ttl_attribute(client, name),
        "pitr": pitr_on(pitr_description(client, name)),
        "tags": tags_of(client, table["TableArn"]),
        "deletion_protection": bool(table.get("DeletionProtectionEnabled")),
    }


class SettingsRecords:
    """`s3://<bucket>/ddbkeeper-settings/<account>/<region>/<table>/backup/<backup id>.json`, one per backup."""

    def __init__(self, s3: Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def url(self, backup_arn: str) -> str:
        """Where the record of a backup is, whether or not it was written."""
        return f"s3://{self.bucket}/{self._key(backup_arn)}"

    def save(self, backup_arn: str, table: dict[str, Any], settings: dict[str, Any]) -> str:
        body = {
            "backup_arn": backup_arn,
            "table": table["TableName"],
            "table_arn": table["TableArn"],
            "settings": settings,
        }
        with translate_errors("PutObject", self.url(backup_arn)):
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self._key(backup_arn),
                Body=json.dumps(body, indent=2).encode(),
                ContentType="application/json",
            )
        return self.url(backup_arn)

    def load(self, backup_arn: str) -> dict[str, Any] | None:
        """The settings recorded when the backup was taken, or None for a backup this service did not record."""
        with translate_errors("GetObject", self.url(backup_arn)):
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=self._key(backup_arn))["Body"].read()
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
        settings: dict[str, Any] = json.loads(body)["settings"]
        return {key: settings[key] for key in SETTINGS if key in settings}

    @staticmethod
    def _key(backup_arn: str) -> str:
        _, _, _, region, account, resource = backup_arn.split(":", 5)
        return f"{RECORD_FOLDER}/{account}/{region}/{resource.removeprefix('table/')}.json"


def settings_records() -> SettingsRecords | None:
    """The stack's records (SETTINGS_BUCKET, the export bucket), read and written with the function's own access."""
    bucket = os.environ.get("SETTINGS_BUCKET")
    if not bucket:
        return None
    return SettingsRecords(SessionFactory().client("s3", AccountAccess()), bucket)
