"""The drill's decisions and request (pure): scratch names, which point is drilled, the verdict, each table's line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ddbkeeper.drill.models import DrillRequest, DrillTableResult, DrillTarget, Failure, SampleCheck
from ddbkeeper.drill.verify import (
    choose_point,
    drill_line,
    judge,
    reachable_chain,
    sample_check,
    scratch_name,
    wants_chain,
)
from ddbkeeper.errors import InvalidInput, VerificationFailed
from ddbkeeper.export_chain import ChainPick
from ddbkeeper.export_files import ChainEntry
from ddbkeeper.models import parse
from ddbkeeper.recovery import BackupPoint, PitrWindow
from ddbkeeper.scratch import ScratchCleanup
from ddbkeeper.wire import key_id
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.pure

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
BACKUP = BackupPoint("arn:aws:dynamodb:us-east-1:1:table/t/backup/1", "nightly", NOW, "AVAILABLE", "USER")
PITR = PitrWindow(enabled=True, earliest=NOW, latest=NOW, recovery_period_days=35)


@given(st.from_regex(r"[A-Za-z0-9_.-]{3,255}", fullmatch=True))
def test_a_scratch_name_is_the_drills_unique_and_fits(table: str) -> None:
    name = scratch_name("ddbkeeper-drill", table, "20261123t050000250z")
    assert len(name) <= 255
    assert name.startswith("ddbkeeper-drill-") and name.endswith("-20261123t050000250z")


def test_long_table_names_stay_apart() -> None:
    one, two = ("a" * 250 + "x"), ("a" * 250 + "y")
    assert scratch_name("p-x", one, "s") != scratch_name("p-x", two, "s")


ARN = "arn:aws:dynamodb:us-east-1:1:table/t"
OFF = PitrWindow(enabled=False)


def entry(kind: str, end_hour: int, start_hour: int | None = None, table_arn: str = ARN) -> ChainEntry:
    at = datetime(2026, 9, 1, tzinfo=UTC)
    return ChainEntry(
        table_arn=table_arn,
        export_type=kind,
        start=None if start_hour is None else at + timedelta(hours=start_hour),
        end=at + timedelta(hours=end_hour),
        export_arn=f"{table_arn}/export/{kind}-{end_hour}",
    )


CHAIN = ChainPick([entry("FULL", 0), entry("INCREMENTAL", 1, 0)])


@pytest.mark.parametrize(
    ("source", "backup", "pitr", "chain", "kind"),
    [
        ("auto", BACKUP, PITR, CHAIN, "backup"),
        ("auto", None, PITR, CHAIN, "point_in_time"),
        ("auto", None, OFF, CHAIN, "export_chain"),  # neither a backup nor PITR: the chain's end
        ("auto", None, OFF, None, None),
        ("backup", None, PITR, CHAIN, None),
        ("point_in_time", BACKUP, PITR, CHAIN, "point_in_time"),
        ("point_in_time", BACKUP, OFF, CHAIN, None),
        ("export_chain", BACKUP, PITR, CHAIN, "export_chain"),  # asked for: whatever else there is
        ("export_chain", BACKUP, PITR, None, None),
    ],
)
def test_the_point_drilled(
    source: str, backup: BackupPoint | None, pitr: PitrWindow, chain: ChainPick | None, kind: str | None
) -> None:
    chosen, _, moment, problem = choose_point(source, backup, pitr, chain, "no ledger")
    assert chosen == kind
    assert (problem is None) == (kind is not None) and (moment is None) == (kind is None)
    if kind == "export_chain":
        assert moment == CHAIN.point == datetime(2026, 9, 1, 1, tzinfo=UTC)  # the window end: what RPO is aged from
    if kind is None and source in ("auto", "export_chain"):
        assert str(problem).endswith("no ledger")


def test_the_chain_is_read_only_when_asked_for_or_there_is_nothing_else() -> None:
    assert wants_chain("export_chain", BACKUP, PITR)
    assert wants_chain("auto", None, OFF)
    assert not wants_chain("auto", BACKUP, OFF) and not wants_chain("auto", None, PITR)
    assert not wants_chain("backup", None, OFF) and not wants_chain("point_in_time", None, OFF)


def test_a_chain_with_a_gap_is_drilled_only_up_to_the_gap_and_says_so() -> None:
    """Hours 0-2 follow one another, 3-4 is missing: the drill stops at 2:00 (what the audit calls reachable) and its
    note names the gap; exports of another table by that name are not part of it."""
    entries = [
        entry("FULL", 0),
        entry("INCREMENTAL", 1, 0),
        entry("INCREMENTAL", 2, 1),
        entry("INCREMENTAL", 5, 4),
        entry("INCREMENTAL", 3, 2, table_arn=ARN + "-old"),
    ]
    picked, note = reachable_chain(sorted(entries, key=lambda e: e.end), ARN)
    assert picked is not None
    assert [e.export_arn.rsplit("/", 1)[-1] for e in picked.entries] == ["FULL-0", "INCREMENTAL-1", "INCREMENTAL-2"]
    assert picked.point == datetime(2026, 9, 1, 2, tzinfo=UTC)
    assert "gap from 2026-09-01T02:00:00Z to 2026-09-01T04:00:00Z" in note
    assert "drilled up to 2026-09-01T02:00:00Z" in note and "up to 2026-09-01T05:00:00Z unrestorable" in note
    whole, none = reachable_chain(entries[:3], ARN)
    assert whole is not None and whole.point == picked.point and none == ""


def test_a_chain_with_no_full_export_has_nothing_to_drill() -> None:
    assert reachable_chain([entry("INCREMENTAL", 1, 0)], ARN) == (
        None,
        "no FULL export: an incremental chain has nothing to start from",
    )
    assert reachable_chain([], ARN) == (None, "the ledger records no export")


def sample(sampled: int, missing: int = 0, different: int = 0) -> SampleCheck:
    matched = sampled - missing - different
    return SampleCheck(sampled=sampled, matched=matched, missing=missing, different=different, source_digest="0",
                       scratch_digest="0")  # fmt: skip


def test_the_verdict_tolerates_churn_up_to_the_limit_and_names_every_problem() -> None:
    judge("s", 100, expected=100, sample=sample(50, missing=5), max_mismatch_percent=10, age_seconds=60,
          max_age_hours=None)  # fmt: skip
    with pytest.raises(VerificationFailed) as failed:
        judge("s", 80, expected=100, sample=sample(50, different=6), max_mismatch_percent=10, age_seconds=7300,
              max_age_hours=2)  # fmt: skip
    message = str(failed.value)
    assert "80 items, the backup recorded 100" in message
    assert "6 of 50 sampled source items missing (0) or different (6)" in message
    assert "the recovery point is 2.0 h old, more than the 2 h allowed (RPO)" in message


def test_the_sample_check_matches_items_by_key() -> None:
    source = [{"id": {"S": "a"}, "v": {"N": "1"}}, {"id": {"S": "b"}, "v": {"N": "2"}}, {"id": {"S": "c"}}]
    scratch = {key_id(source[0], ["id"]): source[0], key_id(source[1], ["id"]): {"id": {"S": "b"}, "v": {"N": "3"}}}
    checked = sample_check(source, scratch, ["id"])
    assert (checked.sampled, checked.matched, checked.different, checked.missing) == (3, 1, 1, 1)


TARGET = DrillTarget(table="t", scratch_table="ddbkeeper-drill-t-x", kind="backup")


def test_a_table_passes_only_verified_and_cleaned_up() -> None:
    deleted = ScratchCleanup(status="DELETED")
    failed = Failure(error="VerificationFailed", cause='{"errorMessage": "off by 6"}')
    assert drill_line(TARGET, DrillTableResult(cleanup=deleted), NOW, "e").status == "FAILED"
    line = drill_line(TARGET, DrillTableResult(failure=failed, cleanup=deleted), NOW, "e")
    assert (line.status, line.error, line.cause, line.scratch_deleted) == (
        "FAILED",
        "VerificationFailed",
        "off by 6",
        True,
    )
    stuck = drill_line(
        TARGET,
        DrillTableResult(failure=failed, error={"Error": "UnsafeOperation", "Cause": "not ours"}),
        NOW,
        "e",
    )
    assert stuck.error == "VerificationFailed" and stuck.scratch_deleted is False
    assert "the scratch table ddbkeeper-drill-t-x was not deleted: UnsafeOperation: not ours" in str(stuck.cause)


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({}, "give tables"),
        ({"tables": ["orders"], "sample_size": 0}, "sample_size"),
        ({"tables": ["orders"], "max_mismatch_percent": 101}, "max_mismatch_percent"),
        ({"tables": ["orders"], "source": "latest"}, "source"),
        ({"tables": ["orders"], "selector": {"tag_value": "x"}}, "selector"),
        ({"tables": ["orders"], "role_arn": "arn:aws:iam::111111111111:role/x"}, "role_arn: unknown field"),
    ],
)
def test_a_bad_request_names_the_field(request_body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        parse(DrillRequest, request_body)
