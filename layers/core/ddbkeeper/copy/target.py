"""What the copy's target is, decided from table descriptions before anything is changed: its CreateTable spec, what
the copy refuses to do, and what it will do, in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ddbkeeper.copy.models import CopyRequest, TableSpec
from ddbkeeper.errors import TableNotFound, TargetExists, UnsafeOperation
from ddbkeeper.models import TargetOverrides
from ddbkeeper.tables import key_schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        GlobalSecondaryIndexTypeDef,
        LocalSecondaryIndexTypeDef,
        ProvisionedThroughputDescriptionTypeDef,
        ProvisionedThroughputTypeDef,
        TableDescriptionTypeDef,
    )


def target_spec(
    source: TableDescriptionTypeDef, tags: dict[str, str], overrides: TargetOverrides, name: str
) -> TableSpec:
    """CreateTable parameters for a target like the source: keys, indexes, capacity, SSE, class, stream, tags."""
    dropped = set(overrides.drop_indexes)
    billing = overrides.billing_mode or source.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if source.get("BillingModeSummary") is None and not source.get("ProvisionedThroughput", {}).get(
        "ReadCapacityUnits"
    ):
        billing = overrides.billing_mode or "PAY_PER_REQUEST"
    spec: TableSpec = {"TableName": name, "KeySchema": source["KeySchema"], "BillingMode": billing}

    def throughput(described: ProvisionedThroughputDescriptionTypeDef) -> ProvisionedThroughputTypeDef:
        return {
            "ReadCapacityUnits": overrides.read_capacity or max(1, described.get("ReadCapacityUnits", 0)),
            "WriteCapacityUnits": overrides.write_capacity or max(1, described.get("WriteCapacityUnits", 0)),
        }

    if billing == "PROVISIONED":
        spec["ProvisionedThroughput"] = throughput(source.get("ProvisionedThroughput", {}))
    gsis: list[GlobalSecondaryIndexTypeDef] = []
    for index in source.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in dropped:
            continue
        gsi: GlobalSecondaryIndexTypeDef = {
            "IndexName": index["IndexName"],
            "KeySchema": index["KeySchema"],
            "Projection": index["Projection"],
        }
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = throughput(index.get("ProvisionedThroughput", {}))
        gsis.append(gsi)
    lsis: list[LocalSecondaryIndexTypeDef] = [
        {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
        for index in source.get("LocalSecondaryIndexes", [])
        if index["IndexName"] not in dropped
    ]
    if gsis:
        spec["GlobalSecondaryIndexes"] = gsis
    if lsis:
        spec["LocalSecondaryIndexes"] = lsis
    used = {key["AttributeName"] for key in source["KeySchema"]}
    used |= {key["AttributeName"] for index in gsis for key in index["KeySchema"]}
    used |= {key["AttributeName"] for index in lsis for key in index["KeySchema"]}
    spec["AttributeDefinitions"] = [a for a in source["AttributeDefinitions"] if a["AttributeName"] in used]
    sse = source.get("SSEDescription", {})
    if overrides.sse_kms_key_id:
        spec["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": overrides.sse_kms_key_id}
    elif sse.get("Status") in ("ENABLED", "ENABLING") and sse.get("SSEType") == "KMS":
        # The source's key may live in another account: the target gets the AWS managed key unless one is named.
        spec["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
    table_class = overrides.table_class or source.get("TableClassSummary", {}).get("TableClass")
    if table_class:
        spec["TableClass"] = table_class
    stream = source.get("StreamSpecification", {})
    stream_on = overrides.stream if overrides.stream is not None else stream.get("StreamEnabled", False)
    if stream_on:
        spec["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream.get("StreamViewType", "NEW_AND_OLD_IMAGES"),
        }
    merged_tags = tags | overrides.tags
    if merged_tags:
        spec["Tags"] = [{"Key": key, "Value": value} for key, value in sorted(merged_tags.items())]
    protection = overrides.deletion_protection
    spec["DeletionProtectionEnabled"] = (
        source.get("DeletionProtectionEnabled", False) if protection is None else protection
    )
    return spec


def refuse_unsafe(
    request: CopyRequest, source: TableDescriptionTypeDef, target: TableDescriptionTypeDef | None
) -> None:
    """The guardrails: never write to the source, never replace what the mode does not allow replacing."""
    same_place = (request.source.role_arn, request.source.region) == (request.target.role_arn, request.target.region)
    if (target is not None and target["TableArn"] == source["TableArn"]) or (
        same_place and request.source.table == request.target.table
    ):
        raise UnsafeOperation("target: the target is the source table; a copy never writes to its source")
    if request.mode == "create" and target is not None:
        raise TargetExists(f"target.table: {request.target.table} exists; use mode append or recreate")
    if request.mode == "append":
        if target is None:
            raise TableNotFound(f"target.table: {request.target.table} does not exist (mode append)")
        if key_schema(target) != key_schema(source):
            raise UnsafeOperation(
                f"target.table: key schema {key_schema(target)} differs from the source's {key_schema(source)}"
            )
    if request.mode == "recreate":
        if request.confirm_recreate != request.target.table:
            raise UnsafeOperation(
                f"confirm_recreate: must name the target table {request.target.table!r} to drop and recreate it"
            )
        if target is not None and target.get("DeletionProtectionEnabled"):
            raise UnsafeOperation(f"target.table: {request.target.table} has deletion protection; not dropping it")


def planned_actions(
    request: CopyRequest,
    source: TableDescriptionTypeDef,
    target: TableDescriptionTypeDef | None,
    spec: TableSpec,
    segments: int,
) -> list[str]:
    """What the copy will do, in words: the whole output of a dry run, and the first lines of a real one's plan."""
    name = request.target.table
    actions = []
    if request.mode == "recreate" and target is not None:
        actions.append(f"drop table {name} ({target.get('ItemCount', 0):,} items) and create it again")
    if request.mode in ("create", "recreate"):
        indexes = len(spec.get("GlobalSecondaryIndexes", [])), len(spec.get("LocalSecondaryIndexes", []))
        actions.append(f"create table {name}: {spec['BillingMode']}, {indexes[0]} GSI, {indexes[1]} LSI")
    else:
        actions.append(f"add to table {name} (items with the same keys are overwritten)")
    actions.append(
        f"copy about {source.get('ItemCount', 0):,} items ({source.get('TableSizeBytes', 0) / 1024**2:,.1f} MiB) "
        f"from {source['TableArn']} in {segments} segments"
    )
    actions.append(f"verify: {request.verify}")
    return actions
