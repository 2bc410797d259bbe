"""Restores: a new table from a backup, a point in time or an S3 export, then the settings a restore leaves behind.

RestoreTableFromBackup and RestoreTableToPointInTime bring back keys, indexes, capacity and SSE, but not TTL, PITR,
tags, streams or deletion protection; ImportTable builds the table from the request. `plan` reads what the source had
(the settings recorded with the backup or else the live source table, the backup's own record) and the overrides,
and decides all of it before anything is created; `finalize` applies it one change at a time, as DynamoDB takes one
table update at a time.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.aws import Account, AccountAccess, SessionFactory, domain_error, error_code, translate_errors
from ddbkeeper.clock import as_utc, backoff, iso
from ddbkeeper.errors import InvalidInput, TableNotFound, TargetExists, VerificationFailed
from ddbkeeper.exports import ExportLocation, data_folder
from ddbkeeper.models import Execution
from ddbkeeper.restore_models import RestoreRequest, RestoreTarget, RestoreTask
from ddbkeeper.table_settings import SETTINGS, SettingsRecords, settings_of, settings_records
from ddbkeeper.tables import TableSide, describe, pitr_description, summarize

Client = Any  # interim: typed clients arrive with the workflow package
logger = Logger(child=True)

_EXISTS = {"TableAlreadyExistsException", "ResourceInUseException"}


class RestoreService:
    """The steps of the restore workflow, acting in the target's account and region (and reading S3 for imports)."""

    def __init__(
        self,
        dynamodb: Client,
        s3: Client | None = None,
        source: Client | None = None,
        records: SettingsRecords | None = None,
    ) -> None:
        self.dynamodb = dynamodb  # where the new table goes
        self.s3 = s3
        self.source = source or dynamodb  # the source table's region, when a point-in-time restore crosses regions
        self.records = records  # the settings Create Backup recorded with each backup

    # --- plan ------------------------------------------------------------------------------------------------------

    def plan(self, request: RestoreRequest) -> dict[str, Any]:
        """Check the source and the target and decide everything; nothing is created or changed here."""
        target = request.target
        if describe(self.dynamodb, target.table) is not None:
            raise TargetExists(f"target.table: {target.table} exists; a restore always creates a new table")
        kind = request.source.kind
        if kind == "backup":
            plan = self._plan_backup(request)
        elif kind == "point_in_time":
            plan = self._plan_point_in_time(request)
        else:
            plan = self._plan_import(request)
        plan["settings"] = _settings(plan.pop("recorded"), target)
        plan["kind"] = kind
        plan["dry_run"] = request.dry_run
        plan["actions"] = _restore_actions(request, plan)
        return plan

    def _plan_backup(self, request: RestoreRequest) -> dict[str, Any]:
        arn = str(request.source.backup_arn)
        with translate_errors("DescribeBackup", arn):
            try:
                backup = self.dynamodb.describe_backup(BackupArn=arn)["BackupDescription"]
            except self.dynamodb.exceptions.BackupNotFoundException:
                raise TableNotFound(f"source.backup_arn: no backup {arn}") from None
        status = backup["BackupDetails"]["BackupStatus"]
        if status != "AVAILABLE":
            raise InvalidInput(f"source.backup_arn: the backup is {status}, not AVAILABLE")
        table = backup["SourceTableDetails"]
        features = backup.get("SourceTableFeatureDetails") or {}
        # The settings recorded with the backup (every one of them), else the live table as it is now; what the
        # backup itself recorded (stream and TTL) wins over either.
        records = self.records
        at_backup = records.load(arn) if records else None
        if records and at_backup is not None:
            recorded, settings_from = at_backup, f"recorded with the backup: {records.url(arn)}"
        else:
            recorded, settings_from = self._live_settings(table["TableName"])
        stream = features.get("StreamDescription") or table.get("StreamSpecification")
        if stream is not None:
            recorded["stream"] = stream.get("StreamViewType") if stream.get("StreamEnabled") else None
        ttl = features.get("TimeToLiveDescription")
        if ttl is not None:
            recorded["ttl_attribute"] = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None
        params: dict[str, Any] = {"TargetTableName": request.target.table, "BackupArn": arn}
        params |= _overrides(
            request.target, table, features.get("GlobalSecondaryIndexes") or table.get("GlobalSecondaryIndexes", [])
        )
        return {
            "source_arn": table["TableArn"],
            "expected_items": int(table.get("ItemCount", 0)),
            "expected_is_exact": False,  # DynamoDB's item count, refreshed about every six hours
            "recorded": recorded,
            "settings_from": settings_from,
            "params": params,
        }

    def _plan_point_in_time(self, request: RestoreRequest) -> dict[str, Any]:
        name = str(request.source.table)
        table = describe(self.source, name)
        if table is None:
            raise TableNotFound(f"source.table: {name} does not exist")
        pitr = pitr_description(self.source, name)
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            raise InvalidInput(f"source.table: {name} has point-in-time recovery off; nothing to restore from")
        params: dict[str, Any] = {"TargetTableName": request.target.table}
        if self.source.meta.region_name == self.dynamodb.meta.region_name:
            params["SourceTableName"] = name
        else:  # called in the target's region, naming the source by ARN
            params["SourceTableArn"] = table["TableArn"]
        moment = request.source.moment()
        if moment is None:
            params["UseLatestRestorableTime"] = True
        else:
            earliest, latest = (
                as_utc(pitr.get("EarliestRestorableDateTime")),
                as_utc(pitr.get("LatestRestorableDateTime")),
            )
            if (earliest and moment < earliest) or (latest and moment > latest):
                raise InvalidInput(
                    f"source.point_in_time: {iso(moment)} is outside the restorable window "
                    f"{iso(earliest)} to {iso(latest)}"
                )
            params["RestoreDateTime"] = moment
        params |= _overrides(request.target, table, table.get("GlobalSecondaryIndexes", []))
        return {
            "source_arn": table["TableArn"],
            "point_in_time": iso(moment) if moment else "latest",
            "expected_items": None,  # nothing records how many items the table had at that moment
            "expected_is_exact": False,
            "recorded": settings_of(self.source, table),  # the table described above, not described again
            "settings_from": "the source table as it is now",
            "params": params,
        }

    def _plan_import(self, request: RestoreRequest) -> dict[str, Any]:
        source = request.source.export
        assert source is not None  # the request's validator saw to it
        if self.s3 is None:
            raise InvalidInput("source.export: no S3 access configured")
        expected = None
        if source.export_arn:
            with translate_errors("DescribeExport", source.export_arn):
                export = self.dynamodb.describe_export(ExportArn=source.export_arn)["ExportDescription"]
            if export["ExportStatus"] != "COMPLETED":
                raise InvalidInput(f"source.export.export_arn: the export is {export['ExportStatus']}, not COMPLETED")
            if export.get("ExportType", "FULL_EXPORT") != "FULL_EXPORT":
                raise InvalidInput(
                    "source.export.export_arn: an incremental export holds changes, not a table; import a FULL export"
                )
            location = ExportLocation(export["S3Bucket"], export.get("S3Prefix") or "", export.get("S3BucketOwner"))
            expected = int(export.get("ItemCount") or 0)
            folder = data_folder(self.s3, location, export.get("ExportManifest"))
        else:
            location = ExportLocation(str(source.bucket), str(source.prefix), source.bucket_owner)
            folder = data_folder(self.s3, location)
        target = request.target
        creation: dict[str, Any] = {
            "TableName": target.table,
            "KeySchema": target.key_schema,
            "AttributeDefinitions": target.attribute_definitions,
            "BillingMode": target.billing_mode or "PAY_PER_REQUEST",
        }
        if creation["BillingMode"] == "PROVISIONED":
            creation["ProvisionedThroughput"] = _throughput(target)
        if target.global_secondary_indexes:
            creation["GlobalSecondaryIndexes"] = target.global_secondary_indexes
        if target.sse_kms_key_id:
            creation["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": target.sse_kms_key_id}
        bucket_source = {"S3Bucket": location.bucket, "S3KeyPrefix": folder}
        if location.owner:
            bucket_source["S3BucketOwner"] = location.owner
        params = {
            "S3BucketSource": bucket_source,
            "InputFormat": source.format,
            "InputCompressionType": source.compression,
            "TableCreationParameters": creation,
        }
        return {
            "source_arn": source.export_arn or f"s3://{location.bucket}/{folder}",
            "expected_items": expected,
            "expected_is_exact": expected is not None,
            "recorded": {},
            "settings_from": "the request (an export records no table settings)",
            "params": params,
        }

    def _live_settings(self, name: str) -> tuple[dict[str, Any], str]:
        """The settings of the source table as it is now, and where they came from."""
        table = describe(self.source, name)
        if table is None:
            return {}, f"the request only: {name} is gone and no settings were recorded with the backup"
        return settings_of(self.source, table), "the source table as it is now"

    # --- start and wait --------------------------------------------------------------------------------------------

    def start(self, plan: dict[str, Any], execution: Execution) -> dict[str, Any]:
        """Start the restore; a retried step finds the table it already started restoring instead of failing."""
        params = dict(plan["params"])
        name = _target_name(plan)
        import_arn = None
        try:
            if plan["kind"] == "backup":
                self.dynamodb.restore_table_from_backup(**params)
            elif plan["kind"] == "point_in_time":
                self.dynamodb.restore_table_to_point_in_time(**params)
            else:  # DynamoDB starts one import per token: a retried step gets the same import back
                params["ClientToken"] = hashlib.sha256(f"{execution.name}|{name}".encode()).hexdigest()[:40]
                import_arn = self.dynamodb.import_table(**params)["ImportTableDescription"]["ImportArn"]
        except ClientError as error:
            if error_code(error) not in _EXISTS:
                raise domain_error(error, f"Restore ({plan['kind']})", name) from error
            if not self._ours(name, plan, execution):
                raise TargetExists(f"target.table: {name} was created by someone else meanwhile") from None
            logger.info("restore already started by an earlier attempt", extra={"table": name})
        logger.info("restore started", extra={"table": name, "kind": plan["kind"]})
        return {"status": "CREATING", "polls": 0, "import_arn": import_arn, "wait_seconds": backoff(0, first=2, cap=30)}

    def _ours(self, name: str, plan: dict[str, Any], execution: Execution) -> bool:
        table = describe(self.dynamodb, name) or {}
        summary = table.get("RestoreSummary") or {}
        source = summary.get("SourceBackupArn") or summary.get("SourceTableArn")
        created = as_utc(table.get("CreationDateTime"))
        wanted = plan["params"].get("BackupArn") or plan["source_arn"]
        return source == wanted and created is not None and created >= execution.started_at.replace(microsecond=0)

    def check(self, plan: dict[str, Any], progress: dict[str, Any]) -> dict[str, Any]:
        """Where the restore stands: CREATING, ACTIVE (table and indexes ready, import done) or FAILED."""
        polls = int(progress.get("polls", 0)) + 1
        result = progress | {"polls": polls, "wait_seconds": backoff(polls, first=2, cap=30)}
        if progress.get("import_arn"):
            with translate_errors("DescribeImport", progress["import_arn"]):
                imported = self.dynamodb.describe_import(ImportArn=progress["import_arn"])["ImportTableDescription"]
            status = imported["ImportStatus"]
            result["imported"] = {
                "items": int(imported.get("ImportedItemCount") or 0),
                "processed": int(imported.get("ProcessedItemCount") or 0),
                "errors": int(imported.get("ErrorCount") or 0),
            }
            if status in ("FAILED", "CANCELLED", "CANCELLING"):
                failure = f"{imported.get('FailureCode') or status}: {imported.get('FailureMessage') or 'no reason'}"
                return result | {"status": "FAILED", "failure": failure}
            if status != "COMPLETED":
                return result | {"status": "CREATING"}
        table = describe(self.dynamodb, _target_name(plan))
        if table is None:
            return result | {"status": "CREATING"}
        ready = table["TableStatus"] == "ACTIVE" and all(
            index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in table.get("GlobalSecondaryIndexes", [])
        )
        in_progress = (table.get("RestoreSummary") or {}).get("RestoreInProgress", False)
        return result | {
            "status": "ACTIVE" if ready and not in_progress else "CREATING",
            "table_arn": table["TableArn"],
        }

    # --- settings --------------------------------------------------------------------------------------------------

    def finalize(self, plan: dict[str, Any], polls: int = 0) -> dict[str, Any]:
        """Apply the next setting the table still lacks; `pending` says how many remain (0: done)."""
        name = _target_name(plan)
        table = describe(self.dynamodb, name)
        if table is None:
            raise TableNotFound(f"target.table: {name} disappeared during the restore")
        current = settings_of(self.dynamodb, table)
        missing = [setting for setting in SETTINGS if _lacks(setting, plan["settings"][setting], current[setting])]
        ready = table["TableStatus"] == "ACTIVE"
        if missing and ready:
            self._apply(table, missing[0], plan["settings"][missing[0]])
            missing = missing[1:]
        return {
            "pending": len(missing),
            "polls": polls + 1,
            "wait_seconds": 0 if ready else backoff(polls, first=5, cap=60),  # ACTIVE: the next change at once
            "applied": [setting for setting in SETTINGS if setting not in missing],
            "summary": f"{name} still lacks {', '.join(missing)}" if missing else f"{name} has every setting",
        }

    def _apply(self, table: dict[str, Any], setting: str, value: Any) -> None:
        name = table["TableName"]
        logger.info("re-applying a setting the restore dropped", extra={"table": name, "setting": setting})
        with translate_errors(f"Apply {setting}", name):
            if setting == "table_class":
                self.dynamodb.update_table(TableName=name, TableClass=value)
            elif setting == "stream":
                spec = {"StreamEnabled": True, "StreamViewType": value}
                self.dynamodb.update_table(TableName=name, StreamSpecification=spec)
            elif setting == "ttl_attribute":
                spec = {"Enabled": True, "AttributeName": value}
                self.dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
            elif setting == "pitr":
                spec = {"PointInTimeRecoveryEnabled": True}
                self.dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
            elif setting == "tags":
                tags = [{"Key": key, "Value": val} for key, val in sorted(value.items())]
                self.dynamodb.tag_resource(ResourceArn=table["TableArn"], Tags=tags)
            else:
                self.dynamodb.update_table(TableName=name, DeletionProtectionEnabled=True)

    # --- verify and report -----------------------------------------------------------------------------------------

    def verify(
        self, task: RestoreTask, plan: dict[str, Any], progress: dict[str, Any], side: TableSide, now: datetime
    ) -> dict[str, Any]:
        """Count the new table and hold it against the count the source recorded; report what was restored."""
        table = describe(self.dynamodb, _target_name(plan)) or {}
        verification: dict[str, Any] = {"verify": task.request.verify}
        if task.request.verify == "count":
            items = summarize(side, segments=4, checksum=False).items
            verification |= {"items": items, "expected": plan["expected_items"]}
            imported = progress.get("imported")
            if imported and (imported["errors"] or imported["items"] != items):
                raise VerificationFailed(
                    f"import into {side.name}: {imported['items']} items imported, {imported['errors']} rejected "
                    f"(wrong key attributes?), {items} in the table"
                )
            verification["result"] = _count_check(side.name, items, plan["expected_items"], plan["expected_is_exact"])
        return {
            "status": "SUCCEEDED",
            "kind": plan["kind"],
            "source": plan["source_arn"],
            "point_in_time": plan.get("point_in_time"),
            "table": side.name,
            "table_arn": table.get("TableArn"),
            "items": verification.get("items", table.get("ItemCount")),
            "verification": verification,
            "settings": {key: value for key, value in plan["settings"].items() if value not in (None, False, {})},
            "settings_from": plan["settings_from"],
            "started_at": iso(task.execution.started_at),
            "finished_at": iso(now),
            "duration_seconds": round((now - task.execution.started_at).total_seconds(), 1),
        }


def _count_check(table: str, items: int, expected: int | None, exact: bool) -> str:
    """An export's count is exact: any difference fails. A backup's is DynamoDB's estimate (refreshed about every six
    hours) of a restore DynamoDB itself performs: a difference is reported, not failed on."""
    if expected is None:
        return "COUNTED (no recorded count to compare)"
    if items == expected:
        return "MATCH"
    if exact:
        raise VerificationFailed(f"{table} has {items} items; {expected} were exported")
    logger.warning("restored count differs from the backup's estimate", extra={"items": items, "expected": expected})
    return f"DIFFERS from the backup's estimate by {items - expected:+,} (DynamoDB refreshes it about every 6 hours)"


def restore_service(task: RestoreTask) -> tuple[RestoreService, TableSide]:
    """The service acting on the new table's account (through its role) and the new table itself, for counting."""
    factory = SessionFactory(session_name=f"ddbkeeper-{task.execution.name}")
    target = TableSide(Account(factory, task.request.target.access()), task.request.target.table)
    source = None
    if task.request.source.region:  # the same account as the new table, in the source's region
        access = task.request.target.access()
        source = factory.client(
            "dynamodb", AccountAccess(task.request.source.region, access.role_arn, access.external_id)
        )
    s3 = factory.client("s3", AccountAccess())
    return RestoreService(target.control, s3, source, settings_records()), target


def _lacks(setting: str, wanted: Any, current: Any) -> bool:
    """Whether the table still lacks a wanted setting; a restore only ever adds settings, never turns one off."""
    if setting == "tags":
        return not wanted.items() <= current.items()
    return bool(wanted) and wanted != current


def _target_name(plan: dict[str, Any]) -> str:
    params = plan["params"]
    return str(params.get("TargetTableName") or params["TableCreationParameters"]["TableName"])


def _restore_actions(request: RestoreRequest, plan: dict[str, Any]) -> list[str]:
    """What the restore will do, in words: a dry run's whole output."""
    params, name = plan["params"], _target_name(plan)
    if plan["kind"] == "backup":
        actions = [f"restore backup {params['BackupArn']} into a new table {name}"]
    elif plan["kind"] == "point_in_time":
        actions = [f"restore {plan['source_arn']} as of {plan['point_in_time']} into a new table {name}"]
    else:
        keys = ", ".join(f"{key['AttributeName']} ({key['KeyType']})" for key in request.target.key_schema or [])
        actions = [f"import {params['S3BucketSource']['S3KeyPrefix']} into a new table {name} keyed on {keys}"]
    overrides = [key for key in params if key.endswith("Override")]
    if overrides:
        actions.append("with " + ", ".join(overrides))
    settings = {key: value for key, value in plan["settings"].items() if value not in (None, False, {}, "STANDARD")}
    if settings:
        actions.append("then re-apply " + ", ".join(f"{key}={value}" for key, value in settings.items()))
    expected = plan["expected_items"]
    if request.verify == "none":
        actions.append("verify: none")
    elif expected is None:
        actions.append("verify: count the new table (no recorded count to compare)")
    else:
        actions.append(f"verify: count the new table against the {expected:,} items the source recorded")
    return actions


def _settings(recorded: dict[str, Any], target: RestoreTarget) -> dict[str, Any]:
    """What the new table gets after the restore: the source's settings, with the request's overrides on top."""
    stream = recorded.get("stream")
    if target.stream is not None:
        stream = (stream or "NEW_AND_OLD_IMAGES") if target.stream else None
    return {
        "table_class": target.table_class or recorded.get("table_class"),
        "stream": stream,
        "ttl_attribute": target.ttl_attribute or recorded.get("ttl_attribute"),
        "pitr": target.pitr if target.pitr is not None else recorded.get("pitr", False),
        "tags": recorded.get("tags", {}) | target.tags,
        "deletion_protection": (
            target.deletion_protection
            if target.deletion_protection is not None
            else recorded.get("deletion_protection", False)
        ),
    }


def _throughput(target: RestoreTarget) -> dict[str, int]:
    return {"ReadCapacityUnits": target.read_capacity or 5, "WriteCapacityUnits": target.write_capacity or 5}


def _overrides(target: RestoreTarget, table: dict[str, Any], indexes: list[dict[str, Any]]) -> dict[str, Any]:
    """The restore call's overrides: billing mode and capacity, indexes kept, SSE."""
    known = {index["IndexName"] for index in indexes} | {
        index["IndexName"] for index in table.get("LocalSecondaryIndexes", [])
    }
    unknown = sorted(set(target.drop_indexes) - known)
    if unknown:
        raise InvalidInput(f"target.drop_indexes: the source has no index {', '.join(unknown)}")
    params: dict[str, Any] = {}
    if target.billing_mode:
        params["BillingModeOverride"] = target.billing_mode
    if target.billing_mode == "PROVISIONED":
        params["ProvisionedThroughputOverride"] = _throughput(target)
    if target.drop_indexes or target.billing_mode == "PROVISIONED":
        kept = []
        for index in indexes:
            if index["IndexName"] in target.drop_indexes:
                continue
            gsi = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            if target.billing_mode == "PROVISIONED":
                gsi["ProvisionedThroughput"] = _throughput(target)
            kept.append(gsi)
        params["GlobalSecondaryIndexOverride"] = kept
        params["LocalSecondaryIndexOverride"] = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in table.get("LocalSecondaryIndexes", [])
            if index["IndexName"] not in target.drop_indexes
        ]
    if target.sse_kms_key_id:
        params["SSESpecificationOverride"] = {
            "Enabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": target.sse_kms_key_id,
        }
    return params
