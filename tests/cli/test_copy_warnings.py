"""The CLI prints a copy report's warnings (a source that changed during the copy) under its figures."""

from __future__ import annotations

import pytest
from ddbkeeper.cli.report_view import copy_notes, show_result
from ddbkeeper.copy.models import CopyRequest, FinalSettings, SegmentCheckpoint, Verification
from ddbkeeper.copy.report import copy_report
from ddbkeeper.executions import ExecutionResult
from ddbkeeper.models import parse
from rich.console import Console

pytestmark = pytest.mark.pure

WARNING = "the source changed during the copy: in 1 segment(s) (0) the copy read 5 items and the source has 6 now"


def test_the_reports_warnings_are_printed() -> None:
    request = parse(CopyRequest, {"source": {"table": "orders"}, "target": {"table": "orders-copy"}})
    segments = [SegmentCheckpoint(segment=0, total_segments=1, items=5, pages=1, done=True)]
    verification = Verification(verify="count", items=6, warnings=[WARNING])
    report = copy_report(request, segments, verification, FinalSettings()).model_dump(mode="json")
    console = Console(record=True, width=300)

    show_result(console, ExecutionResult("arn", "SUCCEEDED", report, None, None, 1.0))

    assert report["warnings"] == [WARNING]
    assert copy_notes(report) == [f"warning: {WARNING}"]
    assert f"warning: {WARNING}" in console.export_text()
