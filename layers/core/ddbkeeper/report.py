"""The copy's report (moves into the copy package)."""

from __future__ import annotations

from typing import Any


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
