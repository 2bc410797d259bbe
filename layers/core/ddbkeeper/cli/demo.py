"""`ddbkeeper demo`: the service end to end on the embedded runtime, with two fake accounts and no AWS account at all.

Backups with retention in two accounts, an export to S3 and two restores (from the export onto a new key, and from a
backup with its settings), a table's export chain in DynamoDB's real layout restored to the middle of the chain and a
window of it undone in a live table, then a cross-account copy and its refresh (the old replica backed up before the
drop), each verified item for item, and the copies a request must confirm refused. Then operating it: a restore drill
(scratch tables restored, verified, measured and deleted), the protection audit of every table, and the catalog of one
table's recovery points with one of them restored as a dry run.
The handlers reach DynamoDB through AWS_ENDPOINT_URL, which the demo points at the embedded moto server: the same
standard resolution a user's run relies on. The demo checks what it shows and exits non-zero if anything is off.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from rich.console import Console
from rich.rule import Rule

from ddbkeeper.cli.coverage_view import show_audit, show_points
from ddbkeeper.cli.progress import ExecutionProgress
from ddbkeeper.cli.report_view import show_result
from ddbkeeper.coverage import Auditor
from ddbkeeper.executions import ExecutionResult
from ddbkeeper.local.exports import ExportWriter
from ddbkeeper.local.runtime import LOCAL_REGION, LocalRuntime

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OTHER_ACCOUNT = "222222222222"
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/ddbkeeper-backup"
OTHER_RETENTION_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/ddbkeeper-retention"
RETENTION = {"keep_last": 2, "min_keep": 1}
EXPORT_BUCKET = "ddbkeeper-demo-exports"
CHAIN_START = datetime(2026, 9, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
ID_KEY = [{"AttributeName": "id", "KeyType": "HASH"}]
ID_ATTRIBUTE = [{"AttributeName": "id", "AttributeType": "S"}]


class DemoCheckFailed(AssertionError):
    pass


class Demo:
    def __init__(self, project: Path, console: Console) -> None:
        self.project = project
        self.console = console

    def run(self) -> int:
        started = time.monotonic()
        with LocalRuntime(self.project) as runtime:
            self.runtime = runtime
            _point_handlers_at(runtime.endpoint)
            self.home = boto3.client("dynamodb", region_name=LOCAL_REGION)
            self.other = _assumed_dynamodb(OTHER_ROLE)
            try:
                self._backup_and_retention()
                self._export_and_restore()
                self._export_chain()
                self._cross_account_copy()
                self._drill_audit_and_catalog()
            except DemoCheckFailed as failure:
                self.console.print(f"[bold red]demo check failed:[/] {failure}")
                return 1
        self.console.print(Rule())
        self.console.print(f"[bold green]demo finished[/] in {time.monotonic() - started:.1f} s; every check passed")
        return 0

    def _backup_and_retention(self) -> None:
        self._title("Seeding two fake accounts")
        for name, tags in (("orders", {"backup": "daily"}), ("customers", {"backup": "daily"}), ("scratch", {})):
            _create_table(self.home, name, tags, items=50)
        _create_table(self.other, "ledger", {"backup": "daily"}, items=20)
        self.home.update_continuous_backups(
            TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        manual = self.home.create_backup(TableName="orders", BackupName="orders-before-migration")["BackupDetails"]
        # What `sam deploy` creates: the stack's bucket, where each backup's table settings are recorded.
        boto3.client("s3", region_name=LOCAL_REGION).create_bucket(Bucket=os.environ["SETTINGS_BUCKET"])
        self.console.print(
            "account 123456789012: orders, customers (tag backup=daily, PITR on), scratch (untagged); "
            f"account {OTHER_ACCOUNT}: ledger.\n"
            "A manual backup 'orders-before-migration' that retention must never touch."
        )

        request = {"selector": {"tag_key": "backup", "tag_value": "daily"}, "retention": RETENTION}
        for turn in range(1, 5):
            self._title(f"Scheduled run {turn}: tables tagged backup=daily, retention keep_last=2")
            result = self._run("backup", request)
            self._check(result.succeeded, f"run {turn} failed: {result.cause_message()}")
            self._check({line["table"] for line in result.output["tables"]} == {"orders", "customers"}, "selector")
            deleted = sum(len(line["deleted"]) for line in result.output["tables"])
            self._check(deleted == (2 if turn >= 3 else 0), f"run {turn} deleted {deleted} backups")

        names = _backup_names(self.home, "orders")
        self._check("orders-before-migration" in names, "the manual backup was deleted")
        self._check(len(names) == 3, f"orders should keep 2 ddbkeeper backups and the manual one, has {names}")
        self.console.print(f"orders now has: {', '.join(sorted(names))}")

        self._title(f"Cross-account: ledger in {OTHER_ACCOUNT} through an assumed role")
        result = self._run(
            "backup",
            {
                "tables": ["ledger"],
                "role_arn": OTHER_ROLE,
                "retention_role_arn": OTHER_RETENTION_ROLE,
                "retention": RETENTION,
            },
        )
        self._check(result.succeeded and len(_backup_names(self.other, "ledger")) == 1, "cross-account backup")

        self._title(
            "Dry run with keep_last=1: names the backup it would take and what it would delete, changes nothing"
        )
        before = _backup_names(self.home, "orders")
        result = self._run("backup", {"tables": ["orders"], "retention": {"keep_last": 1}, "dry_run": True})
        line = result.output["tables"][0]
        after = _backup_names(self.home, "orders")
        self._check(result.succeeded and line["backup_status"] == "PLANNED", "dry run did not plan a backup")
        self._check(len(line["would_delete"]) == 2 and after == before, f"dry run changed backups: {before} -> {after}")

        self._title("One missing table: the others are backed up, the run fails and names it")
        result = self._run("backup", {"tables": ["customers", "no-such-table"]})
        self._check(result.status == "FAILED" and "no-such-table" in (result.cause or ""), "partial failure")

        self._title("Bad input: rejected before anything is touched")
        result = self._run("backup", {"tables": ["orders"], "retention": {"keep_last": -1}})
        self._check(result.error == "InvalidInput" and "retention.keep_last" in (result.cause or ""), "bad input")
        self._check(manual["BackupArn"] in _backup_arns(self.home, "orders"), "manual backup survives")

    def _export_and_restore(self) -> None:
        self._title("Export orders to S3 (AUTO: the first export of a table is FULL; PITR turned on as asked)")
        boto3.client("s3", region_name=LOCAL_REGION).create_bucket(Bucket=EXPORT_BUCKET)
        request = {"table": "orders", "bucket": EXPORT_BUCKET, "export_type": "AUTO", "enable_pitr": True}
        result = self._run("export", request)
        self._check(result.succeeded and result.output["export_type"] == "FULL", f"export: {result.cause_message()}")
        self._check(result.output["items"] == 50, f"exported {result.output['items']} items, expected 50")
        export_arn = result.output["export_arn"]

        self._title("Export again at once: under 15 minutes since the last one, so nothing to export")
        result = self._run("export", request)
        self._check(result.succeeded and result.output["status"] == "SKIPPED", "second export was not skipped")

        self._title("Restore the export into a new table keyed on n instead of id (ImportTable)")
        target = {
            "table": "orders-by-n",
            "key_schema": [{"AttributeName": "n", "KeyType": "HASH"}],
            "attribute_definitions": [{"AttributeName": "n", "AttributeType": "N"}],
        }
        result = self._run("restore", {"source": {"export": {"export_arn": export_arn}}, "target": target})
        self._check(result.succeeded, f"restore from export failed: {result.cause_message()}")
        self._check(_scan_all(self.home, "orders-by-n") == _scan_all(self.home, "orders"), "imported items differ")
        self.console.print("compared item for item: 50 items identical under the new key")

        self._title("Disaster: customers is dropped; restore it from its latest scheduled backup under its own name")
        backup = max(
            self.home.list_backups(TableName="customers")["BackupSummaries"],
            key=lambda b: b["BackupCreationDateTime"],
        )
        items = _scan_all(self.home, "customers")
        self.home.delete_table(TableName="customers")
        result = self._run("restore", {"source": {"backup_arn": backup["BackupArn"]}, "target": {"table": "customers"}})
        self._check(result.succeeded, f"restore from backup failed: {result.cause_message()}")
        self._check(_scan_all(self.home, "customers") == items, "restored items differ")
        restored = self.home.describe_table(TableName="customers")["Table"]["TableArn"]
        tags = self.home.list_tags_of_resource(ResourceArn=restored)["Tags"]
        self._check({"Key": "backup", "Value": "daily"} in tags, f"tags not re-applied: {tags}")
        pitr = self.home.describe_continuous_backups(TableName="customers")["ContinuousBackupsDescription"]
        status = pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        self._check(status == "ENABLED", f"PITR not re-applied: {status}")
        self._check(
            result.output["settings_from"].startswith("recorded with the backup"), "settings not from the record"
        )
        self.console.print(f"compared item for item: {len(items)} items identical; tags and PITR back from the record")

        self._title("A restore onto an existing table is refused before anything is touched")
        result = self._run("restore", {"source": {"backup_arn": backup["BackupArn"]}, "target": {"table": "customers"}})
        self._check(result.error == "TargetExists", "restore onto an existing table was not refused")

    def _export_chain(self) -> None:
        self._title("payments' export chain in DynamoDB's real layout: a FULL export, then four hourly windows")
        s3 = boto3.client("s3", region_name=LOCAL_REGION)
        writer = ExportWriter(s3, EXPORT_BUCKET, "ddbkeeper/payments", "payments", key_names=["id"])
        states = _payments_history(windows=4)
        writer.record(writer.full(states[0], CHAIN_START), None, CHAIN_START, items=len(states[0]))
        for hour in range(1, len(states)):
            start, end = CHAIN_START + (hour - 1) * HOUR, CHAIN_START + hour * HOUR
            writer.record(writer.incremental(states[hour - 1], states[hour], start, end), start, end)
        self.console.print(
            "moto writes neither manifests nor change records, so the demo writes them as DynamoDB does: "
            "manifest-summary.json, manifest-files.json with each file's MD5, incremental data files in the shared "
            "AWSDynamoDB/data/ folder, and the export workflow's ledger entries. Items per hour: "
            + ", ".join(str(len(state)) for state in states)
        )

        self._title("Restore payments as of 02:30: the FULL export and the windows up to 02:00, applied in order")
        target = {"table": "payments-0200", "key_schema": ID_KEY, "attribute_definitions": ID_ATTRIBUTE}
        chain = {"table": "payments", "bucket": EXPORT_BUCKET, "prefix": "ddbkeeper/payments"}
        at = CHAIN_START + 2 * HOUR + HOUR / 2
        result = self._run("restore", {"source": {"export_chain": chain, "to": at.isoformat()}, "target": target})
        self._check(result.succeeded, f"restore from the chain failed: {result.cause_message()}")
        self._check(_scan_all(self.home, "payments-0200") == _sorted(states[2]), "the chain's restore differs")
        self._check(result.output["restored_to"] == "2026-09-01T02:00:00Z", f"restored to {result.output}")
        self.console.print(
            f"compared item for item with the table as it was at 02:00: {len(states[2])} items identical "
            "(the exact point restored is the last window's end, 30 minutes before the time asked for)"
        )

        self._title("Undo the last hour in the live table (a table ddbkeeper did not create), from its OldImages")
        _create_table(self.home, "payments", {}, items=0, key="id")
        for item in states[4].values():
            self.home.put_item(TableName="payments", Item=item)
        revert = {"source": {"revert": writer.exports[4]}, "target": {"table": "payments", "existing": True}}
        refused = self._run("restore", revert)
        self._check(refused.error == "InvalidInput", "a revert without confirm_apply was not refused")
        result = self._run("restore", revert | {"confirm_apply": "payments"})
        self._check(result.succeeded, f"revert failed: {result.cause_message()}")
        self._check(_scan_all(self.home, "payments") == _sorted(states[3]), "the revert did not give 03:00 back")
        self.console.print(f"compared item for item with the table as it was at 03:00: {len(states[3])} items")

        self._title("A data file that is not what its manifest says is refused before any item of it is written")
        listed = s3.list_objects_v2(Bucket=EXPORT_BUCKET, Prefix="ddbkeeper/payments/AWSDynamoDB/")["Contents"]
        data = next(o["Key"] for o in listed if "/data/" in o["Key"] and o["Size"] > 40)
        body = s3.get_object(Bucket=EXPORT_BUCKET, Key=data)["Body"].read()
        s3.put_object(Bucket=EXPORT_BUCKET, Key=data, Body=body + b"\n")
        result = self._run(
            "restore", {"source": {"exports": writer.exports}, "target": target | {"table": "payments-x"}}
        )
        self._check(result.error == "VerificationFailed", f"a damaged file was applied: {result.error}")
        s3.put_object(Bucket=EXPORT_BUCKET, Key=data, Body=body)

    def _cross_account_copy(self) -> None:
        self._title(f"Cross-account copy: orders (123456789012) -> orders-replica ({OTHER_ACCOUNT}), 4 segments")
        for start in range(50, 2000, 25):
            batch = [{"PutRequest": {"Item": _order(n)}} for n in range(start, start + 25)]
            self.home.batch_write_item(RequestItems={"orders": batch})
        copy_role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/ddbkeeper-copy-target"
        result = self._run(
            "copy",
            {
                "source": {"table": "orders"},
                "target": {"table": "orders-replica", "role_arn": copy_role, "external_id": "ddbkeeper-demo"},
                "segments": 4,
                "max_write_units": 4000,
                "verify": "checksum",
            },
        )
        self._check(result.succeeded, f"copy failed: {result.cause_message()}")
        source, target = _scan_all(self.home, "orders"), _scan_all(self.other, "orders-replica")
        self._check(len(source) == 2000 and source == target, "the replica differs from the source")
        self.console.print(f"compared item for item: {len(target)} items identical in account {OTHER_ACCOUNT}")

        self._title("Refresh the replica: a recreate backs the old replica up before it drops it")
        replica = {"table": "orders-replica", "role_arn": copy_role, "external_id": "ddbkeeper-demo"}
        recreate = {"mode": "recreate", "confirm_recreate": "orders-replica", "segments": 4, "verify": "count"}
        result = self._run("copy", {"source": {"table": "orders"}, "target": replica, **recreate})
        self._check(result.succeeded, f"recreate failed: {result.cause_message()}")
        backup = result.output["pre_drop_backup"]
        replica_backups = self.other.list_backups(TableName="orders-replica")["BackupSummaries"]
        self._check([b["BackupArn"] for b in replica_backups] == [backup["arn"]], "no backup before the drop")
        self._check(backup.get("record") is not None, f"the backup was not recorded: {backup.get('record_error')}")
        self.console.print(f"the old replica is kept as {backup['name']} in account {OTHER_ACCOUNT}, under retention")

        self._title("An append must name its target: without confirm_append nothing is touched")
        result = self._run("copy", {"source": {"table": "customers"}, "target": {"table": "orders"}, "mode": "append"})
        self._check(result.error == "InvalidInput", "an unconfirmed append was not refused")

        self._title("A copy onto its own source is refused before anything is touched")
        onto_source = {"mode": "append", "confirm_append": "orders"}
        result = self._run("copy", {"source": {"table": "orders"}, "target": {"table": "orders"}, **onto_source})
        self._check(result.error == "UnsafeOperation", "copy onto the source was not refused")

    def _drill_audit_and_catalog(self) -> None:
        self._title("Restore drill: orders and customers restored into scratch tables, verified, measured, deleted")
        result = self._run("drill", {"tables": ["orders", "customers"], "sample_size": 25})
        self._check(result.succeeded, f"drill failed: {result.cause_message()}")
        lines = result.output["tables"]
        self._check(all(line["status"] == "PASSED" and line["scratch_deleted"] for line in lines), "drill lines")
        left = [name for name in self.home.list_tables()["TableNames"] if name.startswith("ddbkeeper-drill-")]
        self._check(left == [], f"scratch tables left: {left}")
        self.console.print("both scratch tables deleted; each table's result recorded for the audit")

        self._title("Protection audit: every table, its verdict and why (ddbkeeper audit)")
        s3 = boto3.client("s3", region_name=LOCAL_REGION)
        auditor = Auditor(
            dynamodb=self.home,
            s3=s3,
            bucket=os.environ["SETTINGS_BUCKET"],
            export_bucket=EXPORT_BUCKET,
            now=datetime.now(UTC),
        )
        coverage = [auditor.audit(name) for name in sorted(self.home.list_tables()["TableNames"])]
        show_audit(self.console, coverage)
        verdicts = {line.table: line.verdict for line in coverage}
        self._check(verdicts["scratch"] == "unprotected", f"scratch should be unprotected: {verdicts}")
        self._check(verdicts["orders"] == "protected", f"orders should be protected: {verdicts}")
        orders = next(line for line in coverage if line.table == "orders")
        self._check(orders.last_drill == "PASSED" and orders.chain_end is not None, "orders' drill or export chain")

        self._title("Catalog: every way to bring orders back, newest first, with the restore input for each")
        points = auditor.points("orders", "orders-back")
        show_points(self.console, "orders", points)
        kinds = {point.kind for point in points}
        self._check(kinds == {"backup", "pitr", "export"}, f"orders' recovery points: {kinds}")
        oldest = next(point for point in reversed(points) if point.restore_input)
        result = self._run("restore", {**(oldest.restore_input or {}), "dry_run": True})
        self._check(result.succeeded and result.output.get("dry_run") is True, "the catalog's input did not plan")

    def _run(self, workflow: str, payload: dict[str, Any]) -> ExecutionResult:
        self.console.print(f"[dim]input: {payload}[/]")
        progress = ExecutionProgress(self.console)
        result = self.runtime.run(
            workflow, payload, on_event=progress, on_poll=progress.poll, on_result=lambda _, r: progress.checkpoint(r)
        )
        show_result(self.console, result)
        return result

    def _title(self, text: str) -> None:
        self.console.print(Rule(f"[bold]{text}", align="left"))

    def _check(self, condition: bool, what: str) -> None:
        if not condition:
            raise DemoCheckFailed(what)


def _point_handlers_at(endpoint: str) -> None:
    """The demo's 'AWS' is the embedded server: point the standard variables at it, as a user would any endpoint."""
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",  # noqa: S106 - moto's fake accounts accept any key
        AWS_DEFAULT_REGION=LOCAL_REGION,
        AWS_REGION=LOCAL_REGION,
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def _assumed_dynamodb(role_arn: str) -> DynamoDBClient:
    credentials = boto3.client("sts", region_name=LOCAL_REGION).assume_role(RoleArn=role_arn, RoleSessionName="demo")
    keys = credentials["Credentials"]
    client: DynamoDBClient = boto3.client(
        "dynamodb",
        region_name=LOCAL_REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    return client


def _create_table(dynamodb: DynamoDBClient, name: str, tags: dict[str, str], items: int, key: str = "id") -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
    )
    for start in range(0, items, 25):
        batch: list[Any] = [
            {"PutRequest": {"Item": {"id": {"S": f"{name}-{n:05d}"}, "n": {"N": str(n)}}}}
            for n in range(start, min(start + 25, items))
        ]
        dynamodb.batch_write_item(RequestItems={name: batch})


def _order(n: int) -> dict[str, Any]:
    return {
        "id": {"S": f"orders-{n:05d}"},
        "n": {"N": str(n)},
        "amount": {"N": f"{n * 7 % 1000}.{n % 100:02d}"},
        "tags": {"SS": ["demo", f"batch-{n % 4}"]},
        "blob": {"B": n.to_bytes(4, "big")},
        "lines": {"L": [{"M": {"sku": {"S": f"sku-{n % 13}"}, "qty": {"N": str(n % 5 + 1)}}}]},
        "note": {"S": "x" * 500},
    }


def _payments_history(windows: int) -> list[dict[str, dict[str, Any]]]:
    """payments at the start and at the end of each hour: each hour pays some, refunds one, adds new ones."""
    table = {f"pay-{n:04d}": _payment(n, 0) for n in range(40)}
    states = [dict(table)]
    for hour in range(1, windows + 1):
        for n in range(hour, 40, 7):  # paid: updated (some of them in several windows)
            key = f"pay-{n:04d}"
            if key in table:
                table[key] = _payment(n, hour)
        table.pop(f"pay-{hour * 3:04d}", None)  # refunded: deleted
        for n in range(40 + hour * 5, 45 + hour * 5):  # new payments: inserted
            table[f"pay-{n:04d}"] = _payment(n, hour)
        states.append(dict(table))
    return states


def _payment(n: int, hour: int) -> dict[str, Any]:
    return {
        "id": {"S": f"pay-{n:04d}"},
        "cents": {"N": str(n * 137 % 10_000)},
        "status": {"S": "PAID" if hour else "NEW"},
        "hour": {"N": str(hour)},
        "card": {"B": n.to_bytes(4, "big")},
        "history": {"L": [{"N": str(h)} for h in range(hour + 1)]},
    }


def _sorted(table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [table[key] for key in sorted(table)]


def _scan_all(dynamodb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return sorted(items, key=lambda item: str(item["id"]["S"]))


def _backup_arns(dynamodb: DynamoDBClient, table: str) -> list[str]:
    return [s["BackupArn"] for s in dynamodb.list_backups(TableName=table)["BackupSummaries"]]


def _backup_names(dynamodb: DynamoDBClient, table: str) -> list[str]:
    return [s["BackupName"] for s in dynamodb.list_backups(TableName=table)["BackupSummaries"]]
