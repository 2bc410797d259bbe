"""The copy's report: totals over the segments' final checkpoints, and each segment's own figures."""

from __future__ import annotations

from ddbkeeper.copy.models import (
    CopyReport,
    CopyRequest,
    CopyTotals,
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
