"""Protection coverage and the catalog of recovery points: what protects a table, how well, and every way back.

Shared by `ddbkeeper audit` and `ddbkeeper points` (and the scheduled audit): it reads what the workflows leave behind
(backups, the PITR window, the export ledger, the drills' records) and judges it. The verdict is a pure decision.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from ddbkeeper.backup_names import own_backup_pattern
from ddbkeeper.clock import iso
from ddbkeeper.drills import DrillRecord, DrillRecords
from ddbkeeper.errors import DdbkeeperError, TableNotFound
from ddbkeeper.export_files import ChainEntry, ExportLocation, read_ledger
from ddbkeeper.recovery import BackupPoint, PitrWindow, backups_of, pitr_window
from ddbkeeper.settings import tags_of
from ddbkeeper.tables import describe, pitr_description

if TYPE_CHECKING:
    import re

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef
    from mypy_boto3_s3 import S3Client

Verdict = Literal["protected", "at risk", "unprotected"]


# --- the export chain, as the ledger records it ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainPoint:
    """One completed export of the table: a FULL snapshot at `end`, or the changes from `start` to `end`."""

    export_arn: str
    export_type: str  # FULL or INCREMENTAL
    end: datetime
    start: datetime | None
    items: int = 0

    @classmethod
    def of(cls, entry: ChainEntry) -> ChainPoint:
        return cls(entry.export_arn, entry.export_type, entry.end, entry.start, entry.items)


def chain_points(s3: S3Client, location: ExportLocation, table: str, table_arn: str | None) -> list[ChainPoint]:
    """The table's completed exports from its ledger (export_files.read_ledger, the one reader), oldest first; with a
    `table_arn`, the entries of another table of that name are left out."""
    entries = read_ledger(s3, location, table)
    return [ChainPoint.of(entry) for entry in entries if table_arn is None or entry.table_arn == table_arn]


def chain_state(points: list[ChainPoint]) -> tuple[ChainPoint | None, list[str]]:
    """The newest point reachable from the last FULL export without crossing a gap, and every gap after that FULL
    (an incremental export that does not start where the one before it ended: what lies between is lost)."""
    fulls = [n for n, point in enumerate(points) if point.export_type == "FULL"]
    if not fulls:
        return None, ["no FULL export: an incremental chain has nothing to start from"] if points else []
    chain = points[fulls[-1] :]
    reachable = chain[0]
    gaps: list[str] = []
    for before, point in itertools.pairwise(chain):
        if point.start != before.end:
            export_id = point.export_arn.rsplit("/", 1)[-1]
            gaps.append(f"gap from {iso(before.end)} to {iso(point.start)} (before export {export_id})")
        elif not gaps:
            reachable = point
    return reachable, gaps


# --- the audit -------------------------------------------------------------------------------------------------------


class TableCoverage(BaseModel):
    """One table's protection, as `ddbkeeper audit --json` prints it."""

    table: str
    verdict: Verdict | Literal["unreadable"]
    reasons: list[str]  # what makes it at risk or unprotected, or why it could not be read
    notes: list[str]  # worth knowing, not a risk on its own
    tagged_for_protection: bool | None  # None: unknown (unreadable)
    pitr: bool | None
    pitr_recovery_days: int | None = None
    pitr_earliest: str | None = None
    pitr_latest: str | None = None
    deletion_protection: bool | None
    newest_ddbkeeper_backup: str | None = None
    newest_ddbkeeper_backup_at: str | None = None
    backup_age_hours: float | None = None
    max_backup_age_hours: float
    other_backups: int = 0
    chain_end: str | None = None  # the newest export-chain point reachable without a gap
    chain_gaps: list[str] = []
    last_drill: str | None = None  # PASSED / FAILED
    last_drill_at: str | None = None
    last_drill_cause: str | None = None

    @classmethod
    def unreadable(cls, table: str, error: DdbkeeperError, max_backup_age_hours: float) -> TableCoverage:
        """A table the audit could not read: a line of its own that says why, its protection unknown."""
        return cls(
            table=table,
            verdict="unreadable",
            reasons=[f"could not be read: {type(error).__name__}: {error}"],
            notes=[],
            tagged_for_protection=None,
            pitr=None,
            deletion_protection=None,
            max_backup_age_hours=max_backup_age_hours,
        )


def audit_all(auditor: Auditor, names: Iterable[str]) -> list[TableCoverage]:
    """Every table judged, in order; one that cannot be read (dropped between ListTables and DescribeTable, access
    refused, its ledger unreadable) is an `unreadable` line saying why and does not hide the others. What is worth
    another try (throttling, a 5xx) is raised: the workflow retries the step, the CLI says so."""
    lines = []
    for name in names:
        try:
            lines.append(auditor.audit(name))
        except DdbkeeperError as error:
            if error.retryable:
                raise
            lines.append(TableCoverage.unreadable(name, error, auditor.max_backup_age_hours))
    return lines


def judge(
    *,
    pitr: bool,
    own_backup_age_hours: float | None,
    other_backups: int,
    max_backup_age_hours: float,
    chain_end: datetime | None,
    chain_gaps: list[str],
    deletion_protection: bool,
    last_drill: DrillRecord | None,
) -> tuple[Verdict, list[str], list[str]]:
    """protected / at risk / unprotected, and why. Unprotected: no way back at all (no PITR, no backup, no export
    point). At risk: a way back, but PITR off, no ddbkeeper backup within the schedule, a gap in the export chain, or
    the last drill failed. Deletion protection off and a table never drilled are noted, not judged."""
    reasons: list[str] = []
    notes: list[str] = []
    if not pitr and own_backup_age_hours is None and not other_backups and chain_end is None:
        return "unprotected", ["no way back: point-in-time recovery off, no backup, no export"], notes
    if not pitr:
        reasons.append("point-in-time recovery is off: nothing covers the time between backups")
    if own_backup_age_hours is None:
        reasons.append("no ddbkeeper backup" + (f" ({other_backups} made by others)" if other_backups else ""))
    elif own_backup_age_hours > max_backup_age_hours:
        reasons.append(
            f"the newest ddbkeeper backup is {own_backup_age_hours:,.1f} h old, past the schedule's "
            f"{max_backup_age_hours:g} h"
        )
    if chain_gaps:
        reasons.append("the export chain has a gap: " + "; ".join(chain_gaps))
    if last_drill is None:
        notes.append("never drilled")
    elif last_drill.status != "PASSED":
        reasons.append(f"the last drill ({last_drill.drilled_at}) failed: {last_drill.error}: {last_drill.cause}")
    if not deletion_protection:
        notes.append("deletion protection is off")
    return ("at risk" if reasons else "protected"), reasons, notes


@dataclass
class Auditor:
    """Reads one account and region's tables (through `dynamodb`) and the stack's bucket (through `s3`)."""

    dynamodb: DynamoDBClient
    s3: S3Client | None
    bucket: str | None
    now: datetime
    backup_prefix: str = "ddbkeeper"
    export_prefix: str = "ddbkeeper/{table}"
    max_backup_age_hours: float = 26.0
    protect_tag_key: str = "backup"
    export_bucket: str | None = None  # where the exports and their ledger are, when not in the stack's bucket
    export_bucket_owner: str | None = None  # the account that owns it: never read a bucket someone else has taken

    def audit(self, name: str) -> TableCoverage:
        table = self._describe(name)
        pitr = pitr_window(pitr_description(self.dynamodb, name))
        backups = [b for b in backups_of(self.dynamodb, name) if b.available]
        pattern = own_backup_pattern(self.backup_prefix, name)
        own = next((b for b in backups if pattern.match(b.name)), None)
        others = [b for b in backups if not pattern.match(b.name)]
        age = (self.now - own.created).total_seconds() / 3600 if own else None
        end, gaps = chain_state(self._chain(name, table["TableArn"]))
        drill = self._last_drill(table["TableArn"])
        tags = tags_of(self.dynamodb, table["TableArn"])
        deletion_protection = bool(table.get("DeletionProtectionEnabled"))
        verdict, reasons, notes = judge(
            pitr=pitr.enabled,
            own_backup_age_hours=age,
            other_backups=len(others),
            max_backup_age_hours=self.max_backup_age_hours,
            chain_end=end.end if end else None,
            chain_gaps=gaps,
            deletion_protection=deletion_protection,
            last_drill=drill,
        )
        if self.s3 is None:
            notes.append("the stack's bucket was not read: export chain and drills unknown")
        return TableCoverage(
            table=name,
            verdict=verdict,
            reasons=reasons,
            notes=notes,
            tagged_for_protection=self.protect_tag_key in tags,
            pitr=pitr.enabled,
            pitr_recovery_days=pitr.recovery_period_days,
            pitr_earliest=iso(pitr.earliest),
            pitr_latest=iso(pitr.latest),
            deletion_protection=deletion_protection,
            newest_ddbkeeper_backup=own.name if own else None,
            newest_ddbkeeper_backup_at=iso(own.created) if own else None,
            backup_age_hours=round(age, 4) if age is not None else None,
            max_backup_age_hours=self.max_backup_age_hours,
            other_backups=len(others),
            chain_end=iso(end.end) if end else None,
            chain_gaps=gaps,
            last_drill=drill.status if drill else None,
            last_drill_at=drill.drilled_at if drill else None,
            last_drill_cause=drill.cause if drill else None,
        )

    def _describe(self, name: str) -> TableDescriptionTypeDef:
        table = describe(self.dynamodb, name)
        if table is None:
            raise TableNotFound(f"table: {name} does not exist")
        return table

    def _exports(self, name: str) -> ExportLocation | None:
        """Where the table's exports and their ledger are, if the auditor reads a bucket at all."""
        bucket = self.export_bucket or self.bucket
        if self.s3 is None or bucket is None:
            return None
        return ExportLocation(bucket, self.export_prefix.format(table=name), self.export_bucket_owner)

    def _chain(self, name: str, table_arn: str | None) -> list[ChainPoint]:
        location = self._exports(name)
        if self.s3 is None or location is None:
            return []
        return chain_points(self.s3, location, name, table_arn)

    def _last_drill(self, table_arn: str) -> DrillRecord | None:
        if self.s3 is None or self.bucket is None:
            return None
        return DrillRecords(self.s3, self.bucket).last(table_arn)

    # --- the catalog -------------------------------------------------------------------------------------------------

    def points(self, name: str, target: str) -> list[RecoveryPoint]:
        """Every way to bring the table back, newest first, each with the `ddbkeeper run restore` input that does it."""
        table = describe(self.dynamodb, name)
        pattern = own_backup_pattern(self.backup_prefix, name)
        found = [
            _backup_point(backup, target, pattern) for backup in backups_of(self.dynamodb, name) if backup.available
        ]
        if table is not None:
            found += _pitr_points(name, pitr_window(pitr_description(self.dynamodb, name)), target)
        location = self._exports(name)
        if location is not None:
            chain: dict[str, Any] = {"table": name, "bucket": location.bucket, "prefix": location.prefix}
            if location.owner:
                chain["bucket_owner"] = location.owner
            if table is not None:
                schema = [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in table["KeySchema"]]
                keys = {"key_schema": schema, "attribute_definitions": _key_definitions(table)}
                found += _chain_points(self._chain(name, table["TableArn"]), chain, target, keys)
            else:
                # A dropped table is when its chain matters most (older than PITR's 35 days); every entry of the name
                # is read. Neither the ledger nor DynamoDB's manifests record the table's keys: the restore needs them.
                found += _chain_points(self._chain(name, None), chain, target, None)
        return sorted(found, key=lambda point: point.at, reverse=True)


class RecoveryPoint(BaseModel):
    """One way back, as `ddbkeeper points --json` prints it."""

    kind: Literal["backup", "pitr", "export"]
    at: str  # ISO time of the data it holds
    description: str
    restore_input: dict[str, Any] | None  # `ddbkeeper run restore --input` for it; None: no restore takes it yet
    note: str = ""


def _backup_point(backup: BackupPoint, target: str, own: re.Pattern[str]) -> RecoveryPoint:
    """`own`: the names ddbkeeper gives its backups of the table (backup_names.own_backup_pattern), as the audit."""
    made = "ddbkeeper" if own.match(backup.name) else backup.kind.lower().replace("_", " ")
    return RecoveryPoint(
        kind="backup",
        at=str(iso(backup.created)),
        description=f"backup {backup.name} ({made})",
        restore_input={"source": {"backup_arn": backup.arn}, "target": {"table": target}},
    )


def _pitr_points(name: str, pitr: PitrWindow, target: str) -> list[RecoveryPoint]:
    if not pitr.enabled:
        return []
    window = f"any second from {iso(pitr.earliest)} to {iso(pitr.latest)} ({pitr.recovery_period_days} days kept)"
    latest = RecoveryPoint(
        kind="pitr",
        at=str(iso(pitr.latest)),
        description=f"point in time, latest ({window})",
        restore_input={"source": {"table": name, "point_in_time": "latest"}, "target": {"table": target}},
    )
    if pitr.earliest is None or pitr.earliest == pitr.latest:
        return [latest]
    earliest = RecoveryPoint(
        kind="pitr",
        at=str(iso(pitr.earliest)),
        description="point in time, earliest (or any moment after it: change point_in_time)",
        restore_input={
            "source": {"table": name, "point_in_time": iso(pitr.earliest + timedelta(seconds=1))},
            "target": {"table": target},
        },
    )
    return [latest, earliest]


NO_KEYS = (
    "the table is gone and neither the ledger nor the export's manifests record its keys: add target.key_schema and "
    "target.attribute_definitions (the table's key attributes and their types) to this input"
)


def _chain_points(
    points: list[ChainPoint], chain: dict[str, Any], target: str, keys: dict[str, Any] | None
) -> list[RecoveryPoint]:
    """Each export of the chain as a point to restore to: the restore from the export chain takes the newest FULL
    export at or before it, then every incremental after it in order, so a point is reachable when no gap lies between
    that FULL export and it (one after a gap, or before any FULL, is listed without an input, and says why).

    `keys` None: the table is gone. Every point then goes through the chain (it reads only the bucket, where an import
    by export ARN needs DescribeExport to still know the export), its input without keys and a note asking for them."""
    found = []
    full: ChainPoint | None = None
    gap: str | None = None
    before: ChainPoint | None = None
    for point in points:
        export_id = point.export_arn.rsplit("/", 1)[-1]
        if point.export_type == "FULL":
            full, gap = point, None
            description = f"FULL export {export_id} ({point.items:,} items)"
        else:
            description = f"INCREMENTAL export {export_id} ({iso(point.start)} to {iso(point.end)})"
            if full is None:
                gap = "no FULL export before it"
            elif gap is None and before is not None and point.start != before.end:
                gap = f"a gap in the chain from {iso(before.end)} to {iso(point.start)}"
        before = point
        # A FULL export of a table still there restores on its own (ImportTable); a window's end through the chain.
        imported = point.export_type == "FULL" and keys is not None
        source = (
            {"export": {"export_arn": point.export_arn}} if imported else {"export_chain": chain, "to": iso(point.end)}
        )
        restore = {"source": source, "target": {"table": target, **(keys or {})}}
        if gap:
            note = f"not reachable: {gap}"
        elif keys is None:
            note = NO_KEYS
        else:
            note = "an import of this FULL export" if imported else "the export chain to this window's end"
        found.append(
            RecoveryPoint(
                kind="export",
                at=str(iso(point.end)),
                description=description,
                restore_input=None if gap else restore,
                note=note,
            )
        )
    return found


def _key_definitions(table: TableDescriptionTypeDef) -> list[dict[str, str]]:
    keys = {k["AttributeName"] for k in table["KeySchema"]}
    return [
        {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
        for a in table.get("AttributeDefinitions", [])
        if a["AttributeName"] in keys
    ]
