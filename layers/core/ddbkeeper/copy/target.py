"""What the copy's target is, decided from table descriptions before anything is changed: its CreateTable spec (and
the marks a table the stack creates carries), what the copy refuses to do, and what it will do, in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ddbkeeper.copy.models import CopyRequest, TableSpec
from ddbkeeper.errors import TableNotFound, TargetExists, UnsafeOperation
from ddbkeeper.models import TargetOverrides
from ddbkeeper.tables import key_schema

# Every table the stack creates carries MANAGED_BY=<stack name>: IAM lets the stack drop, write and change only those
# (template.yaml). EXECUTION names the execution that created it: a later step uses an existing target only if it says
# this execution, so a copy never writes into a table another copy (or a person) created after its plan.
MANAGED_BY = "ddbkeeper:managed-by"
EXECUTION = "ddbkeeper:execution"

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


def marked(spec: TableSpec, stack_name: str, execution_name: str) -> TableSpec:
    """The spec with the stack's marks added to its tags: they replace a source's tags of the same keys (a table
    copied from one the stack made), never a tag of another key."""
    tags = {tag["Key"]: tag["Value"] for tag in spec.get("Tags", [])}
    tags |= {MANAGED_BY: stack_name, EXECUTION: execution_name}
    return {**spec, "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}


def refuse_unsafe(
    request: CopyRequest, source: TableDescriptionTypeDef, target: TableDescriptionTypeDef | None
) -> None:
    """The guardrails: never write to the source, never replace what the mode does not allow replacing."""
    same_place = (request.source.role_arn, request.source.region) == (request.target.role_arn, request.target.region)
    if (target is not None and target["TableArn"] == source["TableArn"]) or (
        same_place and request.source.table == request.target.table
    ):
        raise UnsafeOperation("target: the target is the source table; a copy never writes to its source")
    if request.mode == "create" and target is not None and request.resumes is None:
        raise TargetExists(f"target.table: {request.target.table} exists; use mode append or recreate")
    if request.mode == "append":
        if request.confirm_append != request.target.table:
            raise UnsafeOperation(
                f"confirm_append: must name the target table {request.target.table!r} to write into it "
                "(items with the same keys are overwritten)"
            )
        if target is None:
            raise TableNotFound(f"target.table: {request.target.table} does not exist (mode append)")
        if target.get("DeletionProtectionEnabled") and not request.allow_protected_target:
            raise UnsafeOperation(
                f"target.table: {request.target.table} has deletion protection; appending overwrites items with the "
                "same keys, so it needs allow_protected_target: true"
            )
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
    *,
    backup: str | None = None,
) -> list[str]:
    """What the copy will do, in words: the whole output of a dry run, and the first lines of a real one's plan.

    `backup`: the name of the backup a recreate takes of the existing target before dropping it."""
    name = request.target.table
    actions = []
    if request.mode == "recreate" and target is not None:
        drop = f"drop table {name} ({target.get('ItemCount', 0):,} items) and create it again"
        if backup is not None:
            drop += f"; first back it up as {backup} (kept and pruned by the backup workflow's retention)"
        actions.append(drop)
    if request.mode == "create" and target is not None and request.resumes:
        actions.append(f"go on writing into table {name}, which the run this one resumes ({request.resumes}) created")
    elif request.mode in ("create", "recreate"):
        indexes = len(spec.get("GlobalSecondaryIndexes", [])), len(spec.get("LocalSecondaryIndexes", []))
        actions.append(f"create table {name}: {spec['BillingMode']}, {indexes[0]} GSI, {indexes[1]} LSI")
    else:
        add = f"add to table {name} (items with the same keys are overwritten)"
        if target is not None and target.get("DeletionProtectionEnabled"):
            add += "; it has deletion protection (allow_protected_target)"
        actions.append(add)
    actions.append(
        f"copy about {source.get('ItemCount', 0):,} items ({source.get('TableSizeBytes', 0) / 1024**2:,.1f} MiB) "
        f"from {source['TableArn']} in {segments} segments"
    )
    if request.resume:
        given = {checkpoint.segment for checkpoint in request.resume}
        resumed = f"resume {len(given)} of {segments} segments from their checkpoints"
        absent = [str(segment) for segment in range(segments) if segment not in given]
        if absent:
            resumed += f"; segments {', '.join(absent)} are not in resume and are not copied"
        actions.append(resumed)
    if request.mode == "append" and request.verify != "none":
        actions.append(f"verify: {request.verify}, every source item read back from {name} and compared as written")
    else:
        actions.append(f"verify: {request.verify}")
    return actions
