"""The backup run's report: what each table ended with, in a shape people and dashboards can read."""

from __future__ import annotations

from typing import Any

from ddbkeeper.executions import error_message


def backup_report(results: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
    """Summarise the Map's per-table results (see statemachines/backup.asl.json for their two shapes)."""
    tables = [_table_line(result) for result in results]
    failed = [line for line in tables if line["status"] != "SUCCEEDED"]
    totals = {
        "tables": len(tables),
        "succeeded": len(tables) - len(failed),
        "failed": len(failed),
        "backups_created": sum(1 for line in tables if line.get("backup_arn") and not line.get("reused")),
        "backups_deleted": sum(len(line.get("deleted", [])) for line in tables),
        "backups_would_delete": sum(len(line.get("would_delete", [])) for line in tables),
    }
    return {
        "status": "FAILED" if failed else "SUCCEEDED",
        "dry_run": dry_run,
        "totals": totals,
        "tables": tables,
        "summary": _summary(totals, failed),
    }


def _table_line(result: dict[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = {"table": result["table"], "status": result["status"]}
    backup = result.get("backup") or {}
    if backup:
        line.update(
            backup_arn=backup["arn"],
            backup_name=backup["name"],
            backup_status=backup["status"],
            size_bytes=backup.get("size_bytes"),
            reused=backup.get("reused", False),
            settings=backup.get("settings"),
        )
    retention = result.get("retention") or {}
    if retention:
        line.update(
            kept=retention["kept"],
            deleted=retention["deleted"],
            would_delete=retention["would_delete"],
            deferred=retention["deferred"],
        )
    if result["status"] != "SUCCEEDED":
        line.update(error=result.get("error"), cause=error_message(result.get("cause")))
    return line


def _summary(totals: dict[str, int], failed: list[dict[str, Any]]) -> str:
    text = f"{totals['succeeded']} of {totals['tables']} tables backed up"
    if failed:
        reasons = "; ".join(f"{line['table']}: {line['error']}: {line['cause']}" for line in failed)
        text += f"; failed: {reasons}"
    return text


def copy_report(
    request: Any, segments: list[dict[str, Any]], verification: dict[str, Any] | None, finalized: dict[str, Any] | None
) -> dict[str, Any]:
    """Totals over the segments' final checkpoints, and each segment's own figures."""
    fields = ("items", "bytes", "pages", "read_units", "write_units", "throttles", "retried_items", "invocations")
    totals: dict[str, Any] = {name: sum(segment.get(name, 0) for segment in segments) for name in fields}
    totals["credential_refreshes"] = sum(segment.get("credential_refreshes", 0) for segment in segments)
    totals["segments"] = len(segments)
    totals["segment_seconds"] = round(sum(segment.get("seconds", 0.0) for segment in segments), 3)
    totals["read_units"] = round(totals["read_units"], 1)
    totals["write_units"] = round(totals["write_units"], 1)
    per_segment = [
        {name: segment.get(name) for name in ("segment", *fields, "seconds", "credential_refreshes")}
        for segment in sorted(segments, key=lambda s: int(s.get("segment", 0)))
    ]
    return {
        "status": "SUCCEEDED",
        "source": request.source.table,
        "target": request.target.table,
        "mode": request.mode,
        "totals": totals,
        "verification": verification or {"verify": "none"},
        "finalized": finalized or {},
        "segments": per_segment,
    }
