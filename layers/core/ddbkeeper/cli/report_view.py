"""Readable summaries of workflow outputs. Anything a request or a service wrote (a cause, an action, a tag, a prefix)
is escaped: rich would read `[...]` in it as markup."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ddbkeeper.cli.progress import duration
from ddbkeeper.executions import ExecutionResult


def show_result(console: Console, result: ExecutionResult) -> None:
    style = "green" if result.succeeded else "red"
    console.print(f"[bold {style}]{result.status}[/] in {result.seconds:.1f} s  [dim]{escape(result.arn)}[/]")
    if isinstance(result.output, dict) and isinstance(result.output.get("tables"), list):
        if "passed" in result.output:
            console.print(drill_table(result.output))
        elif "totals" in result.output:  # a backup's report (a drill's dry-run plan has tables too)
            console.print(backup_table(result.output))
    if (
        isinstance(result.output, dict)
        and isinstance(result.output.get("segments"), list)
        and "totals" in result.output
    ):
        console.print(copy_table(result.output))  # a copy's report (a dry run's plan has segments, no totals)
        for note in copy_notes(result.output):
            console.print(note, soft_wrap=True, highlight=False)
    if isinstance(result.output, dict) and "export_type" in result.output:
        console.print(export_table(result.output))
    if isinstance(result.output, dict) and "verification" in result.output and "kind" in result.output:
        console.print(restore_table(result.output))
    if isinstance(result.output, dict) and result.output.get("dry_run") and result.output.get("actions"):
        show_plan(console, result.output)
    if not result.succeeded:
        console.print(f"[red]{escape(str(result.error))}[/]: {escape(result.cause_message() or '')}")


def show_plan(console: Console, plan: dict[str, Any]) -> None:
    """A dry run's plan: what a real run would do, and for a copy what it would cost each way and which way it takes."""
    console.print("[bold]dry run[/]: nothing was changed; a real run would")
    for action in plan["actions"]:
        console.print(f"  - {escape(str(action))}")
    if isinstance(plan.get("estimate"), dict):
        console.print(estimate_table(plan["estimate"]))
    if isinstance(plan.get("export_estimate"), dict):
        console.print(export_estimate_table(plan["export_estimate"]))
    if plan.get("strategy_reason"):
        strategy = f"strategy {plan.get('strategy')}: {plan['strategy_reason']}"
        console.print(escape(strategy), soft_wrap=True, highlight=False)


def drill_table(report: dict[str, Any]) -> Table:
    """A drill's report: per table, the point restored, the checks, RTO and RPO, and whether the scratch table went."""
    table = Table(title=f"restore drill: {escape(report.get('summary', ''))}", title_justify="left")
    for column in ("table", "result", "restored from", "items", "sample", "RTO", "RPO", "scratch table", "why"):
        table.add_column(column)
    for line in report["tables"]:
        sample = line.get("sample") or {}
        checked = f"{sample['matched']}/{sample['sampled']} match" if sample else "-"
        items = "-" if line.get("items") is None else f"{line['items']:,} ({line.get('count_result')})"
        rto = "-" if line.get("restore_seconds") is None else f"{line['restore_seconds']:,.0f} s"
        age = line.get("recovery_point_age_seconds")
        rpo = "-" if age is None else f"{age / 3600:,.1f} h"
        point = f"{line.get('kind') or '-'} {line.get('recovery_point') or ''}".strip()
        table.add_row(
            escape(line["table"]),
            "[green]passed[/]" if line["status"] == "PASSED" else f"[red]{escape(line.get('error') or 'FAILED')}[/]",
            escape(point),
            items,
            checked,
            rto,
            rpo,
            "deleted" if line.get("scratch_deleted") else f"[red]{escape(line['scratch_table'])} left[/]",
            escape(line.get("cause") or ""),
        )
    return table


def backup_table(report: dict[str, Any]) -> Table:
    dry_run = report.get("dry_run", False)
    table = Table(title="backup report" + (" (dry run: nothing changed)" if dry_run else ""), title_justify="left")
    for column in ("table", "status", "backup", "kept", "would delete" if dry_run else "deleted", "note"):
        table.add_column(column)
    for line in report["tables"]:
        removed = line.get("would_delete" if dry_run else "deleted", [])
        note = line.get("cause") or ("reused backup of an earlier attempt" if line.get("reused") else "")
        if line.get("deferred"):
            note = f"{len(line['deferred'])} deletions deferred to the next run (per-run cap)"
        if line.get("unproven"):
            proof = f"{len(line['unproven'])} named like ours kept: no record proves ddbkeeper made them"
            note = "\n".join(filter(None, [note, proof]))
        if line.get("settings_error"):
            note = "\n".join(filter(None, [note, f"settings not recorded: {line['settings_error']}"]))
        table.add_row(
            line["table"],
            "[green]ok[/]" if line["status"] == "SUCCEEDED" else f"[red]{escape(line.get('error') or 'FAILED')}[/]",
            line.get("backup_name") or "-",
            "-" if line.get("kept") is None else str(line["kept"]),
            "\n".join(removed) or "-",
            escape(note),
        )
    return table


def copy_table(report: dict[str, Any]) -> Table:
    totals = report["totals"]
    verification = report.get("verification", {})
    checked = verification.get("verify", "none")
    appended = verification.get("append")
    if appended:
        matched = f" ({appended['checked']:,} source items read back from the target as written)"
    else:
        matched = f" ({verification.get('items', 0):,} items match)" if checked != "none" else ""
    title = (
        f"copy {report['source']} -> {report['target']} ({report['mode']}): {totals['items']:,} items, "
        f"{totals['bytes'] / 1024**2:,.1f} MiB, verify {checked}{matched}"
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


def copy_notes(report: dict[str, Any]) -> list[str]:
    """What a copy's report says besides its figures: the backup a recreate took before the drop (the way back to the
    old table), what an append left to the target's owner, and its warnings (a source that changed during the copy)."""
    notes = []
    backup = report.get("pre_drop_backup")
    if backup:
        kept = f"recorded at {backup['record']}" if backup.get("record") else f"not recorded: {backup['record_error']}"
        notes.append(f"before the drop, the old table was backed up as {backup['name']} ({backup['status']}; {kept})")
        notes.append(f"  {backup['arn']}")
    if (report.get("finalized") or {}).get("skipped"):
        notes.append(report["finalized"]["skipped"])
    notes.extend(f"warning: {warning}" for warning in report.get("warnings") or [])  # e.g. the source changed meanwhile
    return notes


def estimate_table(estimate: dict[str, Any]) -> Table:
    """A copy plan's cost and time: units, charges, Lambda, state transitions, duration, and what was assumed."""
    verify = estimate.get("verify_read_units", 0)
    about = duration(round(estimate["seconds"]))
    return _facts(
        f"estimate: {_usd(estimate['total_usd'])} and about {about}",
        [
            (
                "source",
                f"{estimate['items']:,} items, {estimate['bytes'] / 1024**2:,.1f} MiB "
                f"(~{estimate['item_bytes']:,.0f} bytes each)",
            ),
            ("reads", f"{estimate['read_units']:,.0f} read units" + (f" + {verify:,.0f} to verify" if verify else "")),
            ("writes", f"{estimate['write_units']:,.0f} write units"),
            (
                "DynamoDB",
                f"{_usd(estimate['dynamodb_usd'])} at each table's billing mode "
                f"(all on-demand {_usd(estimate['on_demand_usd'])}; "
                f"as provisioned unit-hours {_usd(estimate['provisioned_usd'])})",
            ),
            (
                "Lambda",
                f"{_usd(estimate['lambda_usd'])}: {estimate['lambda_gb_seconds']:,.1f} GB-s, "
                f"{estimate['lambda_invocations']:,} invocations",
            ),
            (
                "Step Functions",
                f"{_usd(estimate['step_functions_usd'])}: {estimate['state_transitions']:,} state transitions",
            ),
            (
                "duration",
                f"about {about} at {estimate['write_units_per_second']:,.0f} write units/s "
                f"(set by {estimate['limited_by']})",
            ),
            ("prices", estimate.get("prices")),
            ("assumed", "\n".join(estimate.get("assumptions") or [])),
        ],
    )


def export_estimate_table(estimate: dict[str, Any]) -> Table:
    """The same copy by export (strategy export): the export, the import, S3, the count, and how long."""
    return _facts(
        f"by export: {_usd(estimate['total_usd'])} and about {duration(round(estimate['seconds']))}",
        [
            ("source", f"{estimate['bytes'] / 1024**2:,.1f} MiB exported, then imported"),
            ("export, import", f"{_usd(estimate['export_usd'])} + {_usd(estimate['import_usd'])}"),
            ("S3", _usd(estimate["s3_usd"])),
            ("DynamoDB", f"{_usd(estimate['dynamodb_usd'])}: {estimate['verify_read_units']:,.0f} read units to count"),
            ("Lambda, Step Functions", f"{_usd(estimate['lambda_usd'])} + {_usd(estimate['step_functions_usd'])}"),
            ("assumed", "\n".join(estimate.get("assumptions") or [])),
        ],
    )


def _usd(amount: float) -> str:
    """Dollars: cents for sums worth counting in cents, four decimals below a dollar (a small copy costs little)."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def _facts(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        if value not in (None, "", {}):
            table.add_row(name, escape(str(value)))
    return table


def export_table(report: dict[str, Any]) -> Table:
    window = report.get("window") or {}
    span = f"{window.get('start') or 'snapshot'} -> {window.get('end')}"
    title = f"export of {report['table']}: {report['status'].lower()}"
    if report["status"] == "SKIPPED":
        return _facts(title, [("window", span), ("why", window.get("reason"))])
    return _facts(
        title,
        [
            ("type", f"{report['export_type']} ({window.get('reason')})"),
            ("window", span),
            ("windows", _windows(report.get("exports") or [])),
            ("items", f"{report['items']:,}"),
            ("size", f"{report['bytes'] / 1024**2:,.2f} MiB"),
            ("data", report.get("data")),
            ("export", report.get("export_arn")),
            ("ledger", report.get("ledger")),
        ],
    )


def restore_table(report: dict[str, Any]) -> Table:
    verification = report.get("verification") or {}
    checked = verification.get("result") or "not verified"
    expected = verification.get("expected")
    return _facts(
        f"restore into {report['table']} from {report['kind'].replace('_', ' ')}",
        [
            ("source", report.get("source")),
            ("point in time", report.get("point_in_time")),
            ("restored to", _restored_to(report)),
            ("applied", _applied(report.get("applied"))),
            ("repaired", _repaired(report.get("repaired"))),
            ("scratch table", f"{report['scratch']} (dropped)" if report.get("scratch") else None),
            ("table", report.get("table_arn")),
            ("items", f"{report['items']:,}" if report.get("items") is not None else None),
            ("verified", f"{checked}" + (f" (expected {expected:,})" if expected is not None else "")),
            ("settings", ", ".join(f"{k}={v}" for k, v in (report.get("settings") or {}).items())),
            ("settings from", report.get("settings_from")),
            ("duration", f"{report.get('duration_seconds', 0):,.1f} s"),
        ],
    )


def _restored_to(report: dict[str, Any]) -> str | None:
    """An export chain's exact point, and how far it is before the time asked for."""
    point = report.get("restored_to")
    if point is None:
        return None
    behind = report.get("behind_seconds")
    return point if not behind else f"{point} ({behind:,.0f} s before the time asked for)"


def _applied(applied: dict[str, Any] | None) -> str | None:
    if not applied:
        return None
    return (
        f"{_count(applied.get('exports_applied', 0), 'export')}, "
        f"{_count(applied.get('files', 0), 'data file')} (MD5 checked), "
        f"{applied.get('puts', 0):,} puts, {applied.get('deletes', 0):,} deletes, "
        f"{applied.get('write_units', 0):,.0f} write units, {applied.get('throttles', 0)} throttles"
    ) + (
        f", {applied['conflicts']:,} changed since the window and left as they are" if applied.get("conflicts") else ""
    )


def _repaired(repaired: dict[str, Any] | None) -> str | None:
    if not repaired:
        return None
    line = (
        f"{repaired.get('chosen', 0):,} chosen: {repaired.get('added', 0):,} added, "
        f"{repaired.get('overwritten', 0):,} overwritten, {repaired.get('left', 0):,} left"
    )
    if repaired.get("not_in_source"):
        line += f", {repaired['not_in_source']:,} keys not in the source"
    if repaired.get("conflicts"):
        line += f", {repaired['conflicts']:,} written meanwhile (left)"
    samples = [
        f"{what} {', '.join(_key_text(key) for key in repaired.get(f'sample_{what}') or [])}"
        for what in ("added", "overwritten", "left")
        if repaired.get(f"sample_{what}")
    ]
    return "\n".join([line, *samples])


def _key_text(key: dict[str, Any]) -> str:
    return "/".join(str(next(iter(value.values()))) for value in key.values())


def _count(number: int, what: str) -> str:
    return f"{number:,} {what}" + ("" if number == 1 else "s")


def _windows(exports: list[dict[str, Any]]) -> str | None:
    """A run that caught up a long gap made several exports: list their windows."""
    if len(exports) < 2:  # one export is the window row itself
        return None
    spans = [f"{e['window']['start']} -> {e['window']['end']} ({e['items']:,} items)" for e in exports]
    return f"{len(exports)} exports\n" + "\n".join(spans)
