"""Readable summaries of workflow outputs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ddbkeeper.executions import ExecutionResult


def show_result(console: Console, result: ExecutionResult) -> None:
    style = "green" if result.succeeded else "red"
    console.print(f"[bold {style}]{result.status}[/] in {result.seconds:.1f} s  [dim]{result.arn}[/]")
    if isinstance(result.output, dict) and isinstance(result.output.get("tables"), list):
        console.print(backup_table(result.output))
    if not result.succeeded:
        console.print(f"[red]{result.error}[/]: {result.cause_message()}")


def backup_table(report: dict[str, Any]) -> Table:
    dry_run = report.get("dry_run", False)
    table = Table(title="backup report" + (" (dry run: nothing deleted)" if dry_run else ""), title_justify="left")
    for column in ("table", "status", "backup", "kept", "would delete" if dry_run else "deleted", "note"):
        table.add_column(column)
    for line in report["tables"]:
        removed = line.get("would_delete" if dry_run else "deleted", [])
        note = line.get("cause") or ("reused backup of an earlier attempt" if line.get("reused") else "")
        if line.get("deferred"):
            note = f"{len(line['deferred'])} deletions deferred to the next run (per-run cap)"
        table.add_row(
            line["table"],
            "[green]ok[/]" if line["status"] == "SUCCEEDED" else f"[red]{line.get('error', 'FAILED')}[/]",
            line.get("backup_name", "-"),
            str(line.get("kept", "-")),
            "\n".join(removed) or "-",
            note,
        )
    return table
