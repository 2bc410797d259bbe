"""Which exports make the table at a point, and whether they follow one another: pure decisions, no AWS.

A chain is a FULL export and the incremental exports after it, each starting where the one before ended. Applied in
order, they give the table as it was at the last one's end: that window end is the point a restore reaches, at or
before the time asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ddbkeeper.clock import iso
from ddbkeeper.errors import InvalidInput
from ddbkeeper.export_files import ChainEntry, ExportManifest


@dataclass(frozen=True)
class ChainPick:
    """The ledger entries to apply, in order: one FULL, then incrementals; the table is then at `point`."""

    entries: list[ChainEntry]

    @property
    def point(self) -> datetime:
        return self.entries[-1].end


def pick(entries: Sequence[ChainEntry], to: datetime | None, field: str = "source.to") -> ChainPick:
    """The newest FULL export at or before `to` (None: the latest), then every incremental after it up to the newest
    window end at or before `to`. A gap or an overlap on the way is refused, naming it; so is a chain with no FULL
    export before `to`."""
    until = to or max((entry.end for entry in entries), default=None)
    fulls = [entry for entry in entries if entry.export_type == "FULL" and until is not None and entry.end <= until]
    if not fulls or until is None:
        first = min((entry.end for entry in entries if entry.export_type == "FULL"), default=None)
        if first is None:
            raise InvalidInput(f"{field}: the ledger records no FULL export; a chain starts with one")
        raise InvalidInput(f"{field}: {iso(to)} is before the chain's first FULL export ({iso(first)})")
    full = fulls[-1]
    chosen = [full]
    later = [
        entry
        for entry in entries
        if entry.export_type == "INCREMENTAL" and entry.table_arn == full.table_arn and full.end < entry.end <= until
    ]
    for entry in sorted(later, key=lambda e: e.end):
        end = chosen[-1].end
        if entry.start != end:
            what = "a gap" if entry.start is None or entry.start > end else "an overlap"
            raise InvalidInput(
                f"{field}: the chain has {what}: the export before ends at {iso(end)}, the next "
                f"({entry.export_arn}) starts at {iso(entry.start)}; restore to {iso(end)} at most, or from a later "
                "FULL export"
            )
        chosen.append(entry)
    return ChainPick(chosen)


def check_order(manifests: Sequence[ExportManifest], field: str = "source.exports", *, full_first: bool = True) -> None:
    """Exports named by their manifests: one FULL, then incrementals of the same table, each starting where the one
    before ended (exportFromTime equals the previous end). Into an existing table (`full_first` False) the chain may
    start with an incremental export: it brings the table forward from where it is."""
    first = manifests[0]
    if not first.full and full_first:
        raise InvalidInput(
            f"{field}[0]: {first.url} is an incremental export; a chain starts with a FULL export (the incremental "
            "exports hold changes, not a table)"
        )
    for number, manifest in enumerate(manifests[1:], start=1):
        previous = manifests[number - 1]
        if manifest.table_arn != first.table_arn:
            raise InvalidInput(
                f"{field}[{number}]: {manifest.url} is an export of {manifest.table_arn}, not of {first.table_arn}"
            )
        if manifest.full:
            raise InvalidInput(
                f"{field}[{number}]: {manifest.url} is a second FULL export; name one, then incrementals"
            )
        if manifest.from_time != previous.end:
            what = "a gap" if manifest.from_time and manifest.from_time > previous.end else "an overlap"
            raise InvalidInput(
                f"{field}[{number}]: the chain has {what}: {previous.url} ends at {iso(previous.end)}, "
                f"{manifest.url} starts at {iso(manifest.from_time)}"
            )
