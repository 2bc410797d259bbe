"""The export chain's window decision: a pure function of the ledger's last end, PITR's earliest time and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ddbkeeper.errors import InvalidInput
from ddbkeeper.export.windows import MAX_CATCH_UP, MAX_WINDOW, MIN_WINDOW, choose_window
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.pure

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EARLIEST = NOW - timedelta(days=35)


def test_full_is_a_snapshot_at_the_end() -> None:
    window = choose_window("FULL", NOW, NOW - timedelta(hours=1), EARLIEST, NOW)
    assert (window.export_type, window.start, window.end) == ("FULL", None, NOW)


@pytest.mark.parametrize("export_type", ["AUTO", "INCREMENTAL"])
def test_the_first_export_of_a_table_is_full(export_type: str) -> None:
    window = choose_window(export_type, NOW, None, EARLIEST, NOW)
    assert window.export_type == "FULL"
    assert "first export" in window.reason


def test_auto_continues_the_chain_from_the_last_end() -> None:
    last = NOW - timedelta(hours=1)
    window = choose_window("AUTO", NOW, last, EARLIEST, NOW)
    assert (window.export_type, window.start, window.end) == ("INCREMENTAL", last, NOW)


@pytest.mark.parametrize("export_type", ["AUTO", "INCREMENTAL"])
@pytest.mark.parametrize("gap", [MIN_WINDOW, MAX_WINDOW])
def test_windows_of_exactly_15_minutes_and_24_hours_are_incremental(export_type: str, gap: timedelta) -> None:
    window = choose_window(export_type, NOW, NOW - gap, EARLIEST, NOW)
    assert window.export_type == "INCREMENTAL"
    assert window.end - window.start == gap  # type: ignore[operator]


def test_auto_catches_up_a_gap_over_a_day_in_equal_windows_of_at_most_24_hours() -> None:
    last = NOW - timedelta(hours=50)
    windows = []
    while True:
        window = choose_window("AUTO", NOW, last, EARLIEST, NOW)
        windows.append(window)
        last = window.end
        if not window.more:
            break

    assert [w.export_type for w in windows] == ["INCREMENTAL"] * 3
    assert [w.end - w.start for w in windows] == [timedelta(hours=16, minutes=40)] * 3  # type: ignore[operator]
    assert windows[-1].end == NOW
    assert "catching up 50.0 h since the last export in 3 windows" in windows[0].reason


def test_auto_falls_back_to_full_after_a_gap_longer_than_a_week() -> None:
    window = choose_window("AUTO", NOW, NOW - MAX_CATCH_UP - timedelta(seconds=1), EARLIEST, NOW)
    assert window.export_type == "FULL"
    assert "more than 7 days" in window.reason


def test_auto_exports_nothing_within_15_minutes_of_the_last_export() -> None:
    window = choose_window("AUTO", NOW, NOW - timedelta(minutes=5), EARLIEST, NOW)
    assert window.export_type == "NONE"


def test_auto_starts_a_new_chain_when_pitr_no_longer_covers_the_last_end() -> None:
    window = choose_window("AUTO", NOW, NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW)
    assert window.export_type == "FULL"
    assert "no longer covers" in window.reason


@pytest.mark.parametrize(
    ("last", "earliest", "message"),
    [
        (NOW - timedelta(hours=30), EARLIEST, "is 30.0 h; an incremental export covers 15 minutes to 24 hours"),
        (NOW - timedelta(minutes=14), EARLIEST, "shorter than 15 minutes"),
        (NOW - timedelta(hours=2), NOW - timedelta(hours=1), "before the earliest restorable time"),
    ],
)
def test_incremental_is_strict_and_says_why(last: datetime, earliest: datetime, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        choose_window("INCREMENTAL", NOW, last, earliest, NOW)


@pytest.mark.parametrize(
    ("end", "message"),
    [
        (NOW + timedelta(minutes=1), "export_time: .* is in the future"),
        (EARLIEST - timedelta(seconds=1), "export_time: .* before the table's earliest restorable time"),
    ],
)
def test_an_export_time_outside_the_pitr_window_is_refused(end: datetime, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        choose_window("FULL", end, None, EARLIEST, NOW)


@given(st.lists(st.integers(min_value=1, max_value=10 * 24 * 60), min_size=1, max_size=40))
def test_an_auto_chain_is_contiguous_and_every_window_is_legal(minutes_between_runs: list[int]) -> None:
    """Whatever the schedule, AUTO's incremental windows join end to start and stay within 15 min..24 h."""
    clock = NOW
    last_end: datetime | None = None
    for minutes in minutes_between_runs:
        clock += timedelta(minutes=minutes)
        for _ in range(8):  # one run: a window, or several when catching up
            window = choose_window("AUTO", clock, last_end, EARLIEST, clock)
            if window.export_type == "INCREMENTAL":
                assert window.start == last_end
                assert MIN_WINDOW <= window.end - window.start <= MAX_WINDOW  # type: ignore[operator]
            if window.export_type == "NONE":
                assert last_end is not None
                assert clock - last_end < MIN_WINDOW
                break
            last_end = window.end
            if not window.more:
                break
        else:
            raise AssertionError("a run did not catch up within 8 windows")
        assert last_end is not None
        assert clock - last_end < MIN_WINDOW  # every run ends caught up (or within 15 minutes of it)
