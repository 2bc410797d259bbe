"""The copy's report: totals over the segments' final checkpoints, and each segment's own figures."""

from __future__ import annotations

from ddbkeeper.copy.models import (
    CopyReport,
    CopyRequest,
    CopyTotals,
    ExportCopyState,
    ExportCopySummary,
    FinalSettings,
    PreDropBackup,
    SegmentCheckpoint,
    SegmentFigures,
    Verification,
)


def copy_report(
    request: CopyRequest,
    segments: list[SegmentCheckpoint],
    verification: Verification,
    finalized: FinalSettings,
    *,
    pre_drop_backup: PreDropBackup | None = None,
    byexport: ExportCopyState | None = None,
) -> CopyReport:
    totals = CopyTotals(
        items=sum(s.items for s in segments),
        bytes=sum(s.bytes for s in segments),
        pages=sum(s.pages for s in segments),
        read_units=round(sum(s.read_units for s in segments), 1),
        write_units=round(sum(s.write_units for s in segments), 1),
        throttles=sum(s.throttles for s in segments),
        retried_items=sum(s.retried_items for s in segments),
        invocations=sum(s.invocations for s in segments),
        credential_refreshes=sum(s.credential_refreshes for s in segments),
        segments=len(segments),
        segment_seconds=round(sum(s.seconds for s in segments), 3),
    )
    if byexport is not None:
        return _by_export(
            request,
            verification=verification,
            finalized=finalized,
            state=byexport,
            totals=totals,
            pre_drop_backup=pre_drop_backup,
        )
    return CopyReport(
        status="SUCCEEDED",
        source=request.source.table,
        target=request.target.table,
        mode=request.mode,
        totals=totals,
        verification=verification,
        finalized=finalized,
        segments=[
            SegmentFigures.model_validate(s.model_dump(include=set(SegmentFigures.model_fields)))
            for s in sorted(segments, key=lambda s: s.segment)
        ],
        pre_drop_backup=pre_drop_backup,
        warnings=verification.warnings,
    )


def _by_export(
    request: CopyRequest,
    *,
    verification: Verification,
    finalized: FinalSettings,
    state: ExportCopyState,
    totals: CopyTotals,
    pre_drop_backup: PreDropBackup | None,
) -> CopyReport:
    """A copy by export's report: the point in time the target holds, and what each export brought."""
    assert state.point is not None  # a copy by export that reached its report has imported its FULL export
    applied = state.apply
    summary = ExportCopySummary(
        point_in_time=state.point,
        snapshot=(
            "the target holds the source as it was at point_in_time: a consistent snapshot (every item as of that "
            "one moment), unlike a Scan copy; writes to the source after it are not in the target"
        ),
        exports=state.exports,
        imported_items=state.imported_items,
        puts=applied.puts,
        deletes=applied.deletes,
        write_units=applied.write_units,
        expected_items=state.expected,
    )
    return CopyReport(
        status="SUCCEEDED",
        source=request.source.table,
        target=request.target.table,
        mode=request.mode,
        totals=totals.model_copy(
            update={
                "items": state.counted,
                "write_units": round(applied.write_units, 1),
                "throttles": applied.throttles,
                "retried_items": applied.retried_items,
                "invocations": state.polls,
            }
        ),
        verification=verification,
        finalized=finalized,
        segments=[],
        pre_drop_backup=pre_drop_backup,
        warnings=verification.warnings,
        strategy="export",
        point_in_time=state.point,
        by_export=summary,
    )
