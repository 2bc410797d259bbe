"""The chain of windows (pure): what one run exports, from the ledger's last end, PITR's earliest time and the clock."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ddbkeeper.clock import iso
from ddbkeeper.errors import InvalidInput
from ddbkeeper.export.models import ExportType, ExportWindow

MIN_WINDOW = timedelta(minutes=15)  # DynamoDB's limits for one incremental export
MAX_WINDOW = timedelta(hours=24)
MAX_CATCH_UP = timedelta(days=7)  # AUTO splits a longer gap into incremental windows up to this, then exports FULL


def choose_window(
    export_type: ExportType,
    end: datetime,
    last_end: datetime | None,
    earliest_restorable: datetime,
    now: datetime,
) -> ExportWindow:
    """Decide what to export. The first export of a table is FULL. Then INCREMENTAL is strict (a window it cannot export
    fails, naming it) and AUTO adapts.

    AUTO: the first export of a table is FULL; later ones continue the chain from the last export's end. A gap of more
    than 24 hours is split into equal incremental windows of at most 24 hours (this returns the first, `more` set; the
    run asks again once it is recorded); a gap of more than 7 days, or a chain end PITR no longer covers, starts a new
    chain with a FULL export; a gap shorter than 15 minutes exports nothing (the next run covers it).
    """
    if end > now:
        raise InvalidInput(f"export_time: {iso(end)} is in the future (now {iso(now)})")
    if end < earliest_restorable:
        raise InvalidInput(
            f"export_time: {iso(end)} is before the table's earliest restorable time {iso(earliest_restorable)}"
        )
    if export_type == "FULL":
        return ExportWindow(export_type="FULL", end=end, reason="requested")
    strict = export_type == "INCREMENTAL"
    if last_end is None:  # for INCREMENTAL too: a chain starts with a full export
        return ExportWindow(export_type="FULL", end=end, reason="first export of the table")
    if last_end < earliest_restorable:
        if strict:
            raise InvalidInput(
                f"export_type: the last export ended at {iso(last_end)}, before the earliest restorable time "
                f"{iso(earliest_restorable)}; use AUTO or FULL to start a new chain"
            )
        return ExportWindow(
            export_type="FULL", end=end, reason="point-in-time recovery no longer covers the last export's end"
        )
    return _continue_chain(strict, last_end, end)


def _continue_chain(strict: bool, last_end: datetime, end: datetime) -> ExportWindow:
    gap = end - last_end
    hours = gap.total_seconds() / 3600
    if gap < MIN_WINDOW:
        if strict:
            raise InvalidInput(
                f"export_time: the window {iso(last_end)} to {iso(end)} is shorter than 15 minutes "
                "(DynamoDB's minimum for an incremental export)"
            )
        reason = f"only {gap} since the last export; the next run covers it"
        return ExportWindow(export_type="NONE", end=end, start=last_end, reason=reason)
    if gap <= MAX_WINDOW:
        return ExportWindow(export_type="INCREMENTAL", end=end, start=last_end, reason="continues the chain")
    if strict:
        raise InvalidInput(
            f"export_time: the window {iso(last_end)} to {iso(end)} is {hours:.1f} h; an incremental export "
            "covers 15 minutes to 24 hours (AUTO catches up in several windows, or exports FULL after 7 days)"
        )
    if gap > MAX_CATCH_UP:
        reason = f"{hours:.1f} h since the last export is more than 7 days"
        return ExportWindow(export_type="FULL", end=end, reason=reason)
    # Equal windows, each at most 24 h and (the gap being over 24 h) at least 12 h: none falls under 15 minutes.
    windows = math.ceil(gap / MAX_WINDOW)
    step = timedelta(seconds=math.ceil(gap.total_seconds() / windows))
    reason = f"catching up {hours:.1f} h since the last export in {windows} windows"
    return ExportWindow(export_type="INCREMENTAL", end=last_end + step, start=last_end, reason=reason, more=True)
