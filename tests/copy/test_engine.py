"""The copy engine on moto in-process, across two accounts, under every fault the quality bar names."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.copy.engine import CopyTuning, SegmentCopier
from ddbkeeper.copy.models import CopyRequest, CopyTask, PrepareState, SegmentCheckpoint
from ddbkeeper.copy.service import CopyService
from ddbkeeper.copy.target import target_spec
from ddbkeeper.errors import AccessDenied, Throttled
from ddbkeeper.models import Execution, TargetOverrides, parse
from ddbkeeper.pacing import AdaptiveLimiter
from ddbkeeper.tables import TableSide
from ddbkeeper.writes import BatchWriter, puts
from moto import mock_aws

from tests.support import Client
from tests.support.faults import inject
from tests.support.tables import assert_identical, create_source

OTHER_ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-copy-target"
NO_WAIT = CopyTuning(sleep=lambda s: None, base_delay=0.0, max_delay=0.0)
EXECUTION = Execution(name="copy-run-1", started_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC))


class World:
    def __init__(self) -> None:
        self.factory = SessionFactory(session_name="test-copy")
        self.home = boto3.client("dynamodb", region_name="us-east-1")
        self.source = TableSide(Account(self.factory, AccountAccess()), "orders")
        self.target = TableSide(Account(self.factory, AccountAccess(role_arn=OTHER_ROLE)), "orders-copy")
        self.other = self.target.control

    def prepare(self) -> None:
        description = self.home.describe_table(TableName="orders")["Table"]
        spec = target_spec(description, {}, TargetOverrides(), "orders-copy")
        request = parse(CopyRequest, {"source": {"table": "orders"}, "target": {"table": "orders-copy"}})
        service = CopyService(CopyTask(request=request, execution=EXECUTION), self.source, self.target)
        assert service.prepare_target(spec, PrepareState()).phase == "READY"

    def copy(self, segments: int, tuning: CopyTuning = NO_WAIT, budget: bool = True) -> list[SegmentCheckpoint]:
        """Run every segment to completion the way the state machine loops CopySegment."""
        done = []
        for segment in range(segments):
            checkpoint = SegmentCheckpoint(segment=segment, total_segments=segments)
            for _ in range(1000):
                copier = SegmentCopier(self.source, self.target, tuning=tuning)
                checkpoint = copier.run(checkpoint, lambda: 3600.0 if budget else 0.0)
                if checkpoint.done:
                    break
            done.append(checkpoint)
        return done

    def finish(self, checkpoint: SegmentCheckpoint, tuning: CopyTuning = NO_WAIT) -> SegmentCheckpoint:
        """Loop CopySegment from `checkpoint` until the segment is done, as the state machine does."""
        for _ in range(1000):
            checkpoint = SegmentCopier(self.source, self.target, tuning=tuning).run(checkpoint, lambda: 3600.0)
            if checkpoint.done:
                break
        return checkpoint

    def identical(self) -> int:
        return assert_identical(self.home, "orders", self.other, "orders-copy")


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        create_source(boto3.client("dynamodb", region_name="us-east-1"), "orders", items=240, pad=9000)
        world = World()
        world.prepare()
        yield world


def totals(checkpoints: list[SegmentCheckpoint], name: str) -> Any:
    return sum(getattr(c, name) for c in checkpoints)


def test_copies_every_item_across_accounts(world: World) -> None:
    checkpoints = world.copy(segments=3)

    assert world.identical() == 240
    assert totals(checkpoints, "items") == 240
    assert totals(checkpoints, "throttles") == 0
    assert all(c.exclusive_start_key is None and c.done for c in checkpoints)
    assert ":222222222222:" in world.other.describe_table(TableName="orders-copy")["Table"]["TableArn"]


def test_one_page_per_invocation_loops_until_done(world: World) -> None:
    checkpoints = world.copy(segments=2, budget=False)

    assert world.identical() == 240
    assert all(c.invocations == c.pages for c in checkpoints)
    assert max(c.pages for c in checkpoints) > 1


def test_unprocessed_items_storm_loses_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with inject(monkeypatch) as faults:
        faults.storm = (random.Random(3), 1)
        checkpoints = world.copy(segments=3)

    assert world.identical() == 240
    assert faults.injected["unprocessed"] > 100
    assert totals(checkpoints, "retried_items") == faults.injected["unprocessed"]


@pytest.mark.parametrize("error", ["throttle", "throttling", "limit", "5xx"])
def test_throttling_and_5xx_on_reads_and_writes_are_retried(
    world: World, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    with inject(monkeypatch) as faults:
        faults.script("BatchWriteItem", "ok", error, error, "ok", error, ("partial", 0), ("partial", 3))
        faults.script("Scan", error, "ok", error)
        checkpoints = world.copy(segments=2)

    assert world.identical() == 240
    assert faults.injected[error] == 5
    assert totals(checkpoints, "throttles") >= 5


def test_expired_credentials_are_renewed_mid_copy(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with inject(monkeypatch) as faults:
        faults.script("BatchWriteItem", "ok", "ok", "expired", "ok", "expired")
        checkpoints = world.copy(segments=1)

    assert world.identical() == 240
    assert faults.injected["expired"] == 2
    assert totals(checkpoints, "credential_refreshes") == 2


def test_credentials_that_stay_expired_fail_clearly(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with inject(monkeypatch) as faults, pytest.raises(AccessDenied, match="still expired"):
        # Every call refused, however many batches of the page are on the wire together.
        faults.script("BatchWriteItem", *["expired"] * 40)
        world.copy(segments=1)


def test_a_crash_mid_segment_resumes_from_the_last_checkpoint(world: World) -> None:
    crashes = {"left": 1, "batches": 0}

    def crash(event: str, state: SegmentCheckpoint) -> None:
        if event == "batch-written" and state.pages == 1:
            crashes["batches"] += 1
            if crashes["batches"] == 2 and crashes["left"]:
                crashes["left"] -= 1
                raise RuntimeError("Lambda killed mid-page")

    tuning = CopyTuning(sleep=lambda s: None, base_delay=0.0, fault=crash)
    checkpoint = SegmentCheckpoint(segment=0, total_segments=1)
    saved = SegmentCopier(world.source, world.target, tuning=tuning).run(checkpoint, lambda: 0.0)  # one page
    with pytest.raises(RuntimeError, match="killed"):
        SegmentCopier(world.source, world.target, tuning=tuning).run(saved, lambda: 0.0)

    # The state machine still holds `saved`: the redriven invocation starts from it and re-reads one page at most.
    resumed = world.finish(saved, tuning)
    assert world.identical() == 240
    assert resumed.items == 240  # the re-read page was counted once: items count pages fully written


def test_when_retries_run_out_the_segment_fails_with_its_checkpoint_intact(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = SegmentCopier(world.source, world.target, tuning=NO_WAIT).run(
        SegmentCheckpoint(segment=0, total_segments=1), lambda: 0.0
    )
    with inject(monkeypatch) as faults:
        faults.script("BatchWriteItem", *[("partial", 0)] * 40 * NO_WAIT.writes_in_flight)  # each batch on the wire
        with pytest.raises(Throttled, match="still unprocessed after 12 attempts"):
            SegmentCopier(world.source, world.target, tuning=NO_WAIT).run(first, lambda: 0.0)
        faults.scripts["BatchWriteItem"].clear()
        world.finish(first)
    assert world.identical() == 240


def test_write_cap_paces_the_segment(world: World) -> None:
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    tuning = CopyTuning(sleep=sleep, clock=lambda: clock["now"], base_delay=0.0)
    checkpoint = SegmentCopier(world.source, world.target, write_cap=20.0, tuning=tuning).run(
        SegmentCheckpoint(segment=0, total_segments=1), lambda: 3600.0
    )
    assert world.identical() == 240
    # moto charges about a unit per item; at 20 units/s the 240 items cannot take less than ~11 s of paced time.
    assert clock["now"] >= (checkpoint.write_units - 25) / 20.0
    assert checkpoint.throttles == 0


def test_target_side_uses_a_fresh_session_per_role(world: World) -> None:
    home_tables = world.home.list_tables()["TableNames"]
    assert "orders-copy" not in home_tables
    other: Client = world.other
    assert "orders-copy" in other.list_tables()["TableNames"]


def keys_of(written: Counter[str]) -> Counter[tuple[str, str]]:
    """Items put, counted by key (pk, sk)."""
    counted: Counter[tuple[str, str]] = Counter()
    for item, n in written.items():
        parsed = json.loads(item)
        counted[(parsed["pk"]["S"], parsed["sk"]["N"])] += n
    return counted


def page_after(world: World, start: dict[str, Any] | None) -> set[tuple[str, str]]:
    """The keys of the page a one-segment scan reads after `start` (moto pages by size, the same way every time)."""
    params: dict[str, Any] = {"TableName": "orders", "Segment": 0, "TotalSegments": 1}
    if start:
        params["ExclusiveStartKey"] = {name: {kind: value} for name, v in start.items() for kind, value in v.items()}
    page = world.home.scan(**params)
    return {(item["pk"]["S"], item["sk"]["N"]) for item in page["Items"]}


def test_a_segment_keeps_several_batches_in_flight_and_reads_the_next_page_meanwhile(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with inject(monkeypatch) as faults:
        faults.call_seconds = 0.05  # a table a round trip away
        checkpoint = world.finish(SegmentCheckpoint(segment=0, total_segments=1))

    assert world.identical() == 240
    assert checkpoint.items == 240 and checkpoint.pages > 1
    assert faults.most_in_flight >= 3  # a page's batches (about 5 here) went out together
    assert faults.scans_while_writing() >= checkpoint.pages - 1  # every later page was read ahead
    assert set(keys_of(faults.written).values()) == {1}  # and each item was written once


@pytest.mark.parametrize("error", ["storm", "throttle", "5xx"])
def test_concurrent_writers_under_pushback_write_each_item_once(
    world: World, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    with inject(monkeypatch) as faults:
        faults.call_seconds = 0.01
        if error == "storm":
            faults.storm = (random.Random(5), 0)
        else:
            faults.script("BatchWriteItem", *[error, "ok", error] * 10)
        checkpoints = world.copy(segments=2)

    assert world.identical() == 240
    assert totals(checkpoints, "items") == 240
    # A table that hands back part of every batch from the first one on has a rate the limiter learns at once, and
    # that rate needs one batch on the wire to hide a round trip: more would only be refused together.
    assert faults.most_in_flight >= (1 if error == "storm" else 2)
    assert set(keys_of(faults.written).values()) == {1}  # re-sent items were the refused ones, never a written one
    if error == "storm":
        assert totals(checkpoints, "retried_items") == faults.injected["unprocessed"] > 50
    else:
        assert faults.injected[error] == 20
        assert totals(checkpoints, "throttles") >= 20


def test_a_crash_between_two_in_flight_batches_rewrites_only_that_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes = {"left": 1, "batches": 0}

    def crash(event: str, state: SegmentCheckpoint) -> None:
        if event == "batch-written" and state.pages == 1 and crashes["left"]:
            crashes["batches"] += 1
            if crashes["batches"] == 2:  # the second batch of the second page is in; others are on the wire
                crashes["left"] = 0
                raise RuntimeError("Lambda killed between two batches")

    tuning = CopyTuning(sleep=lambda s: None, base_delay=0.0, fault=crash)
    with inject(monkeypatch) as faults:
        faults.call_seconds = 0.03
        saved = SegmentCopier(world.source, world.target, tuning=tuning).run(
            SegmentCheckpoint(segment=0, total_segments=1), lambda: 0.0
        )
        with pytest.raises(RuntimeError, match="killed"):
            SegmentCopier(world.source, world.target, tuning=tuning).run(saved, lambda: 3600.0)
        in_flight_at_crash = faults.most_in_flight
        resumed = world.finish(saved, tuning)

    assert world.identical() == 240
    assert resumed.items == 240
    assert in_flight_at_crash >= 2
    written = keys_of(faults.written)
    assert len(written) == 240  # nothing lost
    rewritten = {key for key, n in written.items() if n > 1}
    assert rewritten  # the crashed page was written again from its start...
    assert rewritten <= page_after(world, saved.exclusive_start_key)  # ...and nothing outside it


def test_the_rate_a_segment_learned_goes_on_into_its_next_invocation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table that pushed a segment back taught it a rate; the checkpoint carries it, so the next invocation goes on
    at that rate instead of probing the table again (a wall of refusals at every return)."""
    start = SegmentCheckpoint(segment=0, total_segments=1)
    with inject(monkeypatch) as faults:
        faults.storm = (random.Random(7), 1)
        first = SegmentCopier(world.source, world.target, tuning=NO_WAIT).run(start, lambda: 0.0)
        assert first.pace is not None and first.pace.write_rate is not None and not first.done
        faults.storm = None  # the table takes everything from now on

        copier = SegmentCopier(world.source, world.target, tuning=NO_WAIT)
        second = copier.run(first, lambda: 0.0)

    assert copier.writes.throttle_events == 0  # no push-back in this invocation...
    assert copier.writes.learned_rate is not None  # ...and yet it paced at the rate the first one learned
    assert second.pace is not None and second.pace.write_rate is not None
    assert world.finish(second).done and world.identical() == 240


def test_writers_sharing_a_table_start_with_small_batches(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight segments starting together put a batch's worth on the wire between them, not eight full batches: the
    first batches are small, and grow while the table takes them."""
    with inject(monkeypatch) as faults:
        writer = BatchWriter(world.target, AdaptiveLimiter(), NO_WAIT, in_flight=32, sharing=8)
        items = [{"pk": {"S": f"k{n}"}, "sk": {"N": "1"}} for n in range(200)]
        writer.write(puts(items))
        writer.close()

    assert sum(faults.written.values()) == 200 == sum(faults.batch_sizes)
    assert faults.batch_sizes[0] == 3  # 25 among 8
    assert max(faults.batch_sizes) == 25  # and grew to full batches
