"""What the new table gets, decided from what the source had and what the request asks: pure decisions, no AWS.

The restore call's overrides (billing mode and capacity, the indexes kept, SSE), the settings re-applied after it (the
source's, with the request's on top), which of them the table still lacks, the count check, and the plan in words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from ddbkeeper.errors import InvalidInput, VerificationFailed
from ddbkeeper.restore.models import ImportCounts, RepairSelection, RestoreTarget
from ddbkeeper.settings import SETTINGS, TableSettings
from ddbkeeper.wire import key_id

logger = Logger(child=True)

Index = Mapping[str, Any]  # a GSI or LSI as DescribeTable or DescribeBackup gives it
MANAGED_BY = "ddbkeeper:managed-by"  # the tag naming the stack that made a table (template.yaml's IAM conditions)
MARK = "managed_by"  # the first change Re-apply Settings makes: the stack's tag, before any setting
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")


def new_table(target: RestoreTarget, key_schema: Sequence[Any], definitions: Sequence[Any]) -> dict[str, Any]:
    """CreateTable's (or ImportTable's TableCreationParameters') arguments for the restore's new table."""
    creation: dict[str, Any] = {
        "TableName": target.table,
        "KeySchema": list(key_schema),
        "AttributeDefinitions": list(definitions),
        "BillingMode": target.billing_mode or "PAY_PER_REQUEST",
    }
    if creation["BillingMode"] == "PROVISIONED":
        creation["ProvisionedThroughput"] = throughput(target)
    if target.global_secondary_indexes:
        creation["GlobalSecondaryIndexes"] = target.global_secondary_indexes
    if (spec := sse(target)) is not None:
        creation["SSESpecification"] = spec
    return creation


def throughput(target: RestoreTarget) -> dict[str, int]:
    return {"ReadCapacityUnits": target.read_capacity or 5, "WriteCapacityUnits": target.write_capacity or 5}


def sse(target: RestoreTarget) -> dict[str, Any] | None:
    """The SSE specification for a customer-managed KMS key, when the request names one."""
    if not target.sse_kms_key_id:
        return None
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": target.sse_kms_key_id}


def overrides(target: RestoreTarget, gsis: Sequence[Index], lsis: Sequence[Index]) -> dict[str, Any]:
    """A restore call's overrides: billing mode and capacity, the indexes kept, SSE.

    An index to drop that the source does not have is refused: a typo must not silently keep an index.
    """
    target.check_indexes({index["IndexName"] for index in [*gsis, *lsis]}, "target.drop_indexes")
    params: dict[str, Any] = {}
    provisioned = target.billing_mode == "PROVISIONED"
    if target.billing_mode:
        params["BillingModeOverride"] = target.billing_mode
    if provisioned:
        params["ProvisionedThroughputOverride"] = throughput(target)
    if target.drop_indexes or provisioned:
        kept = []
        for index in gsis:
            if index["IndexName"] in target.drop_indexes:
                continue
            gsi = {key: index[key] for key in _INDEX_KEYS}
            if provisioned:
                gsi["ProvisionedThroughput"] = throughput(target)
            kept.append(gsi)
        params["GlobalSecondaryIndexOverride"] = kept
        params["LocalSecondaryIndexOverride"] = [
            {key: index[key] for key in _INDEX_KEYS} for index in lsis if index["IndexName"] not in target.drop_indexes
        ]
    if (spec := sse(target)) is not None:
        params["SSESpecificationOverride"] = spec
    return params


def wanted_settings(recorded: TableSettings, target: RestoreTarget) -> TableSettings:
    """What the new table gets after the restore: the source's settings, with the request's overrides on top."""
    stream = recorded.stream
    if target.stream is not None:
        stream = (stream or "NEW_AND_OLD_IMAGES") if target.stream else None
    return TableSettings(
        table_class=target.table_class or recorded.table_class,
        stream=stream,
        ttl_attribute=target.ttl_attribute or recorded.ttl_attribute,
        pitr=target.pitr if target.pitr is not None else recorded.pitr,
        tags=recorded.tags | target.tags,
        deletion_protection=(
            target.deletion_protection if target.deletion_protection is not None else recorded.deletion_protection
        ),
    )


def managed(settings: TableSettings, stack: str) -> TableSettings:
    """The settings with the stack's tag: every table a restore makes ends up carrying it, whatever else it has (the
    source's own tag of that key, from another stack or an earlier restore, gives way; no other key is touched)."""
    return settings.model_copy(update={"tags": settings.tags | {MANAGED_BY: stack}})


def changes(wanted: TableSettings, current: TableSettings, stack: str) -> list[str]:
    """The changes the new table still needs, in the order they are made: first the stack's tag, as IAM lets the stack
    change only tables carrying it (MARK), then each setting it lacks. The settings still lacking are reckoned as
    they will be once the tag is on, so the tag alone never counts as a second change."""
    if current.tags.get(MANAGED_BY) == stack:
        return missing(wanted, current)
    return [MARK, *missing(wanted, managed(current, stack))]


def missing(wanted: TableSettings, current: TableSettings) -> list[str]:
    """The wanted settings the table still lacks, in the order they are applied."""
    return [setting for setting in SETTINGS if lacks(setting, getattr(wanted, setting), getattr(current, setting))]


def lacks(setting: str, wanted: Any, current: Any) -> bool:
    """Whether the table still lacks a wanted setting; a restore only ever adds settings, never turns one off."""
    if setting == "tags":
        return not wanted.items() <= current.items()
    return bool(wanted) and wanted != current


def given(settings: TableSettings, *, unset: tuple[Any, ...] = (None, False, {})) -> dict[str, Any]:
    """The settings that are set, by name (what the report lists)."""
    return {key: value for key, value in settings.model_dump().items() if value not in unset}


def check_import(table: str, items: int, imported: ImportCounts | None) -> None:
    """An import that rejected items, or imported a count the table does not hold, lost data."""
    if imported and (imported.errors or imported.items != items):
        raise VerificationFailed(
            f"import into {table}: {imported.items} items imported, {imported.errors} rejected "
            f"(wrong key attributes?), {items} in the table"
        )


def actions(
    restore: str,
    params: Mapping[str, Any],
    settings: TableSettings,
    expected: int | None,
    verify: str,
    *,
    applied: bool = False,
) -> list[str]:
    """What the restore will do, in words (a dry run's whole output); `restore` is the source's own first line."""
    lines = [restore]
    overridden = [key for key in params if key.endswith("Override")]
    if overridden:
        lines.append("with " + ", ".join(overridden))
    reapplied = given(settings, unset=(None, False, {}, "STANDARD"))
    if reapplied:
        lines.append("then re-apply " + ", ".join(f"{key}={value}" for key, value in reapplied.items()))
    if verify == "none":
        lines.append("verify: none")
    elif applied:
        lines.append(
            f"verify: count the new table against the FULL export's {expected or 0:,} items plus the inserts, minus "
            "the deletes, counted while applying"
        )
    elif expected is None:
        lines.append("verify: count the new table (no recorded count to compare)")
    else:
        lines.append(f"verify: count the new table against the {expected:,} items the source recorded")
    return lines


def check_selection(selection: RepairSelection, table: Mapping[str, Any]) -> None:
    """A repair's chosen items against the live table's key (`table`: its DescribeTable), before anything is restored:
    each key names exactly the key's attributes with their types, no key twice; a partition names the partition key;
    a filter's #names and :values are all given. InvalidInput names the field."""
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    key = {k["AttributeName"]: types.get(k["AttributeName"]) for k in table["KeySchema"]}
    hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
    wanted = ", ".join(f"{name} ({kind})" for name, kind in key.items())

    def typed(value: Mapping[str, Any], names: Mapping[str, str | None]) -> bool:
        return set(value) == set(names) and all(
            isinstance(value[name], dict) and list(value[name]) == [kind] for name, kind in names.items()
        )

    seen: dict[bytes, int] = {}
    for n, chosen in enumerate(selection.keys or []):
        if not typed(chosen, key):
            raise InvalidInput(f"repair.keys[{n}]: {chosen} is not a key of {table['TableName']}: give {wanted}")
        identity = key_id(chosen, list(key))
        if identity in seen:
            raise InvalidInput(f"repair.keys[{n}]: the same key as repair.keys[{seen[identity]}]")
        seen[identity] = n
    if selection.partition is not None and not typed(selection.partition, {hash_key: key[hash_key]}):
        raise InvalidInput(
            f"repair.partition: {selection.partition} does not name the partition key of {table['TableName']}: give "
            f"{hash_key} ({key[hash_key]})"
        )
    if selection.filter is not None:
        expression = selection.filter
        for token in sorted(set(re.findall(r"[#:]\w+", expression.expression))):
            given = expression.names if token.startswith("#") else expression.values
            if token not in given:
                field = "names" if token.startswith("#") else "values"
                raise InvalidInput(f"repair.filter.{field}: {token} is in the expression but not given")
