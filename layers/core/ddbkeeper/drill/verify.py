"""The drill's decisions, pure: the scratch table's name, which recovery point a table is drilled from, the sample
check's verdict, RTO and RPO, and the report. No AWS here."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Protocol

from ddbkeeper.clock import iso
from ddbkeeper.coverage import ChainPoint, chain_state
from ddbkeeper.drill.models import (
    DrillLine,
    DrillReport,
    DrillTableResult,
    DrillTarget,
    RecoveryKind,
    SampleCheck,
)
from ddbkeeper.errors import VerificationFailed
from ddbkeeper.executions import error_message
from ddbkeeper.export_chain import ChainPick, pick
from ddbkeeper.export_files import ChainEntry
from ddbkeeper.recovery import BackupPoint, PitrWindow
from ddbkeeper.wire import WireItem, item_digest, key_id

TABLE_NAME_MAX = 255


def scratch_name(prefix: str, table: str, stamp: str) -> str:
    """<prefix>-<table>-<execution stamp>: unique per run, recognisably the drill's, within DynamoDB's 255 characters
    (a long table name is shortened and a hash of it keeps two such names apart)."""
    name = f"{prefix}-{table}-{stamp}"
    if len(name) <= TABLE_NAME_MAX:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    room = TABLE_NAME_MAX - len(prefix) - len(stamp) - len(digest) - 3
    return f"{prefix}-{table[:room]}{digest}-{stamp}"


def wants_chain(source: str, backup: BackupPoint | None, pitr: PitrWindow) -> bool:
    """Whether the export chain is read at all: asked for, or `auto` with neither a backup nor PITR to drill."""
    return source == "export_chain" or (source == "auto" and backup is None and not pitr.enabled)


def choose_point(
    source: str,
    backup: BackupPoint | None,
    pitr: PitrWindow,
    chain: ChainPick | None = None,
    no_chain: str = "no export chain",
) -> tuple[RecoveryKind | None, BackupPoint | None, datetime | None, str | None]:
    """(kind, backup, the point's time, problem): the newest backup, PITR's latest restorable moment, or the export
    chain's newest reachable window end, as asked; `auto` takes them in that order. `no_chain` says why there is no
    chain to drill (no bucket, no ledger, no FULL export)."""
    use_backup = source in ("auto", "backup") and backup is not None
    if use_backup:
        assert backup is not None
        return "backup", backup, backup.created, None
    if source in ("auto", "point_in_time") and pitr.enabled:
        return "point_in_time", None, pitr.latest, None
    if source in ("auto", "export_chain") and chain is not None:
        return "export_chain", None, chain.point, None
    wanted = {
        "auto": f"no AVAILABLE backup and point-in-time recovery is off, and {no_chain}",
        "backup": "no AVAILABLE backup",
        "point_in_time": "point-in-time recovery is off",
        "export_chain": no_chain,
    }[source]
    return None, None, None, f"nothing to restore from: {wanted}"


def reachable_chain(entries: list[ChainEntry], table_arn: str | None) -> tuple[ChainPick | None, str]:
    """The chain a drill restores: from the newest FULL export, every incremental up to the first gap (the audit's
    chain_state decides the reachable end, the restore's `pick` the exports that reach it). (None, why) when there is
    nothing to drill; else (the pick, a note: empty, or the gap the drill stops before)."""
    mine = [entry for entry in entries if table_arn is None or entry.table_arn == table_arn]
    end, gaps = chain_state([ChainPoint.of(entry) for entry in mine])
    if end is None:
        return None, gaps[0] if gaps else "the ledger records no export"
    picked = pick(mine, end.end, field="export chain")
    note = ""
    if gaps:
        later = max(entry.end for entry in mine)
        note = (
            f"the export chain has a {gaps[0]}: drilled up to {iso(picked.point)}, the last point reachable from its "
            f"FULL export; the {len(gaps)} gap(s) leave the points up to {iso(later)} unrestorable"
        )
    return picked, note


def sample_check(source: list[WireItem], scratch: dict[bytes, WireItem], key_of: list[str]) -> SampleCheck:
    """Hold the source's sampled items against the scratch table's items of the same keys."""
    matched = missing = different = 0
    source_digest = scratch_digest = 0
    for item in source:
        source_digest = (source_digest + item_digest(item)) % 2**256
        found = scratch.get(key_id(item, key_of))
        if found is None:
            missing += 1
            continue
        scratch_digest = (scratch_digest + item_digest(found)) % 2**256
        if item_digest(found) == item_digest(item):
            matched += 1
        else:
            different += 1
    return SampleCheck(
        sampled=len(source),
        matched=matched,
        missing=missing,
        different=different,
        source_digest=f"{source_digest:064x}",
        scratch_digest=f"{scratch_digest:064x}",
    )


def judge(
    scratch: str,
    items: int,
    *,
    expected: int | None,
    sample: SampleCheck,
    max_mismatch_percent: float,
    age_seconds: float | None,
    max_age_hours: float | None,
) -> None:
    """Fail the drill (VerificationFailed, naming the numbers) when the scratch table is not what the point holds:
    its count off the backup's by more than the tolerance, too many sampled items missing or different (items changed
    since the point count too: set the tolerance to the table's churn), or the point older than allowed (RPO)."""
    problems = []
    if expected is not None and abs(items - expected) > expected * max_mismatch_percent / 100:
        problems.append(f"{items:,} items, the backup recorded {expected:,} (tolerance {max_mismatch_percent:g}%)")
    off = sample.missing + sample.different
    if sample.sampled and off * 100 > sample.sampled * max_mismatch_percent:
        problems.append(
            f"{off} of {sample.sampled} sampled source items missing ({sample.missing}) or different "
            f"({sample.different}) in the scratch table (tolerance {max_mismatch_percent:g}%)"
        )
    if max_age_hours is not None and age_seconds is not None and age_seconds > max_age_hours * 3600:
        problems.append(
            f"the recovery point is {age_seconds / 3600:,.1f} h old, more than the {max_age_hours:g} h allowed (RPO)"
        )
    if problems:
        raise VerificationFailed(f"{scratch}: " + "; ".join(problems))


def drill_line(target: DrillTarget, result: DrillTableResult, drilled_at: datetime, execution: str) -> DrillLine:
    """One table's outcome: PASSED only when it was verified and its scratch table is gone."""
    verification = result.verification
    deleted = result.cleanup is not None and result.cleanup.status in ("DELETED", "GONE")
    error, cause = None, None
    if result.failure is not None and result.failure.error:
        error, cause = result.failure.error, error_message(result.failure.cause)
    if result.error:  # the clean-up itself failed: the original failure, if any, stays the table's error
        why = f"{result.error.get('Error')}: {error_message(result.error.get('Cause'))}"
        error = error or str(result.error.get("Error"))
        cause = "; ".join(filter(None, [cause, f"the scratch table {target.scratch_table} was not deleted: {why}"]))
    elif not deleted:
        error = error or "CleanupIncomplete"
        cause = "; ".join(filter(None, [cause, f"the scratch table {target.scratch_table} was not deleted in time"]))
    passed = verification is not None and error is None and deleted
    return DrillLine(
        table=target.table,
        status="PASSED" if passed else "FAILED",
        kind=target.kind,
        recovery_point=target.recovery_point,
        backup_arn=target.backup_arn,
        note=target.note,
        scratch_table=target.scratch_table,
        scratch_deleted=deleted,
        items=verification.items if verification else None,
        expected_items=verification.expected_items if verification else target.expected_items,
        count_result=verification.count_result if verification else None,
        sample=verification.sample if verification else None,
        restore_seconds=result.restore.restore_seconds if result.restore else None,
        recovery_point_age_seconds=verification.recovery_point_age_seconds if verification else None,
        error=error,
        cause=cause,
        drilled_at=str(iso(drilled_at.replace(microsecond=0))),
        execution=execution,
    )


def drill_report(lines: list[DrillLine], recorded: list[str]) -> DrillReport:
    failed = [line for line in lines if line.status != "PASSED"]
    text = f"{len(lines) - len(failed)} of {len(lines)} tables restored, verified and cleaned up"
    if failed:
        text += "; failed: " + "; ".join(f"{line.table}: {line.error}: {line.cause}" for line in failed)
    return DrillReport(
        status="FAILED" if failed else "PASSED",
        tables=lines,
        passed=len(lines) - len(failed),
        failed=len(failed),
        recorded=recorded,
        summary=text,
    )


def plan_actions(targets: list[DrillTarget], tolerance: float) -> list[str]:
    lines = []
    for target in targets:
        if target.problem:
            lines.append(f"{target.table}: {target.problem} (the drill fails for it)")
            continue
        if target.kind == "export_chain":
            incrementals = target.chain.exports - 1 if target.chain else 0
            point = (
                f"its export chain to the window end {target.recovery_point} (the FULL export and {incrementals} "
                "incremental exports, each data file MD5-checked, applied in order)"
            )
        elif target.kind == "backup":
            point = f"{target.backup_arn} ({target.recovery_point})"
        else:
            point = f"its latest restorable moment (PITR) ({target.recovery_point})"
        line = (
            f"{target.table}: restore {point} into {target.scratch_table}, verify "
            f"(count, sampled keys; tolerance {tolerance:g}%), then delete {target.scratch_table}"
        )
        lines.append(f"{line}; {target.note}" if target.note else line)
    return lines


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


def publish(metrics: MetricSink, report: DrillReport) -> None:
    """One value per table: DrillSucceeded (1 or 0), RestoreSeconds (RTO), RecoveryPointAgeSeconds (RPO)."""
    for line in report.tables:
        metrics.add_metric(name="DrillSucceeded", unit="Count", value=1 if line.status == "PASSED" else 0)
        if line.restore_seconds is not None:
            metrics.add_metric(name="RestoreSeconds", unit="Seconds", value=line.restore_seconds)
        if line.recovery_point_age_seconds is not None:
            metrics.add_metric(name="RecoveryPointAgeSeconds", unit="Seconds", value=line.recovery_point_age_seconds)
