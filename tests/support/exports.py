"""Exports made with DynamoDB's own API, for tests that need one in a bucket (a restore's source) without going through
ddbkeeper's export workflow: ExportTableToPointInTime, then DescribeExport until it ends, within a deadline."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mypy_boto3_dynamodb import DynamoDBClient as Client
from mypy_boto3_dynamodb.type_defs import ExportDescriptionTypeDef


def export_table(
    dynamodb: Client,
    table: str,
    bucket: str,
    prefix: str | None = None,
    *,
    incremental: bool = False,
    timeout_seconds: float = 30,
) -> ExportDescriptionTypeDef:
    """Export `table` to `s3://bucket/prefix/` (a fresh prefix unless one is given) with PITR turned on first, as
    DynamoDB requires; the COMPLETED export's description (S3Prefix is the folder of this one export)."""
    arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    params: dict[str, Any] = {
        "TableArn": arn,
        "S3Bucket": bucket,
        "S3Prefix": prefix or f"exports/{table}/{uuid.uuid4().hex[:8]}",
        "ExportFormat": "DYNAMODB_JSON",
    }
    if incremental:
        now = datetime.now(UTC)
        params["ExportType"] = "INCREMENTAL_EXPORT"
        params["IncrementalExportSpecification"] = {
            "ExportFromTime": now - timedelta(hours=1),
            "ExportToTime": now,
            "ExportViewType": "NEW_AND_OLD_IMAGES",
        }
    export = dynamodb.export_table_to_point_in_time(**params)["ExportDescription"]
    deadline = time.monotonic() + timeout_seconds
    while export.get("ExportStatus") == "IN_PROGRESS":  # moto runs the export on a thread
        if time.monotonic() > deadline:
            raise TimeoutError(f"export of {table} still IN_PROGRESS after {timeout_seconds} s")
        time.sleep(0.02)
        export = dynamodb.describe_export(ExportArn=export["ExportArn"])["ExportDescription"]
    assert export.get("ExportStatus") == "COMPLETED", export
    return export
