"""The drills' records: one write-once object per table per drill in the stack's bucket, so the audit can say when a
table was last drilled and how it went. `s3://<bucket>/ddbkeeper-drills/<account>/<region>/<table>/<stamp>.json`.

Shared: the drill writes them (Drill Report), the audit and the catalog read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ddbkeeper.aws import error_code, translate_errors
from ddbkeeper.models import StepModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DRILL_FOLDER = "ddbkeeper-drills"


class DrillRecord(StepModel):
    """What the audit needs of a drill's line (the record holds the whole line)."""

    table: str
    status: str  # PASSED or FAILED
    drilled_at: str
    execution: str
    kind: str | None = None
    recovery_point: str | None = None
    restore_seconds: float | None = None
    recovery_point_age_seconds: float | None = None
    error: str | None = None
    cause: str | None = None


def folder(table_arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<table> -> ddbkeeper-drills/<account>/<region>/<table>/"""
    _, _, _, region, account, resource = table_arn.split(":", 5)
    table = resource.removeprefix("table/").split("/", 1)[0]
    return f"{DRILL_FOLDER}/{account}/{region}/{table}/"


class DrillRecords:
    """The records in the stack's bucket, written and read with the function's (or the user's) own access."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def save(self, table_arn: str, stamp: str, body: str) -> str:
        key = f"{folder(table_arn)}{stamp}.json"
        with translate_errors("PutObject", f"s3://{self.bucket}/{key}"):
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json")
        return f"s3://{self.bucket}/{key}"

    def last(self, table_arn: str) -> DrillRecord | None:
        """The newest drill of the table (keys sort by the drill's stamp), or None when it was never drilled."""
        prefix = folder(table_arn)
        with translate_errors("ListObjectsV2", f"s3://{self.bucket}/{prefix}"):
            try:
                pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                keys = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".json")]
            except ClientError as error:
                if error_code(error) == "NoSuchBucket":
                    return None
                raise
        if not keys:
            return None
        newest = max(keys)
        with translate_errors("GetObject", f"s3://{self.bucket}/{newest}"):
            body = self.s3.get_object(Bucket=self.bucket, Key=newest)["Body"].read()
        return DrillRecord.model_validate_json(body)
