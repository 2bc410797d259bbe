"""The copy on dynalite, an independent DynamoDB implementation: the engine, and `ddbkeeper run copy --local`
pointed at it by AWS_ENDPOINT_URL_DYNAMODB, directly and behind a capacity-limited front."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
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
from ddbkeeper.models import Execution, TargetOverrides, parse
from ddbkeeper.tables import TableSide

from bench.capacity_front import CapacityFront, item_size, write_units
from tests.support import ROOT, Client
from tests.support.dynalite import Dynalite
from tests.support.tables import KEYS, assert_identical, create_source

pytestmark = pytest.mark.endpoint
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dynalite() -> Iterator[Dynalite]:
    with Dynalite(ROOT) as server:
        yield server


@pytest.fixture
def client(dynalite: Dynalite) -> Client:
    return boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1")


def fresh(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def test_engine_copies_every_item_on_dynalite(
    dynalite: Dynalite, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite.url)
    source_name, target_name = fresh("orders"), fresh("orders-copy")
    create_source(client, source_name, items=400, pad=6000)
    account = Account(SessionFactory(), AccountAccess())
    source, target = TableSide(account, source_name), TableSide(account, target_name)

    def service(verify: str) -> CopyService:
        request = {"source": {"table": source_name}, "target": {"table": target_name}, "verify": verify}
        task = CopyTask(request=parse(CopyRequest, request), execution=Execution(name="copy-1", started_at=NOW))
        return CopyService(task, source, target)

    spec = target_spec(client.describe_table(TableName=source_name)["Table"], {}, TargetOverrides(), target_name)
    state = service("count").prepare_target(spec, PrepareState())
    # dynalite turns a table ACTIVE on a timer, even at --createTableMs 0: poll as the state machine does.
    while state.phase != "READY":
        assert state.polls < 50, state
        time.sleep(0.1)
        state = service("count").prepare_target(spec, state)

    checkpoints = []
    for segment in range(3):
        checkpoint = SegmentCheckpoint(segment=segment, total_segments=3)
        for _ in range(100):
            checkpoint = SegmentCopier(source, target, tuning=CopyTuning()).run(checkpoint, lambda: 0.0)
            if checkpoint.done:
                break
        checkpoints.append(checkpoint)

    assert assert_identical(client, source_name, client, target_name) == 400
    assert sum(c.items for c in checkpoints) == 400
    # dynalite reports capacity as DynamoDB does: a unit per started KiB written.
    assert sum(c.write_units for c in checkpoints) >= 400 * 6
    assert service("checksum").verify(3).items == 400
    assert service("count").verify(3).items == 400


def run_cli(endpoint: str, payload: dict[str, object]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": endpoint, "COPY_TIME_BUDGET_SECONDS": "0"}
    return subprocess.run(  # noqa: S603 - the CLI under test
        [sys.executable, "-m", "ddbkeeper.cli", "run", "copy", "--local", "--json", "--input", json.dumps(payload)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_run_copy_local_on_dynalite(dynalite: Dynalite, client: Client) -> None:
    source, target = fresh("orders"), fresh("orders-copy")
    create_source(client, source, items=300, pad=4000)

    done = run_cli(
        dynalite.url, {"source": {"table": source}, "target": {"table": target}, "segments": 2, "verify": "checksum"}
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["totals"]["items"] == 300
    assert report["verification"]["items"] == 300
    assert assert_identical(client, source, client, target) == 300


def test_run_copy_behind_a_throttling_front_and_under_a_cap(dynalite: Dynalite, client: Client) -> None:
    source, target, capped = fresh("orders"), fresh("orders-copy"), fresh("orders-capped")
    # 3 units an item: four seconds of the front's capacity (a copy that starts slowly, as segments starting together
    # do, meets the front only past its burst)
    create_source(client, source, items=400, pad=2500)

    with CapacityFront(dynalite.url, write_units_per_second=300) as front:
        throttled = run_cli(front.url, {"source": {"table": source}, "target": {"table": target}, "segments": 2})
        pushed_back = front.stats()
    with CapacityFront(dynalite.url, write_units_per_second=300) as front:  # a table of its own, its burst unused
        paced = run_cli(
            front.url,
            {"source": {"table": source}, "target": {"table": capped}, "segments": 2, "max_write_units": 150},
        )
        within_cap = front.stats()

    assert throttled.returncode == 0, throttled.stderr
    assert paced.returncode == 0, paced.stderr
    assert assert_identical(client, source, client, target) == 400
    assert assert_identical(client, source, client, capped) == 400
    assert pushed_back.items_rejected + pushed_back.throttled_requests > 0  # the front really pushed back
    assert json.loads(throttled.stdout)["totals"]["throttles"] > 0
    assert within_cap.throttled_requests == 0  # under the cap the copy never hit the front's limit
    assert within_cap.items_rejected == 0


def test_capacity_front_sizes_items_like_dynamodb() -> None:
    assert item_size({"id": {"S": "a"}}) == 3
    assert write_units({"PutRequest": {"Item": {"id": {"S": "x" * 1500}}}}) == 2
    assert write_units({"DeleteRequest": {"Key": {"id": {"S": "x"}}}}) == 1
    assert item_size({"n": {"N": "-12.500"}}) == 1 + 3  # "125" significant digits -> 2 bytes + 1
    assert item_size({"b": {"B": "AAEC"}}) == 1 + 3


def test_a_segment_under_pushback_crashed_between_in_flight_batches_resumes_rewriting_only_that_page(
    dynalite: Dynalite, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several batches on the wire, a front that refuses what exceeds its capacity (UnprocessedItems, throttling), a
    crash after the second batch of the second page: resumed from the checkpoint, nothing is lost and only that page
    is written again."""
    source_name, target_name = fresh("orders"), fresh("orders-copy")
    create_source(client, source_name, items=240, pad=6000)
    client.create_table(TableName=target_name, BillingMode="PAY_PER_REQUEST", **KEYS)
    crashes = {"left": 1, "batches": 0}

    def crash(event: str, state: SegmentCheckpoint) -> None:
        if event == "batch-written" and state.pages == 1 and crashes["left"]:
            crashes["batches"] += 1
            if crashes["batches"] == 2:
                crashes["left"] = 0
                raise RuntimeError("Lambda killed between two batches")

    tuning = CopyTuning(fault=crash)
    with CapacityFront(dynalite.url, write_units_per_second=900, delay_seconds=0.02, record_items=True) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", front.url)
        account = Account(SessionFactory(), AccountAccess())
        source, target = TableSide(account, source_name), TableSide(account, target_name)
        first = SegmentCheckpoint(segment=0, total_segments=1)
        saved = SegmentCopier(source, target, tuning=tuning).run(first, lambda: 0.0)
        with pytest.raises(RuntimeError, match="killed"):
            SegmentCopier(source, target, tuning=tuning).run(saved, lambda: 3600.0)
        resumed = saved
        for _ in range(100):
            resumed = SegmentCopier(source, target, tuning=tuning).run(resumed, lambda: 3600.0)
            if resumed.done:
                break
        stats = front.stats()
        written = Counter(
            {(json.loads(item)["pk"]["S"], json.loads(item)["sk"]["N"]): n for item, n in front.written.items()}
        )

    assert assert_identical(client, source_name, client, target_name) == 240
    assert resumed.items == 240
    assert stats.items_rejected + stats.throttled_requests > 0  # the front pushed back
    assert len(written) == 240
    rewritten = {key for key, n in written.items() if n > 1}
    start = {"ExclusiveStartKey": _typed(saved.exclusive_start_key)} if saved.exclusive_start_key else {}
    page = client.scan(TableName=source_name, Segment=0, TotalSegments=1, **start)["Items"]
    assert rewritten
    assert rewritten <= {(item["pk"]["S"], item["sk"]["N"]) for item in page}


def _typed(key: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {name: dict(value) for name, value in key.items()}
