"""The settings a restore drops, set on a source table and read back from a restored one."""

from __future__ import annotations

from typing import Any

from ddbkeeper.aws import Client


def protect(dynamodb: Client, table: str) -> None:
    """TTL, PITR, a tag, a stream and deletion protection: everything a restore leaves behind."""
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "payments"}])
    dynamodb.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        DeletionProtectionEnabled=True,
    )


def settings_of(dynamodb: Client, table: str) -> dict[str, Any]:
    described = dynamodb.describe_table(TableName=table)["Table"]
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    tags = dynamodb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    return {
        "ttl": dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"].get("AttributeName"),
        "pitr": pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "tags": {tag["Key"]: tag["Value"] for tag in tags},
        "stream": (described.get("StreamSpecification") or {}).get("StreamViewType"),
        "deletion_protection": described.get("DeletionProtectionEnabled"),
    }
