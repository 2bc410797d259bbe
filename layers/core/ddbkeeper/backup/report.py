"""The backup run's report: what each table ended with, in a shape people and dashboards can read (pure)."""

from __future__ import annotations

from ddbkeeper.backup.models import BackupReport, BackupTotals, ReportLine, TableResult
from ddbkeeper.executions import error_message


def backup_report(results: list[TableResult], dry_run: bool) -> BackupReport:
    """Summarise the Map's per-table results."""
    lines = [_line(result) for result in results]
    failed = [line for line in lines if line.status != "SUCCEEDED"]
    planned = [line for line in lines if line.backup_status == "PLANNED"]
    totals = BackupTotals(
        tables=len(lines),
        succeeded=len(lines) - len(failed),
        failed=len(failed),
        backups_created=sum(1 for line in lines if line.backup_arn and not line.reused),
        backups_would_create=len(planned),
        backups_deleted=sum(len(line.deleted) for line in lines),
        backups_would_delete=sum(len(line.would_delete) for line in lines),
    )
    return BackupReport(
        status="FAILED" if failed else "SUCCEEDED",
        dry_run=dry_run,
        totals=totals,
        tables=lines,
        summary=_summary(totals, failed, dry_run),
    )


def _line(result: TableResult) -> ReportLine:
    line = ReportLine(table=result.table, status=result.status)
    if result.backup is not None:
        backup = result.backup
        line = line.model_copy(
            update={
                "backup_arn": backup.arn,
                "backup_name": backup.name,
                "backup_status": backup.status,
                "size_bytes": backup.size_bytes,
                "reused": backup.reused,
                "settings": backup.settings,
                "settings_error": backup.settings_error,
            }
        )
    if result.retention is not None:
        retention = result.retention
        line = line.model_copy(
            update={
                "kept": retention.kept,
                "deleted": retention.deleted,
                "would_delete": retention.would_delete,
                "deferred": retention.deferred,
                "unproven": retention.unproven,
            }
        )
    if result.status != "SUCCEEDED":
        line = line.model_copy(update={"error": result.error, "cause": error_message(result.cause)})
    return line


def _summary(totals: BackupTotals, failed: list[ReportLine], dry_run: bool) -> str:
    if dry_run:
        text = f"dry run: {totals.backups_would_create} of {totals.tables} tables would be backed up"
    else:
        text = f"{totals.succeeded} of {totals.tables} tables backed up"
    if failed:
        reasons = "; ".join(f"{line.table}: {line.error}: {line.cause}" for line in failed)
        text += f"; failed: {reasons}"
    return text
