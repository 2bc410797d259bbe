"""Verify Copy's pure decision: the segments' tallies side by side, per segment and in total, and the source now
against what the copy read from it."""

from __future__ import annotations

from typing import Any

import pytest
from ddbkeeper.copy.models import AppendCheck, SegmentCheckpoint, SegmentTally, SideTally
from ddbkeeper.copy.verify import verdict
from ddbkeeper.errors import InvalidInput
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.pure


def side(items: int, digest: int | None = None) -> SideTally:
    return SideTally(items=items, digest=None if digest is None else f"{digest:064x}", pages=1, done=True)


def tally(segment: int, source: SideTally, target: SideTally, total: int = 3, **extra: Any) -> SegmentTally:
    return SegmentTally(segment=segment, total_segments=total, source=source, target=target, done=True, **extra)


def copied(*items: int) -> list[SegmentCheckpoint]:
    total = len(items)
    return [
        SegmentCheckpoint(segment=n, total_segments=total, items=i, pages=1, done=True) for n, i in enumerate(items)
    ]


def test_equal_segments_verify_with_a_line_each() -> None:
    tallies = [tally(n, side(10 + n, 5 * n + 1), side(10 + n, 5 * n + 1)) for n in (2, 0, 1)]

    found = verdict("checksum", tallies, copied(10, 11, 12), "a", "b")

    assert found.failure is None
    verification = found.verification
    assert (verification.items, verification.digest) == (33, f"{1 + 6 + 11:064x}")
    assert [(s.segment, s.source_items, s.target_items, s.copied_items, s.differs) for s in verification.segments] == [
        (0, 10, 10, 10, False),
        (1, 11, 11, 11, False),
        (2, 12, 12, 12, False),
    ]
    assert verification.warnings == []


def test_a_digest_that_differs_in_one_segment_names_it() -> None:
    tallies = [tally(0, side(10, 1), side(10, 1)), tally(1, side(10, 2), side(10, 3)), tally(2, side(1, 4), side(1, 4))]

    found = verdict("checksum", tallies, [], "a", "b")

    assert found.verification.differing_segments == [1]
    assert found.failure is not None
    assert found.failure.startswith("checksum mismatch: source a has 21 items, digest")
    assert found.failure.endswith("segments that differ: 1")


def test_counts_that_balance_in_total_still_differ_per_segment() -> None:
    """One item missing in one segment and one extra in another: the totals agree, the segments do not."""
    tallies = [tally(0, side(10), side(9)), tally(1, side(10), side(11)), tally(2, side(3), side(3))]

    found = verdict("count", tallies, [], "a", "b")

    assert found.failure == "count mismatch: source a has 23 items, target b has 23 items; segments that differ: 0, 1"
    assert found.verification.digest is None


def test_a_source_that_changed_during_the_copy_is_a_warning_and_part_of_a_failure() -> None:
    agree = [tally(0, side(10), side(10)), tally(1, side(12), side(12)), tally(2, side(3), side(3))]
    found = verdict("count", agree, copied(10, 11, 3), "a", "b")  # written into both tables meanwhile
    assert found.failure is None
    (warning,) = found.verification.warnings
    assert warning.startswith("the source changed during the copy: in 1 segment(s) (1) the copy read 11 items and the")
    assert "not a snapshot" in warning and "export chain" in warning

    source_only = [tally(0, side(10), side(10)), tally(1, side(12), side(11)), tally(2, side(3), side(3))]
    failed = verdict("count", source_only, copied(10, 11, 3), "a", "b")
    assert failed.failure is not None and failed.failure.endswith(warning)


def test_a_resumed_segment_given_as_done_says_nothing_of_the_source() -> None:
    """A resume may give a finished segment as `{"segment": n, "done": true}` (no figures): it is verified like every
    segment, but its zero items are not taken for what the copy read."""
    tallies = [tally(0, side(10), side(10), 2), tally(1, side(12), side(12), 2)]
    given = [SegmentCheckpoint(segment=0, total_segments=2, done=True), *copied(0, 12)[1:]]

    found = verdict("count", tallies, given, "a", "b")

    assert found.failure is None and found.verification.warnings == []
    assert [s.copied_items for s in found.verification.segments] == [None, 12]


def test_an_append_fails_on_missing_or_different_items_only() -> None:
    fine = AppendCheck(checked=5)
    missing = AppendCheck(checked=5, missing=1, missing_keys=[{"pk": {"S": "x"}}])
    tallies = [tally(0, side(5), SideTally(), 2, append=fine), tally(1, side(5), SideTally(), 2, append=fine)]

    ok = verdict("count", tallies, copied(5, 5), "a", "b", append=True)
    assert ok.failure is None
    assert ok.verification.append == AppendCheck(checked=10)
    assert [s.target_items for s in ok.verification.segments] == [None, None]

    tallies[1] = tally(1, side(5), SideTally(), 2, append=missing)
    failed = verdict("count", tallies, [], "a", "b", append=True)
    assert failed.failure is not None
    assert failed.failure.startswith("append check: of 10 items of source a, 1 are missing from target b")
    assert failed.verification.differing_segments == [1]


@pytest.mark.parametrize(
    "segments",
    [[0, 1], [0, 0, 1], [0, 2, 3], [1, 2, 3]],
    ids=["one missing", "one twice", "a gap", "no first"],
)
def test_tallies_must_be_one_cut_of_the_table(segments: list[int]) -> None:
    tallies = [tally(n, side(1), side(1)) for n in segments]
    with pytest.raises(InvalidInput, match="tallies: one per segment"):
        verdict("count", tallies, [], "a", "b")


def test_an_unfinished_tally_is_not_a_verification() -> None:
    tallies = [tally(0, side(1), side(1), 1).model_copy(update={"done": False})]
    with pytest.raises(InvalidInput, match="segments 0 are not done"):
        verdict("count", tallies, [], "a", "b")


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2**256 - 1)), min_size=1, max_size=12))
def test_per_segment_sums_add_up_to_the_whole(parts: list[tuple[int, int]]) -> None:
    """The checksum is a sum: however the items fall into segments, the segments' tallies add up to the table's."""
    tallies = [tally(n, side(i, d), side(i, d), len(parts)) for n, (i, d) in enumerate(parts)]
    found = verdict("checksum", tallies, [], "a", "b")
    assert found.failure is None
    assert found.verification.items == sum(i for i, _ in parts)
    assert found.verification.digest == f"{sum(d for _, d in parts) % 2**256:064x}"
