"""CopyService on moto in-process: the plan's reads and refusals, the target's preparation, the time budget,
verification; plus the failure cases moto cannot produce."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import ddbkeeper.copy.service as copy_service
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.backup.models import BackupRequest, BackupTask
from ddbkeeper.backup.service import BackupService
from ddbkeeper.backup_names import own_backup_pattern
from ddbkeeper.copy.engine import CopyTuning
from ddbkeeper.copy.models import (
    Caps,
    CopyRequest,
    CopySettings,
    CopyTask,
    FinalSettings,
    PrepareState,
    SegmentCheckpoint,
    SegmentTally,
    Verification,
)
from ddbkeeper.copy.service import CopyService
from ddbkeeper.copy.target import EXECUTION as EXECUTION_TAG
from ddbkeeper.copy.target import MANAGED_BY
from ddbkeeper.errors import (
    AccessDenied,
    InvalidInput,
    TableLimitExceeded,
    TableNotFound,
    TargetExists,
    Throttled,
    TransientAwsError,
    UnsafeOperation,
    VerificationFailed,
)
from ddbkeeper.models import Execution, parse
from ddbkeeper.settings import SettingsRecords
from ddbkeeper.tables import TableSide, summarize
from moto import mock_aws
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends

from tests.support import Client
from tests.support.faults import fail_first, inject
from tests.support.tables import KEYS, all_items, create_source

EXECUTION = Execution(name="copy-run-1", started_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
NO_WAIT = CopyTuning(sleep=lambda s: None, base_delay=0.0, max_delay=0.0)
APPEND: dict[str, Any] = {"mode": "append", "confirm_append": "orders-copy"}


def service(
    *,
    execution: Execution = EXECUTION,
    settings: CopySettings | None = None,
    records: SettingsRecords | None = None,
    **request: Any,
) -> CopyService:
    payload = {"source": {"table": "orders"}, "target": {"table": "orders-copy"}, **request}
    task = CopyTask(request=parse(CopyRequest, payload), execution=execution)
    account = Account(SessionFactory(session_name=execution.session_name()), AccountAccess())
    source, target = task.request.source.table, task.request.target.table
    return CopyService(
        task,
        TableSide(account, source),
        TableSide(account, target),
        settings=settings,
        records=records,
        tuning=NO_WAIT,
    )


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

    plan = service(**APPEND, resume=resume).plan().plan

    assert plan.total_segments == 2
    assert plan.segments[0] == SegmentCheckpoint(
        segment=1, total_segments=2, exclusive_start_key={"pk": {"S": "a"}, "sk": {"N": "1"}}, items=9
    )
    assert plan.segments[1].done
    with pytest.raises(InvalidInput, match=r"resume\.0\.total_segments"):
        service(**APPEND, resume=[{"segment": 0}]).plan()
    with pytest.raises(InvalidInput, match=r"^segments: 5, but the resume checkpoints cut the table into 2 segments"):
        service(**APPEND, resume=resume, segments=5)  # once silently replaced by the checkpoints' 2


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
        segment = service(source={"table": "orders-big"}, **APPEND)
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

    assert service(verify="none").verify(3).model_dump() == {
        "verify": "none",
        "items": None,
        "digest": None,
        "append": None,
        "segments": [],
        "differing_segments": [],
        "warnings": [],
        "details": None,
    }
    assert service(verify="count").verify(3).items == 60
    checksum = service(verify="checksum").verify(3)
    assert checksum.items == 60 and checksum.digest is not None and len(checksum.digest) == 64

    dynamodb.put_item(TableName="orders-copy", Item={**item, "pad": {"S": "changed"}})
    assert service(verify="count").verify(3).items == 60  # a count cannot see a changed item
    with pytest.raises(VerificationFailed, match=r"checksum mismatch: source orders has 60 items, digest"):
        service(verify="checksum").verify(3)


def test_distributed_verify_finds_one_changed_attribute_in_a_large_key_space(dynamodb: Client) -> None:
    """Keys drawn from a million-key space, cut into 8 segments, each tallied by a loop of one-page calls as the verify
    Map runs them: a checksum finds one changed attribute in one item and names the one segment that holds it."""
    rng = random.Random(5)
    keys = rng.sample(range(10**6), 400)
    for name in ("big", "big-copy"):
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **KEYS)
    for n, key in enumerate(keys):
        item = {"pk": {"S": f"key-{key:06d}"}, "sk": {"N": str(n)}, "value": {"S": "x" * 30_000}, "n": {"N": str(key)}}
        dynamodb.put_item(TableName="big", Item=item)
        dynamodb.put_item(TableName="big-copy", Item=item)
    changed_key = keys[217]
    dynamodb.update_item(
        TableName="big-copy",
        Key={"pk": {"S": f"key-{changed_key:06d}"}, "sk": {"N": "217"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": str(changed_key + 1)}},
    )
    holder = next(
        segment
        for segment in range(8)
        if any(
            item["pk"]["S"] == f"key-{changed_key:06d}"
            for item in dynamodb.scan(TableName="big", Segment=segment, TotalSegments=8)["Items"]
        )
    )

    def tally_every_segment(how: str) -> list[SegmentTally]:
        checker = service(verify=how, source={"table": "big"}, target={"table": "big-copy"})
        checker.time_budget = 0.0  # one page a call: every segment loops, as in the verify Map
        tallies = []
        for segment in range(8):
            tally = SegmentTally(segment=segment, total_segments=8)
            for _ in range(100):
                tally = checker.verify_segment(tally, lambda: 900_000)
                if tally.done:
                    break
            tallies.append(tally)
        return tallies

    summed = tally_every_segment("checksum")
    assert sum(t.source.items for t in summed) == sum(t.target.items for t in summed) == 400
    assert max(t.invocations for t in summed) > 1  # segments larger than a page took several calls
    checker = service(verify="checksum", source={"table": "big"}, target={"table": "big-copy"})
    with pytest.raises(VerificationFailed, match=rf"checksum mismatch: .*segments that differ: {holder}$"):
        checker.compare(summed)
    counted = service(verify="count", source={"table": "big"}, target={"table": "big-copy"})
    verification = counted.compare(tally_every_segment("count"))  # a count cannot see a changed attribute
    assert verification.items == 400 and verification.differing_segments == []
    assert [(s.segment, s.source_items == s.target_items) for s in verification.segments] == [
        (n, True) for n in range(8)
    ]


def test_settings_after_the_data_are_applied_to_the_target(dynamodb: Client) -> None:
    dynamodb.create_table(TableName="orders-copy", BillingMode="PAY_PER_REQUEST", **KEYS)

    applied = service().finalize_target(FinalSettings(ttl_attribute="expires_at", pitr=True))

    assert applied == FinalSettings(ttl_attribute="expires_at", pitr=True)
    ttl = dynamodb.describe_time_to_live(TableName="orders-copy")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert service().finalize_target(FinalSettings()) == FinalSettings()


# --- guarding what the copy does not own ------------------------------------------------------------------------------

STACK_BUCKET = "stack-bucket"
BACKUP = "ddbkeeper-orders-copy-20261122T030000000Z"  # <stack prefix>-<target>-<execution stamp>
RECREATE: dict[str, Any] = {"mode": "recreate", "confirm_recreate": "orders-copy"}


@pytest.fixture
def records(dynamodb: Client) -> SettingsRecords:
    """The stack's bucket, where a backup's record (its table's settings, the proof retention needs) goes."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=STACK_BUCKET)
    return SettingsRecords(Account(SessionFactory(), AccountAccess()), STACK_BUCKET)


def make_target(dynamodb: Client, *items: str, protected: bool = False) -> None:
    dynamodb.create_table(
        TableName="orders-copy", BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=protected, **KEYS
    )
    for pk in items:
        dynamodb.put_item(TableName="orders-copy", Item={"pk": {"S": pk}, "sk": {"N": "1"}})


def backups(dynamodb: Client) -> list[dict[str, Any]]:
    return dynamodb.list_backups(TableName="orders-copy")["BackupSummaries"]


def moto_backups() -> list[Any]:
    return list(dynamodb_backends["123456789012"]["us-east-1"].backups.values())


def backups_start_creating(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's backups are AVAILABLE at once; DynamoDB's take a while (the test says when they are done)."""
    original = DynamoDBBackend.create_backup

    def creating(self: DynamoDBBackend, table_name: str, backup_name: str) -> Any:
        backup = original(self, table_name, backup_name)
        backup.status = "CREATING"
        return backup

    monkeypatch.setattr(DynamoDBBackend, "create_backup", creating)


def test_regions_outside_the_stacks_are_refused_before_anything(dynamodb: Client) -> None:
    stack = CopySettings(ALLOWED_REGIONS="us-east-1,eu-west-1")
    with pytest.raises(InvalidInput, match=r"^source\.region: 'ap-south-1' is not a region this stack acts in"):
        service(settings=stack, source={"table": "orders", "region": "ap-south-1"})
    with pytest.raises(InvalidInput, match=r"^target\.region: 'eu-central-1' .*\(us-east-1, eu-west-1\)"):
        service(settings=stack, target={"table": "orders-copy", "region": "eu-central-1"})
    service(settings=stack, target={"table": "orders-copy", "region": "eu-west-1"})
    assert dynamodb.list_tables()["TableNames"] == ["orders"]


def test_an_append_into_a_protected_table_needs_the_request_to_say_so(dynamodb: Client) -> None:
    make_target(dynamodb, "theirs", protected=True)

    with pytest.raises(UnsafeOperation, match="orders-copy has deletion protection; appending overwrites"):
        service(**APPEND).plan()
    with pytest.raises(UnsafeOperation, match="confirm_append: must name the target table 'orders-copy'"):
        service(mode="append", confirm_append="orders").plan()
    planned = service(**APPEND, allow_protected_target=True).plan().plan

    assert planned.actions[0].endswith("it has deletion protection (allow_protected_target)")
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["theirs"]


def test_a_resume_key_must_be_the_sources(dynamodb: Client) -> None:
    make_target(dynamodb)
    resume = [{"segment": 0, "total_segments": 1, "exclusive_start_key": {"id": {"S": "a"}}}]

    with pytest.raises(InvalidInput, match=r"^resume\.0\.exclusive_start_key: expected the key of orders \(pk, sk\)"):
        service(**APPEND, resume=resume).plan()


def test_an_append_is_verified_item_by_item_and_the_targets_own_items_stay_its_own(dynamodb: Client) -> None:
    make_target(dynamodb, "theirs-1", "theirs-2")
    source_items = all_items(dynamodb, "orders")
    for item in source_items:
        dynamodb.put_item(TableName="orders-copy", Item=item)
    keys = service(**APPEND).plan().plan.key_attributes

    counted = service(**APPEND).verify(3, keys)
    summed = service(**APPEND, verify="checksum").verify(3, keys)

    assert keys == ["pk", "sk"]
    assert counted.append is not None and counted.append.model_dump() == {
        "checked": 60,
        "missing": 0,
        "different": 0,
        "missing_keys": [],
        "different_keys": [],
    }
    assert (counted.verify, counted.items, counted.digest) == ("count", 60, None)
    source = TableSide(Account(SessionFactory(), AccountAccess()), "orders")
    assert summed.digest == f"{summarize(source, 2, checksum=True).digest:064x}"  # the digest a checksum copy reports
    with pytest.raises(InvalidInput, match="key_attributes"):
        service(**APPEND).verify(3)

    changed, gone = source_items[5], source_items[9]
    dynamodb.put_item(TableName="orders-copy", Item={**changed, "pad": {"S": "changed under the copy"}})
    dynamodb.delete_item(TableName="orders-copy", Key={"pk": gone["pk"], "sk": gone["sk"]})
    with pytest.raises(VerificationFailed) as failed:
        service(**APPEND).verify(3, keys)
    message = str(failed.value)
    assert "of 60 items of source orders, 1 are missing from target orders-copy and 1 differ from the source" in message
    assert f"missing e.g. {json.dumps({'pk': gone['pk'], 'sk': gone['sk']}, sort_keys=True)}" in message
    assert f"different e.g. {json.dumps({'pk': changed['pk'], 'sk': changed['sk']}, sort_keys=True)}" in message


def test_the_append_check_asks_again_for_unprocessed_keys(dynamodb: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    make_target(dynamodb)
    for item in all_items(dynamodb, "orders"):
        dynamodb.put_item(TableName="orders-copy", Item=item)

    with inject(monkeypatch) as faults:
        faults.script("BatchGetItem", ("partial", 10), ("partial", 0), "throttle", "5xx", ("partial", 30))
        checked = service(**APPEND).verify(1, ["pk", "sk"])
    assert checked.append is not None and (checked.append.checked, checked.append.missing) == (60, 0)
    assert faults.injected["unprocessed keys"] == 50 + 50 + 20
    assert faults.calls["BatchGetItem"] == 6

    with inject(monkeypatch) as faults:
        faults.script("BatchGetItem", *[("partial", 0)] * 12)
        with pytest.raises(Throttled, match="BatchGetItem orders-copy: 60 keys still unprocessed after 12 attempts"):
            service(**APPEND).verify(1, ["pk", "sk"])


def test_finalize_leaves_an_append_targets_settings_to_its_owner(dynamodb: Client) -> None:
    make_target(dynamodb)

    applied = service(**APPEND).finalize_target(FinalSettings(ttl_attribute="expires_at", pitr=True))

    assert (applied.ttl_attribute, applied.pitr) == (None, False)
    assert applied.skipped == "append: the target's TTL and PITR are its owner's; left as they are"
    ttl = dynamodb.describe_time_to_live(TableName="orders-copy")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"
    pitr = dynamodb.describe_continuous_backups(TableName="orders-copy")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


def test_recreate_backs_the_target_up_before_dropping_it(dynamodb: Client, records: SettingsRecords) -> None:
    make_target(dynamodb, "stale")
    recreate = service(**RECREATE, records=records)
    planned = recreate.plan().plan
    assert planned.pre_drop_backup == BACKUP
    assert f"first back it up as {BACKUP}" in planned.actions[0]
    assert backups(dynamodb) == []  # the plan (a dry run's whole output) takes none

    state = recreate.prepare_target(planned.target_spec, PrepareState())

    assert (state.phase, state.deleted, state.created) == ("READY", True, True)
    backup = state.backup
    assert backup is not None and (backup.name, backup.status, backup.record_error) == (BACKUP, "AVAILABLE", None)
    assert own_backup_pattern("ddbkeeper", "orders-copy").match(backup.name)  # retention's own: kept by its rules
    record = records.record(backup.arn)  # and proven so: retention prunes only recorded backups
    assert record is not None and record.table == "orders-copy" and backup.record == records.url(backup.arn)
    retention = BackupService(
        BackupTask(request=parse(BackupRequest, {"tables": ["orders-copy"]}), execution=EXECUTION),
        Account(SessionFactory(), AccountAccess()),
        records,
    )
    assert [b.name for b in retention.own_backups("orders-copy")] == [BACKUP]  # the backup workflow sees it as its own
    assert records.recorded([backup.arn]) == {backup.arn}
    assert [b["BackupArn"] for b in backups(dynamodb)] == [backup.arn]
    dynamodb.restore_table_from_backup(TargetTableName="orders-before", BackupArn=backup.arn)
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-before")] == ["stale"]
    assert all_items(dynamodb, "orders-copy") == []
    report = recreate.report(
        [SegmentCheckpoint(segment=0, total_segments=1, done=True)], Verification(verify="none"), FinalSettings(), state
    )
    assert report.pre_drop_backup == backup


def test_the_drop_waits_for_the_backup_and_a_retried_step_starts_no_second(
    dynamodb: Client, records: SettingsRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_target(dynamodb, "stale")
    backups_start_creating(monkeypatch)
    recreate = service(**RECREATE, records=records)
    spec = recreate.plan().plan.target_spec

    first = recreate.prepare_target(spec, PrepareState())
    retried = recreate.prepare_target(spec, PrepareState())  # the same turn again: its reply was lost
    second = recreate.prepare_target(spec, first)

    for state in (first, retried, second):
        assert (state.phase, state.deleted) == ("BACKING_UP", False)
        assert state.backup is not None and state.backup.status == "CREATING"
    assert first.backup is not None and retried.backup == first.backup
    assert len(backups(dynamodb)) == 1
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["stale"]  # not dropped yet

    (made,) = moto_backups()
    made.status = "AVAILABLE"
    done = recreate.prepare_target(spec, second)

    assert (done.phase, done.deleted, done.polls) == ("READY", True, 3)
    assert done.backup is not None and done.backup.status == "AVAILABLE"
    assert all_items(dynamodb, "orders-copy") == []


def test_a_backup_deleted_before_it_was_available_stops_the_drop(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_target(dynamodb, "stale")
    backups_start_creating(monkeypatch)
    recreate = service(**RECREATE)
    spec = recreate.plan().plan.target_spec
    waiting = recreate.prepare_target(spec, PrepareState())
    (made,) = moto_backups()
    made.status = "DELETED"

    with pytest.raises(UnsafeOperation, match=f"the backup taken before the drop \\({BACKUP}\\) was deleted"):
        recreate.prepare_target(spec, waiting)
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["stale"]


def test_a_record_that_cannot_be_written_is_reported_not_fatal(dynamodb: Client) -> None:
    make_target(dynamodb, "stale")
    nowhere = SettingsRecords(Account(SessionFactory(), AccountAccess()), "no-such-bucket")
    recreate = service(**RECREATE, records=nowhere)

    state = recreate.prepare_target(recreate.plan().plan.target_spec, PrepareState())

    assert (state.phase, state.deleted) == ("READY", True)
    assert state.backup is not None and state.backup.record is None
    assert "PutObject s3://no-such-bucket/ddbkeeper-settings/" in (state.backup.record_error or "")
    assert "NoSuchBucket" in (state.backup.record_error or "")
    unrecorded = service(**RECREATE).prepare_target(recreate.plan().plan.target_spec, PrepareState())
    assert unrecorded.backup is None  # the table it made is this execution's: nothing to back up or drop


def test_a_recreate_that_may_not_back_up_drops_nothing(dynamodb: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    make_target(dynamodb, "stale")
    recreate = service(**RECREATE)
    spec = recreate.plan().plan.target_spec
    fail_first(monkeypatch, "create_backup", 1, lambda: JsonRESTError("AccessDeniedException", "not authorized"))

    with pytest.raises(AccessDenied, match="only tables it created \\(tag ddbkeeper:managed-by=ddbkeeper\\)"):
        recreate.prepare_target(spec, PrepareState())
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["stale"]


def test_a_protected_target_is_neither_backed_up_nor_dropped(dynamodb: Client) -> None:
    recreate = service(**RECREATE)
    spec = recreate.plan().plan.target_spec
    make_target(dynamodb, "keep", protected=True)

    with pytest.raises(UnsafeOperation, match="has deletion protection"):
        recreate.prepare_target(spec, PrepareState())
    assert backups(dynamodb) == []


def test_a_retried_recreate_step_keeps_the_table_it_already_made(dynamodb: Client, records: SettingsRecords) -> None:
    """The step dropped the old table and created the new one, but its reply was lost: the retry (the same input)
    finds the table marked as this execution's and neither backs it up nor drops it."""
    make_target(dynamodb, "stale")
    recreate = service(**RECREATE, records=records)
    spec = recreate.plan().plan.target_spec
    recreate.prepare_target(spec, PrepareState())
    dynamodb.put_item(TableName="orders-copy", Item={"pk": {"S": "copied"}, "sk": {"N": "1"}})

    again = recreate.prepare_target(spec, PrepareState())

    assert (again.phase, again.deleted, again.created, again.backup) == ("READY", True, True, None)
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["copied"]
    assert len(backups(dynamodb)) == 1


def test_two_copies_planned_into_one_new_table_do_not_both_write_into_it(dynamodb: Client) -> None:
    first = service()
    second = service(execution=Execution(name="copy-run-2", started_at=EXECUTION.started_at))
    spec, other_spec = first.plan().plan.target_spec, second.plan().plan.target_spec  # no table yet: both plans pass

    made = first.prepare_target(spec, PrepareState())

    assert (made.phase, made.created) == ("READY", True)
    with pytest.raises(TargetExists, match=r"not by this execution \(copy-run-2\): another copy or a person made it"):
        second.prepare_target(other_spec, PrepareState())
    assert first.prepare_target(spec, made).phase == "READY"  # its own later turns go on
    assert first.prepare_target(spec, PrepareState()).created  # and a retry of its first turn finds its own table
    arn = dynamodb.describe_table(TableName="orders-copy")["Table"]["TableArn"]
    tags = {tag["Key"]: tag["Value"] for tag in dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert (tags[MANAGED_BY], tags[EXECUTION_TAG]) == ("ddbkeeper", "copy-run-1")


def test_a_table_made_between_the_look_and_the_create_is_checked_the_same_way(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateTable answers ResourceInUseException: someone made it just now. Only this execution's is used."""
    copy = service(settings=CopySettings(STACK_NAME="ddbkeeper-prod"))
    spec = copy.plan().plan.target_spec
    make_target(dynamodb, "a person's")
    real = copy_service.describe
    looks = {"n": 0}

    def not_there_at_first(client: Any, table: str) -> Any:
        looks["n"] += 1
        return None if looks["n"] == 1 else real(client, table)

    monkeypatch.setattr(copy_service, "describe", not_there_at_first)

    with pytest.raises(TargetExists, match="was created after this copy was planned"):
        copy.prepare_target(spec, PrepareState())
    assert [item["pk"]["S"] for item in all_items(dynamodb, "orders-copy")] == ["a person's"]


def test_a_table_still_creating_that_hides_its_tags_is_asked_again(
    dynamodb: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether DynamoDB lists a CREATING table's tags is not something to bet a copy on: the step is retried."""
    make_target(dynamodb)
    described = dynamodb.describe_table(TableName="orders-copy")["Table"]
    fail_first(monkeypatch, "list_tags_of_resource", 2, lambda: JsonRESTError("ResourceNotFoundException", "not yet"))
    copy = service()

    with pytest.raises(TransientAwsError, match="still CREATING"):
        copy._made_here({**described, "TableStatus": "CREATING"})
    with pytest.raises(TableNotFound):
        copy._made_here(described)  # an ACTIVE table that has no tags to list is gone: no retry helps
