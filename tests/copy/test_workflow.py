"""statemachines/copy.asl.json on the embedded runtime: several segments, several loop turns, faults, retries,
refusals."""

from __future__ import annotations

import json
import os
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import ddbkeeper.copy.service as copy_service
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.backup_names import own_backup_pattern
from ddbkeeper.copy.engine import SegmentCopier
from ddbkeeper.copy.models import SegmentCheckpoint
from ddbkeeper.errors import TransientAwsError
from ddbkeeper.executions import ExecutionResult, follow
from ddbkeeper.local.runtime import LocalRuntime
from ddbkeeper.settings import SettingsRecords
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from tests.support import Client, assumed_dynamodb, entered, history, load_event
from tests.support import run as run_workflow
from tests.support.faults import inject
from tests.support.tables import KEYS, all_items, assert_identical, create_source

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]
OTHER_ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-copy-target"


@pytest.fixture(autouse=True)
def one_page_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each CopySegment invocation returns after one page, so every segment loops several times."""
    monkeypatch.setenv("COPY_TIME_BUDGET_SECONDS", "0")


@pytest.fixture
def names() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:6]
    return lambda stem: f"{stem}-{suffix}"


def other_account() -> Client:
    return assumed_dynamodb(OTHER_ROLE)


def run(runtime: LocalRuntime, payload: dict[str, Any]) -> ExecutionResult:
    return run_workflow(runtime, "copy", payload, timeout_seconds=300)


def test_cross_account_copy_with_segments_and_loop_turns(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=500, pad=9000)
    payload = load_event("workflow-copy-cross-account.json")
    payload["source"]["table"], payload["target"]["table"] = source, target

    result = run(runtime, payload)

    assert result.succeeded, result.cause
    other = other_account()
    assert assert_identical(dynamodb, source, other, target) == 500
    report = result.output
    assert report["totals"]["items"] == 500
    assert report["totals"]["segments"] == 3
    assert report["totals"]["invocations"] > 3  # segments looped
    assert report["verification"]["verify"] == "checksum"
    assert report["verification"]["items"] == 500
    # Verified per segment in the verify Map: each segment's items on both sides, and what the copy read from it.
    lines = report["verification"]["segments"]
    assert [line["segment"] for line in lines] == [0, 1, 2]
    assert all(line["source_items"] == line["target_items"] == line["copied_items"] for line in lines)
    assert sum(line["source_items"] for line in lines) == 500
    assert report["warnings"] == []
    described = other.describe_table(TableName=target)["Table"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["by_kind"]
    assert [i["IndexName"] for i in described["LocalSecondaryIndexes"]] == ["by_score"]


def test_recreate_with_overrides_replaces_the_target(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-staging")
    create_source(dynamodb, source, items=80, pad=100)
    dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", **KEYS)
    dynamodb.put_item(TableName=target, Item={"pk": {"S": "stale"}, "sk": {"N": "1"}})
    payload = load_event("workflow-copy-recreate.json")
    payload["source"]["table"], payload["target"]["table"], payload["confirm_recreate"] = source, target, target

    result = run(runtime, payload)

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 80  # the stale item is gone with the old table
    described = dynamodb.describe_table(TableName=target)["Table"]
    assert described.get("GlobalSecondaryIndexes", []) == []  # by_kind dropped by the override
    tags = dynamodb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    assert {"Key": "env", "Value": "staging"} in tags


def test_unprocessed_items_and_throttling_inside_the_workflow(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=200, pad=3000)
    with inject(monkeypatch) as faults:
        faults.storm = (random.Random(11), 1)
        faults.script("BatchWriteItem", "throttle", "5xx", "throttling")
        result = run(runtime, {"source": {"table": source}, "target": {"table": target}, "segments": 2})

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 200
    assert result.output["totals"]["retried_items"] == faults.injected["unprocessed"] > 0
    assert result.output["totals"]["throttles"] >= 3


def test_a_lossy_target_fails_verification(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=60, pad=100)
    original = DynamoHandler.batch_write_item
    dropped = {"done": False}

    def drops_one_item_silently(self: DynamoHandler) -> Any:
        ((table, requests),) = self.body["RequestItems"].items()
        if table == target and not dropped["done"]:
            dropped["done"] = True
            self.body = {**self.body, "RequestItems": {table: requests[:-1]}}
        return original(self)

    monkeypatch.setattr(DynamoHandler, "batch_write_item", drops_one_item_silently)

    result = run(runtime, {"source": {"table": source}, "target": {"table": target}, "verify": "count"})

    assert result.status == "FAILED"
    assert result.error == "VerificationFailed"
    assert f"source {source} has 60 items" in (result.cause_message() or "")
    assert f"target {target} has 59 items" in (result.cause_message() or "")


@pytest.mark.parametrize("also_into_the_target", [True, False], ids=["dual-written", "source-only"])
def test_a_source_written_during_the_copy_is_reported(
    runtime: LocalRuntime,
    dynamodb: Client,
    names: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    also_into_the_target: bool,
) -> None:
    """An item appears in the source after the copy read it, before the verify Map tallies it (dual-written by an
    application into both tables, or into the source only): the report warns that the source changed (a Scan copy is
    not a snapshot); when only the source has it, the verification fails and says why."""
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=90, pad=100)
    original = DynamoHandler.scan
    written = {"done": False}
    late = {"pk": {"S": "late-arrival"}, "sk": {"N": "1"}, "note": {"S": "written during the copy"}}

    def writes_when_verification_starts(self: DynamoHandler) -> Any:
        if self.body.get("ConsistentRead") and not written["done"]:  # the verify Map's first scan
            written["done"] = True
            for table in (source, target) if also_into_the_target else (source,):
                self.dynamodb_backend.put_item(table, late)
        return original(self)

    monkeypatch.setattr(DynamoHandler, "scan", writes_when_verification_starts)

    result = run(
        runtime, {"source": {"table": source}, "target": {"table": target}, "segments": 3, "verify": "checksum"}
    )

    if also_into_the_target:
        assert result.succeeded, result.cause
        report = result.output
        assert report["totals"]["items"] == 90
        lines = report["verification"]["segments"]
        assert sum(line["copied_items"] for line in lines) == 90
        assert sum(line["source_items"] for line in lines) == sum(line["target_items"] for line in lines) == 91
        (warning,) = report["warnings"]
        assert "the source changed during the copy" in warning
        assert "the copy read" in warning and "export chain" in warning
    else:
        assert result.status == "FAILED"
        assert result.error == "VerificationFailed"
        message = result.cause_message() or ""
        assert f"checksum mismatch: source {source} has 91 items" in message
        assert "segments that differ: " in message
        assert "the source changed during the copy" in message


def test_more_segments_than_the_state_payload_holds_go_through_s3(
    runtime: LocalRuntime,
    dynamodb: Client,
    s3: Client,
    names: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past COPY_INLINE_SEGMENTS (lowered here to 2; 100 deployed) the plan lists the segments in the stack's bucket,
    both Maps read the list with ItemReader, each segment puts its final checkpoint and tally there, and the steps after
    the Maps read them back: the state carries none of them."""
    monkeypatch.setenv("COPY_INLINE_SEGMENTS", "2")
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=150, pad=3000)
    bucket = os.environ["SETTINGS_BUCKET"]

    result = run(
        runtime, {"source": {"table": source}, "target": {"table": target}, "segments": 5, "verify": "checksum"}
    )

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 150
    report = result.output
    assert (report["totals"]["segments"], report["totals"]["items"]) == (5, 150)
    assert report["verification"]["items"] == 150 and report["verification"]["differing_segments"] == []
    assert report["segments"] == [] and report["verification"]["segments"] == []  # not in the state: in the folder
    folder = f"ddbkeeper-copies/{result.arn.rsplit(':', 1)[-1]}/"
    assert report["details"] == f"s3://{bucket}/{folder}report-segments.json"
    lines = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}report-segments.json")["Body"].read())
    assert [line["segment"] for line in lines] == [0, 1, 2, 3, 4] and sum(line["items"] for line in lines) == 150
    verified = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}verification.json")["Body"].read())
    assert all(line["source_items"] == line["target_items"] == line["copied_items"] for line in verified)
    listed = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}segments.json")["Body"].read())
    assert [(start["segment"], start["total_segments"]) for start in listed] == [(n, 5) for n in range(5)]
    events = history(runtime, result)
    assert {"Copy Segments From S3", "Verify Segments From S3"} <= set(entered(events))
    entries = [e["stateEnteredEventDetails"] for e in events if e["type"].endswith("StateEntered")]
    (report_entered,) = [entry for entry in entries if entry["name"] == "Copy Report"]
    assert json.loads(report_entered["input"])["segments"] == []  # the state carried no checkpoints


@pytest.mark.parametrize("failures", [1, 100], ids=["retried", "gives-up"])
def test_a_verify_segment_that_fails_is_retried_from_its_tally(
    runtime: LocalRuntime,
    dynamodb: Client,
    names: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    failures: int,
) -> None:
    """Verify Segment's retrier: a TransientAwsError is retried with the same tally (nothing tallied twice); one that
    never clears fails the child at that state (no Catch: a redrive resumes it) and the execution with it."""
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=40, pad=100)
    original = copy_service.CopyService.verify_segment
    left = {"n": failures}

    def flaky(self: Any, tally: Any, *args: Any, **kwargs: Any) -> Any:
        if tally.segment == 1 and left["n"] > 0:
            left["n"] -= 1
            raise TransientAwsError("Scan: service unavailable (injected)")
        return original(self, tally, *args, **kwargs)

    monkeypatch.setattr(copy_service.CopyService, "verify_segment", flaky)

    result = run(runtime, {"source": {"table": source}, "target": {"table": target}, "segments": 2, "verify": "count"})

    if failures == 1:
        assert result.succeeded, result.cause
        lines = result.output["verification"]["segments"]
        assert sum(line["source_items"] for line in lines) == sum(line["target_items"] for line in lines) == 40
    else:
        # On AWS the Map fails (no tolerated failures); moto's Map passes the failed child's result on as null, which
        # Verify Copy refuses (a missing tally is never a segment skipped). Either way: no report, no success.
        assert result.status == "FAILED"
        assert result.error in ("States.ExceedToleratedFailureThreshold", "TransientAwsError", "InvalidInput")
        assert "Copy Report" not in entered(history(runtime, result))


def test_a_resume_that_copies_some_segments_verifies_all_of_them(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    """The verify Map runs over every segment of the table, not only those a resume copies: an append resumed with one
    of two segments given as done reads every source item back from the target."""
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=60, pad=100)
    first = run(runtime, {"source": {"table": source}, "target": {"table": target}, "segments": 2, "verify": "none"})
    assert first.succeeded, first.cause

    resumed = run(
        runtime,
        {
            "source": {"table": source},
            "target": {"table": target},
            "mode": "append",
            "confirm_append": target,
            "resume": [{"segment": 1, "total_segments": 2, "done": True}, {"segment": 0, "total_segments": 2}],
        },
    )

    assert resumed.succeeded, resumed.cause
    verification = resumed.output["verification"]
    assert verification["append"]["checked"] == 60 and verification["append"]["missing"] == 0
    assert [line["segment"] for line in verification["segments"]] == [0, 1]
    assert [line["copied_items"] is None for line in verification["segments"]] == [False, True]
    assert resumed.output["warnings"] == []


def test_a_segment_that_cannot_write_fails_the_execution(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=30, pad=100)
    with inject(monkeypatch) as faults:
        faults.script("BatchWriteItem", *["expired"] * 10)
        result = run(runtime, {"source": {"table": source}, "target": {"table": target}, "segments": 1})

    assert result.status == "FAILED"
    assert all_items(dynamodb, target) == []


REFUSALS = {
    "create onto an existing table": ({"mode": "create"}, "TargetExists", "exists; use mode append or recreate"),
    "recreate naming another table": (
        {"mode": "recreate", "confirm_recreate": "wrong-name"},
        "UnsafeOperation",
        "confirm_recreate: must name",
    ),
    "recreate without confirmation": ({"mode": "recreate"}, "InvalidInput", "mode recreate needs confirm_recreate"),
    "copy onto the source": (
        {"mode": "append", "onto_source": True, "confirm": "append"},
        "UnsafeOperation",
        "the target is the source",
    ),
    "recreate a protected table": (
        {"mode": "recreate", "confirm": "recreate", "protected": True},
        "UnsafeOperation",
        "has deletion protection",
    ),
    "append without confirmation": (
        {"mode": "append"},
        "InvalidInput",
        "mode append needs confirm_append naming the target table",
    ),
    "append naming another table": (
        {"mode": "append", "confirm_append": "wrong-name"},
        "UnsafeOperation",
        "confirm_append: must name",
    ),
    "append into a protected table": (
        {"mode": "append", "confirm": "append", "protected": True},
        "UnsafeOperation",
        "has deletion protection; appending overwrites items with the same keys",
    ),
    "a region the stack does not act in": (
        {"mode": "append", "confirm": "append", "target_region": "eu-west-1"},
        "InvalidInput",
        "target.region: 'eu-west-1' is not a region this stack acts in (us-east-1)",
    ),
    "garbage resume": (
        {"mode": "append", "confirm": "append", "resume": [{"segment": 0, "total_segments": 2}, {"segment": "x"}]},
        "InvalidInput",
        "resume.1.segment: Input should be a valid integer",
    ),
    "checkpoints of different runs": (
        {
            "mode": "append",
            "confirm": "append",
            "resume": [{"segment": 0, "total_segments": 2}, {"segment": 1, "total_segments": 4}],
        },
        "InvalidInput",
        "resume.1.total_segments: 4, but resume.0.total_segments is 2",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_happen_before_anything_is_touched(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], case: str
) -> None:
    change, error, fragment = REFUSALS[case]
    change = dict(change)
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=5, pad=10)
    protected = bool(change.pop("protected", False))
    dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=protected, **KEYS)
    dynamodb.put_item(TableName=target, Item={"pk": {"S": "keep-me"}, "sk": {"N": "1"}})
    if change.pop("onto_source", False):
        target = source
    if "confirm" in change:
        change[f"confirm_{change.pop('confirm')}"] = target
    where = {"region": change.pop("target_region")} if "target_region" in change else {}

    result = run(runtime, {"source": {"table": source}, "target": {"table": target, **where}, **change})

    assert result.status == "FAILED"
    assert result.error == error
    assert fragment in (result.cause_message() or "")
    assert len(all_items(dynamodb, target)) == (5 if target == source else 1)  # untouched


def test_bad_input_names_the_fields(runtime: LocalRuntime) -> None:
    result = run(runtime, load_event("workflow-copy-invalid.json"))

    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    message = result.cause_message() or ""
    assert "segments" in message
    assert "verify" in message


def test_a_failed_copy_resumes_from_its_checkpoints(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment fails after its first page; re-running with the checkpoints it reached finishes without re-copying."""
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=400, pad=9000)
    checkpoints: dict[int, dict[str, Any]] = {}

    def remember(function: str, result: Any) -> None:
        if function == "CopySegmentFunction":
            checkpoints[result["segment"]] = result

    original = DynamoHandler.batch_write_item
    writes = {"n": 0}

    def dies_after_a_while(self: DynamoHandler) -> Any:
        writes["n"] += 1
        if writes["n"] > 6:  # past the first page (5 batches): the table goes away from under the writer
            raise JsonRESTError("AccessDeniedException", "not authorized to perform dynamodb:BatchWriteItem")
        return original(self)

    with monkeypatch.context() as patch:
        patch.setattr(DynamoHandler, "batch_write_item", dies_after_a_while)
        failed = runtime.run(
            "copy", {"source": {"table": source}, "target": {"table": target}, "segments": 1}, on_result=remember
        )
    assert failed.status == "FAILED"
    first_page = checkpoints[0]
    assert not first_page["done"] and first_page["items"] > 0

    resumed = runtime.run(
        "copy",
        {
            "source": {"table": source},
            "target": {"table": target},
            "mode": "append",
            "confirm_append": target,
            "verify": "checksum",
            "resume": list(checkpoints.values()),
        },
        timeout_seconds=300,
    )

    assert resumed.succeeded, resumed.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 400
    assert resumed.output["totals"]["items"] == 400  # counted from the checkpoint on: nothing copied twice
    assert resumed.output["totals"]["invocations"] > first_page["invocations"]


def test_dry_run_plans_and_changes_nothing(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-staging")
    create_source(dynamodb, source, items=20, pad=10)
    dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", **KEYS)
    dynamodb.put_item(TableName=target, Item={"pk": {"S": "keep-me"}, "sk": {"N": "1"}})

    result = run(
        runtime,
        {
            "source": {"table": source},
            "target": {"table": target},
            "mode": "recreate",
            "confirm_recreate": target,
            "dry_run": True,
        },
    )

    assert result.succeeded, result.cause
    assert result.output["dry_run"] is True
    assert result.output["actions"][0].startswith(f"drop table {target}")
    assert any(action.startswith(f"create table {target}") for action in result.output["actions"])
    assert len(all_items(dynamodb, target)) == 1  # untouched


def test_a_table_limit_on_create_table_is_retried_by_the_state_machine(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=30, pad=100)
    calls = {"n": 0}
    original = DynamoDBBackend.create_table

    def busy_then_ok(self: DynamoDBBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == target:
            calls["n"] += 1
            if calls["n"] <= 6:  # more than botocore's own 5 attempts, so the error reaches the state machine once
                raise JsonRESTError("LimitExceededException", "Too many tables are being created at once")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "create_table", busy_then_ok)

    result = run(runtime, {"source": {"table": source}, "target": {"table": target}})

    assert result.succeeded, result.cause
    failed = [e for e in history(runtime, result) if e["type"] in ("LambdaFunctionFailed", "TaskFailed")]
    details = [e.get("lambdaFunctionFailedEventDetails", e.get("taskFailedEventDetails")) for e in failed]
    assert [detail["error"] for detail in details] == ["TableLimitExceeded"]
    assert "CreateTable" in details[0]["cause"]
    assert calls["n"] == 7
    assert assert_identical(dynamodb, source, dynamodb, target) == 30


def test_a_confirmed_append_adds_to_a_live_table_and_checks_every_item_it_wrote(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    """The target has items of its own and deletion protection (allowed in so many words); the copy's items are read
    back one by one, the target's own stay, and its TTL and PITR stay as its owner set them."""
    source, target = names("staging"), names("prod-orders")
    create_source(dynamodb, source, items=120, pad=500)
    dynamodb.update_time_to_live(TableName=source, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=True, **KEYS)
    own = [{"pk": {"S": f"prod-{n}"}, "sk": {"N": str(n)}} for n in range(7)]
    for item in own:
        dynamodb.put_item(TableName=target, Item=item)
    payload = {
        "source": {"table": source},
        "target": {"table": target},
        "mode": "append",
        "confirm_append": target,
        "allow_protected_target": True,
        "segments": 3,
        "verify": "checksum",
    }

    result = run(runtime, payload)

    assert result.succeeded, result.cause
    report = result.output
    assert report["verification"]["append"]["checked"] == 120
    assert (report["verification"]["append"]["missing"], report["verification"]["append"]["different"]) == (0, 0)
    assert report["verification"]["items"] == 120  # not the target's 127: those 7 are its own
    assert report["finalized"]["skipped"].startswith("append: the target's TTL and PITR are its owner's")
    assert report["pre_drop_backup"] is None
    everything = all_items(dynamodb, target)
    assert len(everything) == 127 and all(item in everything for item in own)
    ttl = dynamodb.describe_time_to_live(TableName=target)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_a_target_item_changed_under_an_append_fails_verification(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-live")
    create_source(dynamodb, source, items=40, pad=100)
    dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", **KEYS)
    payload = {"source": {"table": source}, "target": {"table": target}, "mode": "append", "confirm_append": target}
    victim = all_items(dynamodb, source)[3]

    def someone_writes_meanwhile(function: str, result: Any) -> None:
        if function == "FinalizeCopyFunction":  # after Copy Segments, before Verify Copy
            dynamodb.put_item(TableName=target, Item={**victim, "pad": {"S": "overwritten by its owner"}})

    result = runtime.run("copy", payload, on_result=someone_writes_meanwhile, timeout_seconds=300)

    assert result.status == "FAILED"
    assert result.error == "VerificationFailed"
    message = result.cause_message() or ""
    assert f"of 40 items of source {source}, 0 are missing from target {target} and 1 differ" in message
    assert json.dumps({"pk": victim["pk"], "sk": victim["sk"]}, sort_keys=True) in message


def test_recreate_backs_the_old_target_up_first_and_names_the_backup(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, names: Callable[[str], str]
) -> None:
    source, target = names("orders"), names("orders-staging")
    create_source(dynamodb, source, items=30, pad=100)
    dynamodb.create_table(TableName=target, BillingMode="PAY_PER_REQUEST", **KEYS)
    dynamodb.put_item(TableName=target, Item={"pk": {"S": "stale"}, "sk": {"N": "1"}})
    payload = {"source": {"table": source}, "target": {"table": target}, "mode": "recreate", "confirm_recreate": target}

    result = run(runtime, payload)

    assert result.succeeded, result.cause
    backup = result.output["pre_drop_backup"]
    assert own_backup_pattern(os.environ["BACKUP_NAME_PREFIX"], target).match(backup["name"])
    assert backup["status"] == "AVAILABLE"
    assert [s["BackupArn"] for s in dynamodb.list_backups(TableName=target)["BackupSummaries"]] == [backup["arn"]]
    records = SettingsRecords(Account(SessionFactory(), AccountAccess()), os.environ["SETTINGS_BUCKET"])
    assert backup["record"] == records.url(backup["arn"]) and records.record(backup["arn"]) is not None
    assert assert_identical(dynamodb, source, dynamodb, target) == 30  # the stale item went with the old table...
    restored = names("orders-before")
    dynamodb.restore_table_from_backup(TargetTableName=restored, BackupArn=backup["arn"])
    assert [item["pk"]["S"] for item in all_items(dynamodb, restored)] == ["stale"]  # ...and is in the backup
    tags = dynamodb.list_tags_of_resource(ResourceArn=dynamodb.describe_table(TableName=target)["Table"]["TableArn"])
    assert {"Key": "ddbkeeper:managed-by", "Value": os.environ["STACK_NAME"]} in tags["Tags"]


def test_two_create_copies_into_one_new_table_the_second_writes_nothing(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str]
) -> None:
    """Both plans pass (the table does not exist yet); Prepare Target lets only the execution that made it go on."""
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=50, pad=100)
    planned = threading.Barrier(2, timeout=60)

    def plan_together(function: str, result: Any) -> None:
        if function == "PlanCopyFunction":
            planned.wait()

    payload = {"source": {"table": source}, "target": {"table": target}}
    runtime.on_result = plan_together
    try:
        arns = [runtime.start_execution("copy", payload) for _ in range(2)]
        results = [follow(runtime.client("stepfunctions"), arn, poll_seconds=0.05, timeout_seconds=300) for arn in arns]
    finally:
        runtime.on_result = None

    assert sorted(result.status for result in results) == ["FAILED", "SUCCEEDED"]
    (won,) = [result for result in results if result.succeeded]
    (lost,) = [result for result in results if not result.succeeded]
    assert lost.error == "TargetExists"
    assert "was created after this copy was planned, and not by this execution" in (lost.cause_message() or "")
    assert "Copy Segments" not in entered(history(runtime, lost))  # it wrote nothing
    assert won.output["totals"]["items"] == 50
    assert assert_identical(dynamodb, source, dynamodb, target) == 50


def test_eight_segments_finishing_at_different_times_hold_one_cap_and_the_last_do_not_crawl(
    runtime: LocalRuntime, dynamodb: Client, names: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source's 17 hash keys fall unevenly into 8 segments: some have nothing to copy, others several times the
    average. Each starts with an eighth of the cap; as segments finish, the others take their share (the board of
    finished segments in the stack's bucket), so the cap holds and is used to the end."""
    monkeypatch.setenv("COPY_TIME_BUDGET_SECONDS", "3600")  # a segment runs to its end in one invocation
    source, target = names("orders"), names("orders-copy")
    create_source(dynamodb, source, items=510, pad=100)  # a unit an item
    cap = 60.0
    shares: list[tuple[int, float]] = []  # (items the segment copied, its share of the cap when it finished)
    original = SegmentCopier.run

    def noting_the_share(
        copier: SegmentCopier, checkpoint: SegmentCheckpoint, time_left: Any, **hooks: Any
    ) -> SegmentCheckpoint:
        after = original(copier, checkpoint, time_left, **hooks)
        shares.append((after.items, copier.writes.cap or 0.0))
        return after

    monkeypatch.setattr(SegmentCopier, "run", noting_the_share)
    with inject(monkeypatch) as faults:
        result = run(
            runtime,
            {"source": {"table": source}, "target": {"table": target}, "segments": 8, "max_write_units": cap},
        )

    assert result.succeeded, result.cause
    assert assert_identical(dynamodb, source, dynamodb, target) == 510
    per_segment = sorted(s["items"] for s in result.output["segments"])
    s3 = boto3.client("s3", endpoint_url=runtime.endpoint, region_name="us-east-1")
    execution = result.arn.rsplit(":", 1)[-1]
    board = s3.list_objects_v2(Bucket=os.environ["COPY_BOARD_BUCKET"], Prefix=f"ddbkeeper-copies/{execution}/done/")
    assert board["KeyCount"] == 8  # every segment marked itself finished
    assert per_segment[-1] >= 2 * max(per_segment[0], 1) and per_segment[-1] > 510 / 8  # uneven: they end apart
    writes = [(began, ended) for operation, began, ended in faults.calls_timed if operation == "BatchWriteItem"]
    span = max(ended for _, ended in writes) - min(began for began, _ in writes)
    units = result.output["totals"]["write_units"]
    first_batches = 8 * 25  # each segment's first batch goes at once; the cap paces what follows it
    assert (units - first_batches) / span <= cap * 1.05  # the cap held
    assert result.output["totals"]["throttles"] == 0
    # ...and was used to the end: the segment that copied most finished last with (about) the whole cap as its share,
    # where an eighth each would have left it crawling at 7.5 units/s; each share is the cap over segments running.
    assert max(shares)[1] >= cap / 2
    assert all(cap / 8 <= share <= cap + 1e-9 for _, share in shares)
    assert len({round(share, 6) for _, share in shares}) >= 3  # the shares grew as segments finished
