"""A segment's checkpoint persisted while it runs: a crash re-copies the pages since the last one persisted, not the
invocation's work; a checkpoint of another execution or segment, or one behind the state's, is never used."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import moto.dynamodb.models.table as moto_table
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.copy.checkpoints import CheckpointStore
from ddbkeeper.copy.engine import CopyTuning
from ddbkeeper.copy.models import Caps, CopyRequest, CopySettings, CopyTask, SegmentCheckpoint
from ddbkeeper.copy.service import CopyService
from ddbkeeper.errors import InvalidInput
from ddbkeeper.models import Execution, parse
from ddbkeeper.tables import TableSide
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from tests.support import Client
from tests.support.tables import KEYS, assert_identical, create_source

EXECUTION = Execution(name="copy-run-7", started_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
BUCKET = "stack-bucket"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    # Pages of ~20 KB instead of 1 MB: a segment of many pages from a table moto scans quickly; the engine is the same.
    monkeypatch.setattr(moto_table, "RESULT_SIZE_LIMIT", 20_000)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_source(client, "orders", items=300, pad=1000)
        client.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield client


def store(execution: str = EXECUTION.name) -> CheckpointStore:
    s3 = boto3.client("s3", region_name="us-east-1")
    return CheckpointStore(lambda: s3, BUCKET, execution)


def copier(tuning: CopyTuning, every: float) -> CopyService:
    request = parse(CopyRequest, {"source": {"table": "orders"}, "target": {"table": "orders-copy"}})
    account = Account(SessionFactory(session_name="test"), AccountAccess())
    return CopyService(
        CopyTask(request=request, execution=EXECUTION),
        TableSide(account, "orders"),
        TableSide(account, "orders-copy"),
        settings=CopySettings(SETTINGS_BUCKET=BUCKET, COPY_CHECKPOINT_SECONDS=every),
        checkpoints=store(),
        tuning=tuning,
    )


def test_a_crash_on_the_11th_page_re_copies_only_the_pages_since_the_last_persisted_checkpoint(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: Counter[tuple[str, str]] = Counter()
    original = DynamoHandler.batch_write_item

    def counting(self: DynamoHandler) -> Any:
        ((table, requests),) = self.body["RequestItems"].items()
        if table == "orders-copy":
            written.update((r["PutRequest"]["Item"]["pk"]["S"], r["PutRequest"]["Item"]["sk"]["N"]) for r in requests)
        return original(self)

    monkeypatch.setattr(DynamoHandler, "batch_write_item", counting)
    now = {"t": 0.0}
    crash = {"left": 1, "written_before": 0}

    def fault(event: str, state: SegmentCheckpoint) -> None:
        if event == "page-read":
            now["t"] += 1.0  # a page takes a second
        if event == "batch-written" and state.pages == 10 and crash["left"]:  # in the 11th page, after a batch
            crash["left"] = 0
            crash["written_before"] = sum(written.values())
            raise RuntimeError("Lambda killed on the 11th page")

    tuning = CopyTuning(sleep=lambda s: None, base_delay=0.0, max_delay=0.0, clock=lambda: now["t"], fault=fault)
    start = SegmentCheckpoint(segment=0, total_segments=1)
    plenty = 900_000  # the invocation has all the time it wants: nothing but the crash ends it

    with pytest.raises(RuntimeError, match="11th page"):
        copier(tuning, every=3.0).copy_segment(start, Caps(), lambda: plenty)

    persisted = store().load(0, 1)
    # Put every 3 s of a clock that moves a second per page read; the next page is read while one is written, so the
    # last put comes after page 8 or 9 of the 10 fully written: within one interval of the crash, never further back.
    assert persisted is not None and persisted.pages in (8, 9)
    # The state machine still holds `start` (the invocation never returned): the retry starts from the persisted one.
    resumed = start
    for _ in range(100):
        resumed = copier(tuning, every=3.0).copy_segment(resumed, Caps(), lambda: plenty)
        if resumed.done:
            break

    assert assert_identical(dynamodb, "orders", dynamodb, "orders-copy") == 300  # item for item, nothing lost
    assert resumed.items == 300 and resumed.pages > 11
    rewritten = {key for key, times in written.items() if times > 1}
    assert max(written.values()) == 2
    # Re-written: exactly what was written after the persisted checkpoint (up to page 10, and the 11th page's first
    # batches).
    assert len(rewritten) == crash["written_before"] - persisted.items
    # At most the pages of one 3 s interval, the page read ahead and the page on the wire: not the 10 pages an
    # unpersisted invocation re-copies.
    per_page = persisted.items // persisted.pages
    assert 0 < len(rewritten) <= 5 * per_page < crash["written_before"] / 2


def test_only_this_executions_checkpoint_of_this_segment_and_only_when_further(dynamodb: Client) -> None:
    ahead = SegmentCheckpoint(segment=1, total_segments=4, pages=5, items=50, exclusive_start_key={"pk": {"S": "a"}})
    state = SegmentCheckpoint(segment=1, total_segments=4, pages=2, items=20, exclusive_start_key={"pk": {"S": "b"}})
    store().save(ahead)

    assert store().further(state) == ahead
    assert store().further(ahead.model_copy(update={"pages": 7})).pages == 7  # the state is further: the state's
    assert store().further(state.model_copy(update={"done": True})).done  # a finished segment stays finished
    assert store("another-run").further(state) == state  # another execution's folder: nothing there
    assert store().load(1, 8) is None  # another cut of the table

    s3 = boto3.client("s3", region_name="us-east-1")
    key = store().key(1, 4)
    foreign = {"execution": "another-run", "checkpoint": ahead.model_dump(mode="json")}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(foreign).encode())
    assert store().further(state) == state  # an object naming another execution is never trusted
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not json")
    assert store().further(state) == state


def test_past_the_inline_limit_the_plan_lists_the_segments_in_s3_and_a_missing_result_is_an_error(
    dynamodb: Client,
) -> None:
    def planner(bucket: str | None, **request: Any) -> CopyService:
        payload = {"source": {"table": "orders"}, "target": {"table": "orders-new"}, "segments": 3, **request}
        account = Account(SessionFactory(session_name="test"), AccountAccess())
        return CopyService(
            CopyTask(request=parse(CopyRequest, payload), execution=EXECUTION),
            TableSide(account, "orders"),
            TableSide(account, "orders-new"),
            settings=CopySettings(SETTINGS_BUCKET=bucket, COPY_INLINE_SEGMENTS=2),
            checkpoints=store() if bucket else None,
        )

    plan = planner(BUCKET).plan().plan
    assert (plan.segments_in_s3, plan.segments, plan.total_segments) == (True, [], 3)
    assert plan.store is not None and plan.store.folder == f"ddbkeeper-copies/{EXECUTION.name}/"
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = json.loads(s3.get_object(Bucket=BUCKET, Key=plan.store.segments_key)["Body"].read())
    assert [SegmentCheckpoint.model_validate(start) for start in listed] == [
        SegmentCheckpoint(segment=n, total_segments=3) for n in range(3)
    ]
    dry = planner(BUCKET, dry_run=True).plan().plan
    assert (dry.segments_in_s3, dry.store) == (True, None)  # a dry run writes nothing
    with pytest.raises(InvalidInput, match="3 segments are more than the state payload holds"):
        planner(None).plan()

    for segment in (0, 2):
        store().save(SegmentCheckpoint(segment=segment, total_segments=3, items=5, done=True))
    with pytest.raises(InvalidInput, match=r"segment 1: its final checkpoint in s3://stack-bucket/.* is missing"):
        store().finals(3)
    store().save(SegmentCheckpoint(segment=1, total_segments=3, items=5, pages=1))
    with pytest.raises(InvalidInput, match=r"segment 1: its final checkpoint .* is not done"):
        store().finals(3)
