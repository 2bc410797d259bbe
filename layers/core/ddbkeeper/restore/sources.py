"""Where a restore comes from: a backup, a table at a point in time, or an export in S3.

Each kind is one class, chosen once from the request: it reads its source and plans the restore call, starts that
call, and recognises the table an earlier attempt of Start Restore already created. The service never asks which
kind it has.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from aws_lambda_powertools import Logger

from ddbkeeper.aws import Account, translate_errors
from ddbkeeper.clock import as_utc, iso
from ddbkeeper.errors import DdbkeeperError, InvalidInput, TableNotFound
from ddbkeeper.export_chain import check_order, pick
from ddbkeeper.export_files import ExportLocation, ExportManifest, data_folder, read_ledger, read_manifest
from ddbkeeper.recovery import restored_by
from ddbkeeper.restore.models import MAX_EXPORTS, RestorePlan, RestoreRequest, SourceKind
from ddbkeeper.restore.target import new_table, overrides
from ddbkeeper.settings import SettingsRecords, TableSettings, settings_of, tags_of
from ddbkeeper.tables import describe, pitr_description

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

    from ddbkeeper.models import Execution

logger = Logger(child=True)


@dataclass(frozen=True)
class Origin:
    """What a source is and holds, as its plan found it: the service adds the overrides and the words."""

    source_arn: str
    expected_items: int | None  # the count the source recorded, if any
    expected_is_exact: bool
    recorded: TableSettings  # the source's own settings (before the request's overrides)
    settings_from: str
    params: dict[str, Any]  # the restore call's
    action: str  # the restore in words: the first of the plan's actions
    point_in_time: str | None = None
    exports: list[ExportManifest] = field(default_factory=list)  # exports applied item by item, in order
    key_names: list[str] = field(default_factory=list)
    restored_to: str | None = None
    behind_seconds: float | None = None


class Source(ABC):
    """One kind of source; the new table is made in the target's account and region."""

    kind: ClassVar[SourceKind]

    def __init__(self, request: RestoreRequest, target: Account) -> None:
        self.request = request
        self.target = target

    @abstractmethod
    def plan(self) -> Origin:
        """Read the source and plan the restore call; nothing is created here."""

    @abstractmethod
    def start(self, params: dict[str, Any], execution: Execution) -> str | None:
        """Make the restore call; the import's ARN when there is one to poll. ClientError passes through."""

    def restored_from(self, plan: RestorePlan) -> str | None:
        """The ARN a restore of this source leaves in the new table's RestoreSummary."""
        return plan.source_arn

    def adopts(self, table: TableDescriptionTypeDef | None, plan: RestorePlan, execution: Execution) -> bool:
        """Whether an existing target table is the one an earlier attempt of this execution started restoring."""
        return restored_by(table, self.restored_from(plan), execution.started_at)


class FromBackup(Source):
    """RestoreTableFromBackup. The settings come from the record Create Backup wrote beside the backup, else from the
    live source table; what the backup itself kept (stream and TTL) wins over either. A record naming another backup
    or table counts as none, and one that cannot be read never stops the restore."""

    kind = "backup"

    def __init__(self, request: RestoreRequest, target: Account, records: SettingsRecords | None) -> None:
        super().__init__(request, target)
        self.records = records  # the settings Create Backup recorded with each backup (the stack's bucket)

    def plan(self) -> Origin:
        arn = str(self.request.source.backup_arn)
        client = self.target.dynamodb
        with translate_errors("DescribeBackup", arn):
            try:
                backup = client.describe_backup(BackupArn=arn)["BackupDescription"]
            except client.exceptions.BackupNotFoundException:
                raise TableNotFound(f"source.backup_arn: no backup {arn}") from None
        status = backup["BackupDetails"]["BackupStatus"]
        if status != "AVAILABLE":
            raise InvalidInput(f"source.backup_arn: the backup is {status}, not AVAILABLE")
        # DynamoDB keeps the indexes, stream and TTL in the features; moto describes the whole table in the details.
        table: Mapping[str, Any] = backup["SourceTableDetails"]
        features: Mapping[str, Any] = backup.get("SourceTableFeatureDetails", {})
        recorded, settings_from = self._recorded(arn, table["TableName"])
        stream = features.get("StreamDescription") or table.get("StreamSpecification")
        if stream is not None:
            recorded = recorded.model_copy(
                update={"stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None}
            )
        ttl = features.get("TimeToLiveDescription")
        if ttl is not None:
            attribute = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None
            recorded = recorded.model_copy(update={"ttl_attribute": attribute})
        name = self.request.target.table
        gsis = features.get("GlobalSecondaryIndexes") or table.get("GlobalSecondaryIndexes", [])
        lsis = features.get("LocalSecondaryIndexes") or table.get("LocalSecondaryIndexes", [])
        return Origin(
            source_arn=table["TableArn"],
            expected_items=int(table.get("ItemCount", 0)),
            expected_is_exact=False,  # DynamoDB's item count, refreshed about every six hours
            recorded=recorded,
            settings_from=settings_from,
            params={"TargetTableName": name, "BackupArn": arn} | overrides(self.request.target, gsis, lsis),
            action=f"restore backup {arn} into a new table {name}",
        )

    def _recorded(self, arn: str, name: str) -> tuple[TableSettings, str]:
        """The settings recorded with the backup (every one of them), else the live table as it is now.

        Only a record naming this backup of this table is used: anything else at its key is ignored, and said so.
        The record is secondary to the backup: one that cannot be read (no bucket, AccessDenied, KMS, throttling
        past botocore's retries) never blocks the restore, which goes on with the live table and says why.
        """
        unreadable, ignored = "", ""
        if self.records:
            try:
                found = self.records.find(arn)
            except DdbkeeperError as error:
                logger.warning(
                    "settings record unreadable; the live source table instead",
                    extra={"backup_arn": arn, "record": self.records.url(arn), "error": str(error)},
                )
                unreadable = f"settings record unreadable: {error}; "
            else:
                if found.record is not None:
                    return found.record.settings, f"recorded with the backup: {self.records.url(arn)}"
                if found.ignored:
                    logger.warning("settings record ignored", extra={"backup_arn": arn, "why": found.ignored})
                    ignored = f" ({found.ignored}: ignored)"
        table = describe(self.target.dynamodb, name)
        if table is None:
            if unreadable:
                return TableSettings(), f"{unreadable}the request only: {name} is gone"
            gone = f"the request only: {name} is gone and no settings were recorded with the backup{ignored}"
            return TableSettings(), gone
        return settings_of(self.target.dynamodb, table), f"{unreadable}the source table as it is now{ignored}"

    def start(self, params: dict[str, Any], execution: Execution) -> str | None:
        self.target.dynamodb.restore_table_from_backup(**params)
        return None

    def restored_from(self, plan: RestorePlan) -> str | None:
        return str(plan.params["BackupArn"])


class FromPointInTime(Source):
    """RestoreTableToPointInTime, called in the new table's region; the source table may be in another region (of the
    same account), then named by its ARN. The settings come from the live source table."""

    kind = "point_in_time"

    def __init__(self, request: RestoreRequest, target: Account, source: Account) -> None:
        super().__init__(request, target)
        self.source = source  # the source table's account and region

    def plan(self) -> Origin:
        name = str(self.request.source.table)
        client = self.source.dynamodb
        table = describe(client, name)
        if table is None:
            raise TableNotFound(f"source.table: {name} does not exist")
        pitr = pitr_description(client, name)
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            raise InvalidInput(f"source.table: {name} has point-in-time recovery off; nothing to restore from")
        target = self.request.target
        params: dict[str, Any] = {"TargetTableName": target.table}
        if self.source.region == self.target.region:
            params["SourceTableName"] = name
        else:  # called in the target's region, naming the source by ARN
            params["SourceTableArn"] = table["TableArn"]
        moment = self.request.source.moment()
        if moment is None:
            params["UseLatestRestorableTime"] = True
        else:
            earliest = as_utc(pitr.get("EarliestRestorableDateTime"))
            latest = as_utc(pitr.get("LatestRestorableDateTime"))
            if (earliest and moment < earliest) or (latest and moment > latest):
                raise InvalidInput(
                    f"source.point_in_time: {iso(moment)} is outside the restorable window "
                    f"{iso(earliest)} to {iso(latest)}"
                )
            params["RestoreDateTime"] = moment
        params |= overrides(target, table.get("GlobalSecondaryIndexes", []), table.get("LocalSecondaryIndexes", []))
        point_in_time = iso(moment) if moment else "latest"
        return Origin(
            source_arn=table["TableArn"],
            point_in_time=point_in_time,
            expected_items=None,  # nothing records how many items the table had at that moment
            expected_is_exact=False,
            recorded=settings_of(client, table),  # the table described above, not described again
            settings_from="the source table as it is now",
            params=params,
            action=f"restore {table['TableArn']} as of {point_in_time} into a new table {target.table}",
        )

    def start(self, params: dict[str, Any], execution: Execution) -> str | None:
        self.target.dynamodb.restore_table_to_point_in_time(**params)
        return None


class FromExport(Source):
    """ImportTable from a FULL export's data folder: the table is built from the request (keys may change), the
    export's item count is exact, and an export records no table settings."""

    kind = "export"

    def __init__(self, request: RestoreRequest, target: Account, stack: Account) -> None:
        super().__init__(request, target)
        self.stack = stack  # reads the export's folder with the function's own access

    def plan(self) -> Origin:
        source = self.request.source.export
        assert source is not None  # the request's validator saw to it
        expected = None
        if source.export_arn:
            with translate_errors("DescribeExport", source.export_arn):
                export = self.target.dynamodb.describe_export(ExportArn=source.export_arn)["ExportDescription"]
            if export["ExportStatus"] != "COMPLETED":
                raise InvalidInput(f"source.export.export_arn: the export is {export['ExportStatus']}, not COMPLETED")
            if export.get("ExportType", "FULL_EXPORT") != "FULL_EXPORT":
                raise InvalidInput(
                    "source.export.export_arn: an incremental export holds changes, not a table; import a FULL export"
                )
            location = ExportLocation(export["S3Bucket"], export.get("S3Prefix") or "", export.get("S3BucketOwner"))
            expected = int(export.get("ItemCount") or 0)
            folder = data_folder(self.stack.s3, location, export.get("ExportManifest"))
        else:
            location = ExportLocation(str(source.bucket), str(source.prefix), source.bucket_owner)
            folder = data_folder(self.stack.s3, location)
        target = self.request.target
        creation = new_table(target, target.key_schema or [], target.attribute_definitions or [])
        bucket_source = {"S3Bucket": location.bucket, "S3KeyPrefix": folder}
        if location.owner:
            bucket_source["S3BucketOwner"] = location.owner
        keys = ", ".join(f"{key['AttributeName']} ({key['KeyType']})" for key in target.key_schema or [])
        return Origin(
            source_arn=source.export_arn or f"s3://{location.bucket}/{folder}",
            expected_items=expected,
            expected_is_exact=expected is not None,
            recorded=TableSettings(),
            settings_from="the request (an export records no table settings)",
            params={
                "S3BucketSource": bucket_source,
                "InputFormat": source.format,
                "InputCompressionType": source.compression,
                "TableCreationParameters": creation,
            },
            action=f"import {folder} into a new table {target.table} keyed on {keys}",
        )

    def start(self, params: dict[str, Any], execution: Execution) -> str | None:
        """DynamoDB starts one import per token: a retried step gets the same import back."""
        token = hashlib.sha256(f"{execution.name}|{self.request.target.table}".encode()).hexdigest()[:40]
        imported = self.target.dynamodb.import_table(**params, ClientToken=token)["ImportTableDescription"]
        return imported["ImportArn"]

    def restored_from(self, plan: RestorePlan) -> str | None:
        return None  # an import leaves no RestoreSummary: its ClientToken is what makes a retry safe


class FromExports(Source):
    """Exports named by their manifest-summary.json, wherever they were copied: one FULL, then incrementals in order,
    applied item by item (List Export Files, Apply File) into a table created from the request. Keys are the
    request's."""

    kind: ClassVar[SourceKind] = "exports"

    def __init__(self, request: RestoreRequest, target: Account, stack: Account) -> None:
        super().__init__(request, target)
        self.stack = stack  # reads the exports with the function's own access

    def chain(self) -> tuple[list[ExportManifest], str, str | None, float | None]:
        """The manifests in order, the source in words, the `to` asked for (ISO) and how far the chain's end is
        before it."""
        source = self.request.source
        urls = source.exports or []
        manifests = [
            read_manifest(self.stack.s3, url, source.bucket_owner, f"source.exports[{n}]") for n, url in enumerate(urls)
        ]
        check_order(manifests, full_first=not self.request.target.existing)
        return manifests, manifests[0].table_arn, None, None

    def key_schema(self, manifests: list[ExportManifest]) -> tuple[list[Any], list[Any]]:
        target = self.request.target
        assert target.key_schema is not None and target.attribute_definitions is not None  # the request's validator
        return target.key_schema, target.attribute_definitions

    def plan(self) -> Origin:
        target = self.request.target
        existing = self._existing() if target.existing else None  # the table first: the cheapest refusal
        manifests, source_arn, to, behind = self.chain()
        if existing is not None:
            key_schema, params, into = existing
        else:
            key_schema, definitions = self.key_schema(manifests)
            params = new_table(self.request.target, key_schema, definitions)
            keys = ", ".join(f"{key['AttributeName']} ({key['KeyType']})" for key in key_schema)
            into = f"create a new table {target.table} keyed on {keys}, then"
        full = manifests[0]
        changes = manifests[1:] if full.full else manifests
        point = manifests[-1].end
        if self.kind == "revert":
            action = f"{into} undo the {full.describe()} ({full.item_count:,} changes) from its OldImages"
        elif full.full:
            action = f"{into} apply the {full.describe()} ({full.item_count:,} items)"
            if changes:
                action += f" and {len(changes)} incremental exports to {iso(point)}"
        else:
            action = f"{into} apply {len(changes)} incremental exports from {iso(full.from_time)} to {iso(point)}"
        if to is not None:
            action += f": the table as of {iso(point)}, {behind or 0:,.0f} s before {to}"
        counted = [m for m in manifests if not m.full]
        return Origin(
            source_arn=source_arn,
            expected_items=None if target.existing else full.item_count,
            expected_is_exact=not target.existing and all(m.output_view != "NEW_IMAGE" for m in counted),
            recorded=TableSettings(),
            settings_from="none: an existing table keeps its own"
            if target.existing
            else "the request (an export records no table settings)",
            params=params,
            action=action,
            exports=manifests,
            key_names=[key["AttributeName"] for key in key_schema],
            restored_to=None if self.kind == "revert" else iso(point),
            behind_seconds=behind,
        )

    def _existing(self) -> tuple[list[Any], dict[str, Any], str]:
        """The table to apply to, as it is: its keys; nothing to create."""
        name = self.request.target.table
        table = describe(self.target.dynamodb, name)
        if table is None:
            raise TableNotFound(f"target.table: {name} does not exist; target.existing applies to a table that exists")
        return [dict(key) for key in table["KeySchema"]], {"TableName": name}, f"into the existing table {name}:"

    def start(self, params: dict[str, Any], execution: Execution) -> str | None:
        if not self.request.target.existing:
            self.target.dynamodb.create_table(**params)
        return None

    def restored_from(self, plan: RestorePlan) -> str | None:
        return None

    def adopts(self, table: TableDescriptionTypeDef | None, plan: RestorePlan, execution: Execution) -> bool:
        """A table this execution created: made after it started, carrying the tag it was created with."""
        if table is None:
            return False
        created = as_utc(table.get("CreationDateTime"))
        if created is None or created < execution.started_at.replace(microsecond=0):
            return False
        wanted = {tag["Key"]: tag["Value"] for tag in plan.params.get("Tags", [])}
        return bool(wanted) and wanted.items() <= tags_of(self.target.dynamodb, table["TableArn"]).items()


class FromChain(FromExports):
    """A table's export chain as the export workflow recorded it in its ledger: the newest FULL export at or before
    `to`, then every incremental after it up to the newest window end at or before `to`."""

    kind: ClassVar[SourceKind] = "export_chain"

    def chain(self) -> tuple[list[ExportManifest], str, str | None, float | None]:
        source = self.request.source
        chain = source.export_chain
        assert chain is not None  # the request's validator saw to it
        location = ExportLocation(chain.bucket, chain.prefix, chain.bucket_owner)
        until = source.until()
        picked = pick(read_ledger(self.stack.s3, location, chain.table), until)
        if len(picked.entries) > MAX_EXPORTS:  # the plan rides in the execution's state (256 KB)
            raise InvalidInput(
                f"source.to: the chain to {iso(picked.point)} is {len(picked.entries)} exports since its FULL export; "
                f"one restore applies at most {MAX_EXPORTS}: restore to an earlier point, or take a FULL export (the "
                "export workflow's FULL schedule starts a new chain) and restore from it"
            )
        manifests = []
        for entry in picked.entries:
            url = entry.summary_url()
            if url is None:
                raise InvalidInput(
                    f"source.export_chain: the ledger's entry for {entry.export_arn} names no manifest; it was "
                    "recorded before ddbkeeper read manifests, or DynamoDB wrote none (moto)"
                )
            manifest = read_manifest(self.stack.s3, url, chain.bucket_owner, "source.export_chain")
            if (manifest.table_arn, manifest.export_arn) != (entry.table_arn, entry.export_arn):
                raise InvalidInput(
                    f"source.export_chain: {url} describes {manifest.export_arn} of {manifest.table_arn}; the ledger "
                    f"recorded {entry.export_arn} of {entry.table_arn} there"
                )
            if manifest.end != entry.end:
                raise InvalidInput(
                    f"source.export_chain: {url} ends at {iso(manifest.end)}; the ledger recorded {iso(entry.end)}"
                )
            manifests.append(manifest)
        check_order(manifests, "source.export_chain")
        behind = None if until is None else (until - picked.point).total_seconds()
        return manifests, manifests[0].table_arn, iso(until) if until else None, behind

    def key_schema(self, manifests: list[ExportManifest]) -> tuple[list[Any], list[Any]]:
        """The request's keys, else the chain's table's own while it still exists."""
        target = self.request.target
        if target.key_schema is not None and target.attribute_definitions is not None:
            return target.key_schema, target.attribute_definitions
        table_arn = manifests[0].table_arn
        name = table_arn.rsplit("/", 1)[-1]
        table = describe(self.target.dynamodb, name)
        if table is None or table["TableArn"] != table_arn:
            raise InvalidInput(
                f"target.key_schema: {name} is gone (or is another table), so the chain's keys are unknown; give "
                "target.key_schema and target.attribute_definitions"
            )
        keys = [dict(key) for key in table["KeySchema"]]
        wanted = {key["AttributeName"] for key in keys}
        for index in target.global_secondary_indexes:
            wanted |= {key["AttributeName"] for key in index.get("KeySchema", [])}
        definitions = [dict(a) for a in table.get("AttributeDefinitions", []) if a["AttributeName"] in wanted]
        return keys, definitions


class FromRevert(FromExports):
    """One incremental export undone in the table it happened to: each changed item put back as its OldImage, each
    item the window inserted deleted. Only a NEW_AND_OLD_IMAGES export holds what the items were before."""

    kind: ClassVar[SourceKind] = "revert"

    def chain(self) -> tuple[list[ExportManifest], str, str | None, float | None]:
        source = self.request.source
        url = str(source.revert)
        manifest = read_manifest(self.stack.s3, url, source.bucket_owner, "source.revert")
        if manifest.full:
            raise InvalidInput(f"source.revert: {url} is a FULL export: it holds a table, not the changes of a window")
        if manifest.output_view != "NEW_AND_OLD_IMAGES":
            raise InvalidInput(
                f"source.revert: {url} is a NEW_IMAGE export: it holds what the items became, not what they were "
                "before the window (no OldImage), so it cannot be undone; export the window with NEW_AND_OLD_IMAGES"
            )
        return [manifest], manifest.table_arn, None, None


def source_of(
    request: RestoreRequest, target: Account, *, source: Account, stack: Account, records: SettingsRecords | None
) -> Source:
    """The request's kind of source. `source`: the source table's account and region (a point-in-time restore);
    `stack`: the function's own access (an export's folder); `records`: the backups' settings records."""
    kind = request.source.kind
    if kind == "backup":
        return FromBackup(request, target, records)
    if kind == "point_in_time":
        return FromPointInTime(request, target, source)
    if kind == "export_chain":
        return FromChain(request, target, stack)
    if kind == "exports":
        return FromExports(request, target, stack)
    if kind == "revert":
        return FromRevert(request, target, stack)
    return FromExport(request, target, stack)
