"""CopyService on moto in-process: the plan's reads and refusals, the target's preparation, the time budget,
verification; plus the failure cases moto cannot produce."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.copy.engine import CopyTuning
from ddbkeeper.copy.models import Caps, CopyRequest, CopyTask, FinalSettings, PrepareState, SegmentCheckpoint
from ddbkeeper.copy.service import CopyService
from ddbkeeper.errors import InvalidInput, TableLimitExceeded, UnsafeOperation, VerificationFailed
from ddbkeeper.models import Execution, parse
from ddbkeeper.tables import TableSide
from moto import mock_aws
from moto.core.exceptions import JsonRESTError

from tests.support import Client
from tests.support.faults import fail_first
from tests.support.tables import KEYS, all_items, create_source

EXECUTION = Execution(name="copy-run-1", started_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
NO_WAIT = CopyTuning(sleep=lambda s: None, base_delay=0.0, max_delay=0.0)


def service(**request: Any) -> CopyService:
    payload = {"source": {"table": "orders"}, "target": {"table": "orders-copy"}, **request}
    task = CopyTask(request=parse(CopyRequest, payload), execution=EXECUTION)
    account = Account(SessionFactory(session_name=EXECUTION.session_name()), AccountAccess())
    source, target = task.request.source.table, task.request.target.table
    return CopyService(task, TableSide(account, source), TableSide(account, target), tuning=NO_WAIT)


@pytest.fixture
def dynamodb() -> Iterator[Client]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_source(client, "orders", items=60, pad=100)
        yield client


def test_plan_reads_the_source_and_changes_nothing(dynamodb: Client) -> None:
    dynamodb.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    planned = service(segments=3, max_read_units=300.0).plan()

    plan = planned.plan
    assert (plan.total_segments, [s.segment for s in plan.segments]) == (3, [0, 1, 2])
    assert all(s.exclusive_start_key is None and not s.done for s in plan.segments)
    assert plan.caps == Caps(read=100.0, write=None)
    assert plan.finalize == FinalSettings(ttl_attribute="ttl", pitr=False)
    assert plan.source_arn.endswith(":table/orders")
    assert plan.actions[0] == "create table orders-copy: PAY_PER_REQUEST, 1 GSI, 1 LSI"
    assert planned.prepare == PrepareState(phase="START", deleted=False, polls=0)
    assert dynamodb.list_tables()["TableNames"] == ["orders"]


def test_an_index_the_source_lacks_is_invalid_input(dynamodb: Client) -> None:
    """Copy and restore name this mistake alike (it was UnsafeOperation in the copy)."""
    with pytest.raises(InvalidInput, match=r"target_overrides\.drop_indexes: the source has no index by_kindd"):
        service(target_overrides={"drop_indexes": ["by_kindd"]}).plan()


def test_a_resumed_plan_starts_each_segment_at_its_checkpoint(dynamodb: Client) -> None:
    resume = [
        {"segment": 1, "total_segments": 2, "exclusive_start_key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "items": 9},
        {"segment": 0, "total_segments": 2, "done": True, "items": 30, "unknown": "ignored"},
    ]
    dynamodb.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)

    plan = service(mode="append", resume=resume, segments=5).plan().plan

    assert plan.total_segments == 2
    assert plan.segments[0] == SegmentCheckpoint(
        segment=1, total_segments=2, exclusive_start_key={"pk": {"S": "a"}, "sk": {"N": "1"}}, items=9
    )
    assert plan.segments[1].done
    with pytest.raises(InvalidInput, match=r"resume\.0\.total_segments"):
        service(mode="append", resume=[{"segment": 0}]).plan()


def test_a_server_without_pitr_copies_without_it(dynamodb: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_first(
        monkeypatch, "describe_continuous_backups", 1, lambda: JsonRESTError("UnknownOperationException", "no such")
    )

    assert service().plan().plan.finalize == FinalSettings(ttl_attribute=None, pitr=False)


def test_recreate_drops_the_old_target_once(dynamodb: Client) -> None:
    dynamodb.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)
    dynamodb.put_item(TableName="orders-copy", Item={"pk": {"S": "stale"}, "sk": {"N": "1"}})
    recreate = service(mode="recreate", confirm_recreate="orders-copy")
    spec = recreate.plan().plan.target_spec

    state = recreate.prepare_target(spec, PrepareState())
    dynamodb.put_item(TableName="orders-copy", Item={"pk": {"S": "copied"}, "sk": {"N": "1"}})
    again = recreate.prepare_target(spec, state)  # a later turn of the loop must not drop what the copy wrote

    assert (state.phase, state.deleted, state.polls) == ("READY", True, 1)
    assert (again.phase, again.deleted, again.polls) == ("READY", True, 2)
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["copied"]


def test_recreate_never_drops_a_protected_table(dynamodb: Client) -> None:
    recreate = service(mode="recreate", confirm_recreate="orders-copy")
    spec = recreate.plan().plan.target_spec
    dynamodb.create_table(
        TableName="orders-copy", BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=True, **KEYS
    )

    with pytest.raises(UnsafeOperation, match="has deletion protection"):
        recreate.prepare_target(spec, PrepareState())


def test_a_table_limit_on_create_table_is_its_own_retryable_error(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = service()
    spec = copy.plan().plan.target_spec
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda seconds: None, time=time.time))
    # One more than botocore's own attempts (the first and 5 retries): the error reaches the state machine.
    fail_first(monkeypatch, "create_table", 6, lambda: JsonRESTError("LimitExceededException", "too many at once"))

    with pytest.raises(TableLimitExceeded, match="CreateTable orders-copy: LimitExceededException") as caught:
        copy.prepare_target(spec, PrepareState())
    assert caught.value.retryable
    assert copy.prepare_target(spec, PrepareState()).phase == "READY"


def test_the_time_budget_and_the_lambdas_clock_both_end_an_invocation(dynamodb: Client) -> None:
    create_source(dynamodb, "orders-big", items=150, pad=9000)  # two 1 MB pages
    dynamodb.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)
    start = SegmentCheckpoint(segment=0, total_segments=1)
    plenty = 900_000

    def copy(budget: float, millis: int) -> SegmentCheckpoint:
        segment = service(source={"table": "orders-big"}, mode="append")
        segment.time_budget = budget
        return segment.copy_segment(start, Caps(), lambda: millis)

    assert copy(0.0, plenty).pages == 1  # out of budget: one page, then the checkpoint
    assert copy(780.0, 0).pages == 1  # out of Lambda time: the same
    done = copy(780.0, plenty)
    assert (done.done, done.pages, done.items, done.invocations) == (True, 2, 150, 1)


def test_verification_holds_both_tables_to_each_other(dynamodb: Client) -> None:
    dynamodb.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)
    for item in all_items(dynamodb, "orders"):
        dynamodb.put_item(TableName="orders-copy", Item=item)

    assert service(verify="none").verify(3).model_dump() == {"verify": "none", "items": None, "digest": None}
    assert service(verify="count").verify(3).items == 60
    checksum = service(verify="checksum").verify(3)
    assert checksum.items == 60 and checksum.digest is not None and len(checksum.digest) == 64

    dynamodb.put_item(TableName="orders-copy", Item={**item, "pad": {"S": "changed"}})
    assert service(verify="count").verify(3).items == 60  # a count cannot see a changed item
    with pytest.raises(VerificationFailed, match=r"checksum mismatch: source orders has 60 items, digest"):
        service(verify="checksum").verify(3)


def test_settings_after_the_data_are_applied_to_the_target(dynamodb: Client) -> None:
    dynamodb.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)

    applied = service().finalize_target(FinalSettings(ttl_attribute="expires_at", pitr=True))

    assert applied == FinalSettings(ttl_attribute="expires_at", pitr=True)
    ttl = dynamodb.describe_time_to_live(TableName="orders-copy")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert service().finalize_target(FinalSettings()) == FinalSettings()
