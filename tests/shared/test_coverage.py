"""The coverage verdict and the export chain's reach (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ddbkeeper.coverage import ChainPoint, chain_state, judge
from ddbkeeper.drills import DrillRecord

pytestmark = pytest.mark.pure

T = [datetime(2026, 11, 24, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]


def point(kind: str, start: datetime | None, end: datetime) -> ChainPoint:
    return ChainPoint(f"arn:x/export/{end:%H}", kind, end, start, 1)


def test_the_chain_reaches_its_last_point_unless_a_gap_cuts_it() -> None:
    whole = [point("FULL", None, T[0]), point("INCREMENTAL", T[0], T[1]), point("INCREMENTAL", T[1], T[2])]
    assert chain_state(whole) == (whole[2], [])
    cut = [*whole, point("INCREMENTAL", T[3], T[4]), point("INCREMENTAL", T[4], T[5])]
    end, gaps = chain_state(cut)
    assert end == whole[2] and len(gaps) == 1 and "gap from 2026-11-24T02:00:00Z to 2026-11-24T03:00:00Z" in gaps[0]
    assert chain_state([*cut, point("FULL", None, T[5])])[1] == []  # a new FULL starts a new chain
    assert chain_state([point("INCREMENTAL", T[0], T[1])]) == (
        None,
        ["no FULL export: an incremental chain has nothing to start from"],
    )
    assert chain_state([]) == (None, [])


def verdict(**changes: object) -> str:
    facts: dict[str, object] = {
        "pitr": True,
        "own_backup_age_hours": 3.0,
        "other_backups": 0,
        "max_backup_age_hours": 26.0,
        "chain_end": None,
        "chain_gaps": [],
        "deletion_protection": True,
        "last_drill": DrillRecord(table="t", status="PASSED", drilled_at="x", execution="e"),
    }
    return judge(**(facts | changes))[0]  # type: ignore[arg-type]


def test_the_verdict() -> None:
    assert verdict() == "protected"
    assert verdict(deletion_protection=False, last_drill=None) == "protected"  # noted, not judged
    assert verdict(pitr=False) == "at risk"
    assert verdict(own_backup_age_hours=30.0) == "at risk"
    assert verdict(own_backup_age_hours=None, other_backups=2) == "at risk"
    assert verdict(chain_gaps=["gap"]) == "at risk"
    assert verdict(last_drill=DrillRecord(table="t", status="FAILED", drilled_at="x", execution="e")) == "at risk"
    assert verdict(pitr=False, own_backup_age_hours=None) == "unprotected"
    assert verdict(pitr=False, own_backup_age_hours=None, chain_end=T[0]) == "at risk"
