"""`ddbkeeper audit` and `ddbkeeper points`: the coverage of every table, and every way to bring one back."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import boto3
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.coverage import NO_KEYS, Auditor, RecoveryPoint, TableCoverage, audit_all
from ddbkeeper.errors import InvalidInput
from ddbkeeper.selection import all_tables

_VERDICT_STYLE = {"protected": "green", "at risk": "yellow", "unprotected": "red", "unreadable": "magenta"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """What audit and points share: where the tables are, where the stack's bucket is, what the schedule promises."""
    parser.add_argument("--region", help="the tables' region (default: the configured one)")
    parser.add_argument("--role-arn", help="a role to assume in the tables' account (roles/protection-role.yaml)")
    parser.add_argument("--external-id", help="the role's external id")
    parser.add_argument("--bucket", help="the stack's bucket (default: the stack's ExportBucketName output)")
    parser.add_argument("--stack-name", default="ddbkeeper", help="the stack whose bucket holds ledgers and drills")
    parser.add_argument("--export-bucket", help="the exports' bucket, when not the stack's (export requests' bucket)")
    parser.add_argument(
        "--export-bucket-owner", help="the account that owns the exports' bucket (checked on each read)"
    )
    parser.add_argument("--export-prefix", default="ddbkeeper/{table}", help="where the table's exports and ledger are")
    parser.add_argument("--backup-prefix", default="ddbkeeper", help="the stack's BackupNamePrefix")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def auditor(args: argparse.Namespace, console: Console) -> Auditor:
    factory = SessionFactory(session_name="ddbkeeper-cli")
    access = AccountAccess(region=args.region, role_arn=args.role_arn, external_id=args.external_id)
    own = Account(factory, AccountAccess(region=args.region))
    bucket = args.bucket or _stack_bucket(args.stack_name, own)
    if bucket is None:
        console.print(
            f"[yellow]no --bucket and no stack {escape(args.stack_name)} to read it from: "
            "export chains and drills are not read[/]"
        )
    return Auditor(
        dynamodb=Account(factory, access).dynamodb,
        s3=own.s3 if bucket or args.export_bucket else None,
        bucket=bucket,
        now=datetime.now(UTC),
        backup_prefix=args.backup_prefix,
        export_prefix=args.export_prefix,
        export_bucket=args.export_bucket,
        export_bucket_owner=args.export_bucket_owner,
        max_backup_age_hours=getattr(args, "max_backup_age_hours", 26.0),
        protect_tag_key=getattr(args, "protect_tag_key", "backup"),
    )


def _stack_bucket(stack: str, account: Account) -> str | None:
    try:
        cloudformation = boto3.client("cloudformation", region_name=account.region)
        outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except Exception:  # noqa: BLE001 - no stack (or no access to it): the audit goes on without the bucket
        return None
    return next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ExportBucketName"), None)


def run_audit(args: argparse.Namespace, console: Console) -> list[TableCoverage]:
    if args.max_backup_age_hours <= 0:
        raise InvalidInput(f"--max-backup-age-hours: expected a positive number, got {args.max_backup_age_hours}")
    checker = auditor(args, console)
    names = args.table or [name for name in all_tables(checker.dynamodb) if name.startswith(args.prefix or "")]
    return audit_all(checker, names)


def show_audit(console: Console, results: list[TableCoverage]) -> None:
    table = Table(title="protection coverage", title_justify="left")
    for column in (
        "table",
        "verdict",
        "PITR",
        "deletion prot.",
        "ddbkeeper backup",
        "export chain",
        "last drill",
        "why",
    ):
        table.add_column(column)
    for line in results:
        style = _VERDICT_STYLE[line.verdict]
        if line.verdict == "unreadable":
            table.add_row(
                escape(line.table), f"[{style}]{line.verdict}[/]", *["?"] * 5, escape("; ".join(line.reasons))
            )
            continue
        pitr = f"on, {line.pitr_recovery_days} d" if line.pitr else "[red]off[/]"
        backup = "-" if line.backup_age_hours is None else f"{line.backup_age_hours:,.1f} h old"
        chain = line.chain_end or "-"
        if line.chain_gaps:
            chain += f" [red]({len(line.chain_gaps)} gap)[/]"
        drill = f"{line.last_drill} {line.last_drill_at}" if line.last_drill else "never"
        why = "; ".join([*line.reasons, *(f"[dim]{escape(note)}[/]" for note in line.notes)])
        table.add_row(
            escape(line.table),
            f"[{style}]{line.verdict}[/]",
            pitr,
            "on" if line.deletion_protection else "off",
            backup,
            chain,
            escape(drill),
            why,
        )
    console.print(table)
    counts = {verdict: sum(1 for line in results if line.verdict == verdict) for verdict in _VERDICT_STYLE}
    if not counts["unreadable"]:
        del counts["unreadable"]
    console.print(", ".join(f"{count} {verdict}" for verdict, count in counts.items()))


def run_points(args: argparse.Namespace, console: Console) -> list[RecoveryPoint]:
    checker = auditor(args, console)
    return checker.points(args.table_name, args.target or f"{args.table_name}-restored")


def show_points(console: Console, table_name: str, points: list[RecoveryPoint]) -> None:
    if not points:
        console.print(f"[red]{escape(table_name)} has no recovery point[/]: no backup, PITR off, no export")
        return
    table = Table(title=f"recovery points of {escape(table_name)}, newest first", title_justify="left")
    for column in ("data as of", "kind", "what", "ddbkeeper run restore --input"):
        table.add_column(column)
    for point in points:
        restore = f"[dim]{escape(point.note)}[/]"
        if point.restore_input:
            # The note goes with the input when the input needs something more (a gone table's keys).
            restore = escape(json.dumps(point.restore_input)) + (f"\n{restore}" if point.note == NO_KEYS else "")
        table.add_row(point.at, point.kind, escape(point.description), restore)
    console.print(table)
