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
    if isinstance(result.output, dict) and isinstance(result.output.get("segments"), list):
        console.print(copy_table(result.output))
    if isinstance(result.output, dict) and result.output.get("dry_run") and result.output.get("actions"):
        console.print("[bold]dry run[/]: nothing was changed; a real run would")
        for action in result.output["actions"]:
            console.print(f"  - {action}")
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


def copy_table(report: dict[str, Any]) -> Table:
    totals = report["totals"]
    verification = report.get("verification", {})
    checked = verification.get("verify", "none")
    title = (
        f"copy {report['source']} -> {report['target']} ({report['mode']}): {totals['items']:,} items, "
        f"{totals['bytes'] / 1024**2:,.1f} MiB, verify {checked}"
        + (f" ({verification.get('items', 0):,} items match)" if checked != "none" else "")
    )
    table = Table(title=title, title_justify="left")
    columns = ("segment", "items", "MiB", "RCU", "WCU", "throttles", "re-sent", "turns", "seconds")
    for column in columns:
        table.add_column(column, justify="right")
    rows = [*report["segments"], {**totals, "segment": "total", "seconds": totals["segment_seconds"]}]
    for row in rows:
        table.add_row(
            str(row["segment"]),
            f"{row['items']:,}",
            f"{row['bytes'] / 1024**2:,.1f}",
            f"{row['read_units']:,.0f}",
            f"{row['write_units']:,.0f}",
            str(row["throttles"]),
            f"{row['retried_items']:,}",
            str(row["invocations"]),
            f"{row['seconds']:,.1f}",
        )
    return table
