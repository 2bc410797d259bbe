"""The CLI's view of a drill: its report per table, and a dry run's plan (which has tables too, but is no report)."""

from __future__ import annotations

import json

import pytest
from ddbkeeper.cli.report_view import show_result
from ddbkeeper.executions import ExecutionResult
from rich.console import Console

from tests.support import ROOT

pytestmark = pytest.mark.pure


def test_a_drill_report_and_a_drill_plan_print_as_what_they_are() -> None:
    event = json.loads((ROOT / "events" / "drill_report.json").read_text())
    passed = {
        "table": "orders",
        "status": "PASSED",
        "kind": "backup",
        "recovery_point": "2026-11-23T03:00:07Z",
        "backup_arn": event["plan"]["tables"][0]["backup_arn"],
        "scratch_table": "ddbkeeper-drill-orders-x",
        "scratch_deleted": True,
        "items": 12,
        "count_result": "MATCH",
        "sample": event["results"][0]["verification"]["sample"],
        "restore_seconds": 41.5,
        "recovery_point_age_seconds": 7200.0,
        "drilled_at": "2026-11-23T05:02:00Z",
        "execution": "drill-1",
    }
    report = {"status": "PASSED", "tables": [passed], "passed": 1, "failed": 0, "summary": "1 of 1 tables [ok]"}
    plan = {"dry_run": True, "tables": event["plan"]["tables"], "actions": ["orders: restore [x] into y"]}
    console = Console(record=True, width=300)

    show_result(console, ExecutionResult("arn", "SUCCEEDED", report, None, None, 3.0))
    show_result(console, ExecutionResult("arn", "SUCCEEDED", plan, None, None, 1.0))

    text = console.export_text()
    assert "restore drill: 1 of 1 tables [ok]" in text
    assert "12 (MATCH)" in text and "12/12 match" in text and "42 s" in text and "2.0 h" in text
    assert "dry run: nothing was changed" in text and "orders: restore [x] into y" in text
