"""Restoring from the export chain on moto: exports written in DynamoDB's real layout by the tests, restored to a point
and compared item for item with the table as it was then; the choice of exports, and every refusal before any write."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ddbkeeper.apply import AppliedCounts, ApplyTuning, FileProgress
from ddbkeeper.errors import InvalidInput, TableNotFound, TargetExists, VerificationFailed
from ddbkeeper.export_chain import pick
from ddbkeeper.export_files import ChainEntry, read_files, read_manifest
from ddbkeeper.models import Execution, parse
from ddbkeeper.restore.models import (
    ApplyProgress,
    RestorePlan,
    RestoreReport,
    RestoreRequest,
    RestoreTask,
    SettingsProgress,
)
from ddbkeeper.restore.service import RestoreService
from ddbkeeper.settings import SETTINGS
from moto import mock_aws
from pydantic import BaseModel

from tests.support import Client
from tests.support.chain import (
    KEY_ATTRIBUTES,
    KEY_SCHEMA,
    T0,
    ChainWriter,
    History,
    Item,
    Key,
    build_chain,
    ordered,
)
from tests.support.faults import inject
from tests.support.tables import all_items

BUCKET = "chain-bucket"
PREFIX = "exports/orders"
HOUR = timedelta(hours=1)
NO_WAIT = ApplyTuning(sleep=lambda seconds: None, base_delay=0.0)
KEYS = {"key_schema": KEY_SCHEMA, "attribute_definitions": KEY_ATTRIBUTES}


# --- which exports: pure -----------------------------------------------------------------------------------------


def entry(kind: str, end: int, start: int | None = None, table: str = "orders") -> ChainEntry:
    return ChainEntry(
        table_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
        export_type=kind,  # type: ignore[arg-type]
        start=None if start is None else T0 + start * HOUR,
        end=T0 + end * HOUR,
        export_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/export/{kind[0]}{end}",
    )


CHAIN = [entry("FULL", 0), entry("INCREMENTAL", 1, 0), entry("INCREMENTAL", 2, 1), entry("FULL", 3)]
CHAIN += [entry("INCREMENTAL", 4, 3), entry("INCREMENTAL", 5, 4)]


@pytest.mark.pure
@pytest.mark.parametrize(
    ("to", "chosen"),
    [
        (None, ["F3", "I4", "I5"]),  # latest: the newest FULL and every incremental after it
        (T0 + 5 * HOUR, ["F3", "I4", "I5"]),
        (T0 + 4.5 * HOUR, ["F3", "I4"]),  # the newest window end at or before `to`
        (T0 + 2.99 * HOUR, ["F0", "I1", "I2"]),  # before the second FULL: the first chain
        (T0 + 3 * HOUR, ["F3"]),
        (T0, ["F0"]),
        (T0 + 99 * HOUR, ["F3", "I4", "I5"]),
    ],
)
def test_the_newest_full_export_at_or_before_to_then_the_incrementals_up_to_it(
    to: datetime | None, chosen: list[str]
) -> None:
    assert [e.export_arn.rsplit("/", 1)[-1] for e in pick(CHAIN, to).entries] == chosen


@pytest.mark.pure
def test_a_gap_or_an_overlap_on_the_way_is_refused_naming_it() -> None:
    gap = [entry("FULL", 0), entry("INCREMENTAL", 1, 0), entry("INCREMENTAL", 3, 2)]
    with pytest.raises(
        InvalidInput, match=r"source.to: the chain has a gap: the export before ends at 2026-09-01T01:00"
    ):
        pick(gap, None)
    assert pick(gap, T0 + 2 * HOUR).point == T0 + HOUR  # short of the gap: fine
    overlap = [entry("FULL", 0), entry("INCREMENTAL", 2, 0), entry("INCREMENTAL", 3, 1)]
    with pytest.raises(InvalidInput, match="an overlap"):
        pick(overlap, None)


@pytest.mark.pure
def test_no_full_export_before_to_is_refused() -> None:
    with pytest.raises(InvalidInput, match="records no FULL export"):
        pick([entry("INCREMENTAL", 1, 0)], None)
    with pytest.raises(InvalidInput, match="is before the chain's first FULL export"):
        pick([entry("FULL", 2)], T0 + HOUR)


@pytest.mark.pure
def test_another_tables_incrementals_in_the_same_folder_are_not_taken() -> None:
    mixed = [entry("FULL", 0), entry("INCREMENTAL", 1, 0, table="other"), entry("INCREMENTAL", 1, 0)]
    assert [e.table_arn.rsplit("/", 1)[-1] for e in pick(mixed, None).entries] == ["orders", "orders"]


# --- restores on moto --------------------------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[tuple[Client, Any]]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield boto3.client("dynamodb"), s3


def service(payload: dict[str, Any], tuning: ApplyTuning = NO_WAIT, name: str | None = None) -> RestoreService:
    """The steps of one execution (`name`, else a new one): its files and their results in the stack's bucket."""
    started = datetime.now(UTC) - timedelta(seconds=5)
    execution = Execution(name=name or f"r-{uuid.uuid4().hex[:8]}", started_at=started)
    task = RestoreTask(request=parse(RestoreRequest, payload), execution=execution)
    steps = RestoreService.for_task(task, {"SETTINGS_BUCKET": BUCKET})
    steps.tuning = tuning
    return steps


def through_json(model: BaseModel) -> Any:
    return type(model).model_validate(model.model_dump(mode="json"))


def listed(totals: ApplyProgress) -> list[FileProgress]:
    """The files List Export Files put for the Map, read as its ItemReader reads them."""
    assert totals.store is not None
    body = boto3.client("s3").get_object(Bucket=totals.store.bucket, Key=totals.store.key)["Body"].read()
    return [FileProgress.model_validate(item) for item in json.loads(body)]


def apply_file(steps: RestoreService, plan: RestorePlan, file: FileProgress, time_left: float = 1000.0) -> FileProgress:
    """One Map item: Apply File until File Applied?"""
    for _ in range(500):
        file = through_json(steps.apply_file(file, plan.key_names, plan.revert, lambda: time_left))
        if file.done:
            return file
    raise AssertionError("a file never done")


def apply_all(
    steps: RestoreService, plan: RestorePlan, time_left: float = 1000.0, totals: ApplyProgress | None = None
) -> list[ApplyProgress]:
    """List Export Files and the Map over each export's files, as the state machine loops them; every totals. The
    files of an export are applied last first: the Map gives them no order."""
    turns = [through_json(steps.list_files(plan, totals or ApplyProgress()))]
    while not turns[-1].done and len(turns) < 500:
        for file in reversed(listed(turns[-1])):
            apply_file(steps, plan, file, time_left)
        turns.append(through_json(steps.list_files(plan, turns[-1])))
    return turns


def restore(steps: RestoreService, time_left: float = 1000.0) -> tuple[RestoreReport, list[ApplyProgress]]:
    """The workflow's steps chained as statemachines/restore.asl.json chains them; every List Export Files result."""
    plan = through_json(steps.plan()).plan
    progress = through_json(steps.start(plan))
    deadline = time.monotonic() + 30
    while progress.status == "CREATING" and time.monotonic() < deadline:
        progress = through_json(steps.check(progress))
    assert progress.status == "ACTIVE", progress
    turns = apply_all(steps, plan, time_left)
    settings = SettingsProgress(pending=-1)
    for _ in range(0 if plan.existing else len(SETTINGS) + 1):  # Into An Existing Table? skips Re-apply Settings
        settings = through_json(steps.finalize(plan, settings))
        if settings.pending == 0:
            break
    return through_json(steps.verify(plan, progress, turns[-1])), turns


def chain_request(to: str, target: str = "orders-restored", **extra: Any) -> dict[str, Any]:
    return {
        "source": {"export_chain": {"table": "orders", "bucket": BUCKET, "prefix": PREFIX}, "to": to},
        "target": {"table": target, **KEYS},
        **extra,
    }


def expected(snapshot: dict[Key, Item]) -> list[Item]:
    return ordered(snapshot.values())


def test_the_chain_restores_exactly_the_table_at_the_window_end_before_to(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    snapshots = build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(80), 4)
    to = T0 + 2 * HOUR + timedelta(minutes=20)

    report, turns = restore(service(chain_request(to.isoformat())))

    assert all_items(dynamodb, "orders-restored") == expected(snapshots[2])
    assert report.restored_to == "2026-09-01T02:00:00Z"
    assert report.behind_seconds == 20 * 60
    assert report.kind == "export_chain"
    assert report.verification.result == "MATCH"
    assert report.verification.expected == report.items == len(snapshots[2])
    applied = turns[-1]
    assert (applied.exports_applied, applied.files) == (3, 6)
    assert applied.inserted - applied.removed == len(snapshots[2]) - 80


def test_latest_restores_the_end_of_the_chain_and_each_point_of_it(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    snapshots = build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(40, seed=3), 3)

    report, _ = restore(service(chain_request("latest")))
    assert all_items(dynamodb, "orders-restored") == expected(snapshots[3])
    assert (report.restored_to, report.behind_seconds) == ("2026-09-01T03:00:00Z", None)
    for hour in (0, 1):
        restore(service(chain_request((T0 + hour * HOUR).isoformat(), target=f"orders-at-{hour}")))
        assert all_items(dynamodb, f"orders-at-{hour}") == expected(snapshots[hour])


def test_exports_named_by_their_manifests_restore_from_a_copy_in_another_bucket(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, "tool/out", "orders")
    snapshots = build_chain(writer, History(30, seed=5), 2, record=False)
    s3.create_bucket(Bucket="dr-bucket")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="tool/out/"):
        for obj in page["Contents"]:
            key = "replica/" + obj["Key"].removeprefix("tool/out/")
            s3.copy_object(Bucket="dr-bucket", Key=key, CopySource={"Bucket": BUCKET, "Key": obj["Key"]})
            s3.delete_object(Bucket=BUCKET, Key=obj["Key"])  # only the copy is left
    urls = [url.replace(f"s3://{BUCKET}/tool/out/", "s3://dr-bucket/replica/") for url in writer.exports]

    report, _ = restore(service({"source": {"exports": urls}, "target": {"table": "orders-dr", **KEYS}}))

    assert all_items(dynamodb, "orders-dr") == expected(snapshots[2])
    assert report.kind == "exports"
    assert report.verification.result == "MATCH"


def test_a_new_image_chain_restores_every_item_and_says_its_count_is_unknown(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    snapshots = build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(25), 2, view="NEW_IMAGE")

    report, _ = restore(service(chain_request("latest")))

    assert all_items(dynamodb, "orders-restored") == expected(snapshots[2])
    assert report.verification.result == "COUNTED (no recorded count to compare)"


def test_a_crash_mid_file_resumes_from_its_line_and_a_rerun_skips_the_files_done(
    aws: tuple[Client, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One chunk per turn (no time left after the first), a crash in the middle of a file of the second incremental
    export: the redriven item starts from the line its state still holds, writes again what the dead invocation wrote
    and counts it once. Then every item of that export run again (a re-run of the Map): each finds its result and is
    skipped, nothing written."""
    dynamodb, s3 = aws
    monkeypatch.setattr("ddbkeeper.apply.CHUNK", 7)
    snapshots = build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(60), 3)
    crashed = {"left": 1}

    def crash(state: AppliedCounts) -> None:
        if isinstance(state, FileProgress) and state.export == 2 and state.line > 0 and crashed["left"]:
            crashed["left"] -= 1
            raise RuntimeError("Lambda killed mid-file")

    steps = service(chain_request("latest"), ApplyTuning(sleep=lambda s: None, base_delay=0.0, fault=crash))
    plan = steps.plan().plan
    progress = steps.start(plan)
    while progress.status != "ACTIVE":
        progress = steps.check(progress)
    totals = through_json(steps.list_files(plan, ApplyProgress()))
    crashes, lines = 0, []
    while not totals.done:
        for item in listed(totals):
            file = item
            for _ in range(500):
                try:
                    after = through_json(steps.apply_file(file, plan.key_names, plan.revert, lambda: 0.0))
                except RuntimeError:
                    crashes += 1  # the child still holds `file`: the retry or the redrive starts from its line
                    continue
                lines.append(after.line)
                file = after
                if file.done:
                    break
        if totals.export == 2:
            again = [steps.apply_file(file, plan.key_names, plan.revert, lambda: 0.0) for file in listed(totals)]
            assert all(file.skipped and file.done for file in again)
        totals = through_json(steps.list_files(plan, totals))

    assert crashes == 1
    assert any(line > 0 for line in lines)  # stopped inside files, and went on from there
    assert all_items(dynamodb, "orders-restored") == expected(snapshots[3])
    assert (totals.files, totals.exports_applied) == (8, 4)
    report = steps.verify(plan, progress, totals)
    assert report.verification.result == "MATCH"


def test_a_throttled_apply_loses_nothing(aws: tuple[Client, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    dynamodb, s3 = aws
    snapshots = build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(70), 2)
    with inject(monkeypatch) as faults:
        faults.storm = (random.Random(3), 1)
        faults.script("BatchWriteItem", "throttle", "5xx", "throttling")
        report, turns = restore(service(chain_request("latest", max_write_units=500.0)))

    assert all_items(dynamodb, "orders-restored") == expected(snapshots[2])
    assert report.verification.result == "MATCH"
    assert turns[-1].retried_items == faults.injected["unprocessed"] > 0
    assert turns[-1].throttles >= 3


# --- refusals: before anything is written -------------------------------------------------------------------------


def exports_request(urls: list[str], table: str = "orders-x") -> dict[str, Any]:
    return {"source": {"exports": urls}, "target": {"table": table, **KEYS}}


def test_refusals_come_at_the_plan_naming_the_field(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    build_chain(writer, History(10), 3, record=False)
    full, first, second, third = writer.exports
    other = ChainWriter(s3, BUCKET, "exports/other", "other")
    other.full(History(3).snapshot(), T0)
    other.incremental({}, {}, T0, T0 + HOUR)
    again = writer.full(History(3).snapshot(), T0 + 5 * HOUR)

    cases = {
        "incremental exports hold changes": [first, second],
        "the chain has a gap": [full, first, third],
        "is an export of arn:aws:dynamodb:us-east-1:123456789012:table/other": [full, other.exports[1]],
        "is a second FULL export": [full, again],
    }
    for message, urls in cases.items():
        with pytest.raises(InvalidInput, match=message):
            service(exports_request(urls)).plan()
    dynamodb.create_table(
        TableName="orders-x", BillingMode="PAY_PER_REQUEST", KeySchema=KEY_SCHEMA, AttributeDefinitions=KEY_ATTRIBUTES
    )
    with pytest.raises(TargetExists):
        service(exports_request([full])).plan()
    assert dynamodb.scan(TableName="orders-x")["Count"] == 0


def test_the_ledger_names_an_export_whose_manifest_describes_another_table(aws: tuple[Client, Any]) -> None:
    _, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    build_chain(writer, History(6), 1)
    other = ChainWriter(s3, BUCKET, "exports/other", "other")
    url = other.full(History(2).snapshot(), T0 + 2 * HOUR)
    # A ledger entry of `orders` pointing at `other`'s export (a hand-edited or mixed-up ledger).
    writer.table_arn, real = other.table_arn.replace("other", "orders"), writer.table_arn
    writer.record(url, None, T0 + 2 * HOUR)
    writer.table_arn = real

    with pytest.raises(InvalidInput, match=r"source.export_chain: .* describes .* of .*table/other; the ledger"):
        service(chain_request("latest")).plan()


def test_a_damaged_data_file_fails_before_a_single_item_of_it_is_written(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    build_chain(writer, History(20), 1, record=False)
    manifest = read_manifest(s3, writer.exports[1])
    damaged = read_files(s3, manifest)[0]
    body = s3.get_object(Bucket=BUCKET, Key=damaged.key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=damaged.key, Body=body + b"\x00")

    steps = service(exports_request(writer.exports))
    plan = steps.plan().plan
    progress = steps.start(plan)
    while progress.status != "ACTIVE":
        progress = steps.check(progress)
    full = through_json(steps.list_files(plan, ApplyProgress()))
    for file in listed(full):
        apply_file(steps, plan, file)
    incremental = through_json(steps.list_files(plan, full))
    assert incremental.export == 1
    written = all_items(dynamodb, "orders-x")
    with pytest.raises(VerificationFailed, match=r"MD5 .* is not the manifest's"):
        apply_file(steps, plan, listed(incremental)[0])
    assert all_items(dynamodb, "orders-x") == written  # nothing of the damaged file was applied
    with pytest.raises(VerificationFailed, match=r"MD5 .* is not the manifest's"):  # the Map ended without it
        steps.list_files(plan, incremental)


def test_incrementals_apply_only_to_a_table_keyed_as_the_export(aws: tuple[Client, Any]) -> None:
    _, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    build_chain(writer, History(8), 1, record=False)
    payload = exports_request(writer.exports)
    payload["target"] |= {
        "key_schema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "attribute_definitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    steps = service(payload)
    plan = steps.plan().plan
    progress = steps.start(plan)
    while progress.status != "ACTIVE":
        progress = steps.check(progress)
    with pytest.raises(InvalidInput, match=r"target.key_schema: .* keys its changes on pk, sk, the table on pk"):
        apply_all(steps, plan)


def test_a_chain_without_keys_takes_the_live_tables_and_refuses_when_it_is_gone(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    snapshots = build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(12), 1)
    payload = chain_request("latest")
    del payload["target"]["key_schema"], payload["target"]["attribute_definitions"]
    with pytest.raises(InvalidInput, match=r"target.key_schema: orders is gone"):
        service(payload).plan()
    dynamodb.create_table(
        TableName="orders", BillingMode="PAY_PER_REQUEST", KeySchema=KEY_SCHEMA, AttributeDefinitions=KEY_ATTRIBUTES
    )

    restore(service(payload))

    assert all_items(dynamodb, "orders-restored") == expected(snapshots[1])


# --- into an existing table: apply, revert ------------------------------------------------------------------------


def into(table: str, source: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "target": {"table": table, "existing": True}, "confirm_apply": table}


def test_incremental_exports_bring_an_existing_table_forward(aws: tuple[Client, Any]) -> None:
    """A table restored to one window, then the next windows applied to it: the table at the last one's end."""
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    snapshots = build_chain(writer, History(50), 3)
    restore(service(chain_request((T0 + HOUR).isoformat(), target="orders-live")))
    assert all_items(dynamodb, "orders-live") == expected(snapshots[1])

    report, turns = restore(service(into("orders-live", {"exports": writer.exports[2:]})))

    assert all_items(dynamodb, "orders-live") == expected(snapshots[3])
    # The table had its own items: nothing to compare a count with, and no Scan of the live table to fail the apply.
    assert (report.verification.verify, report.verification.items) == ("none", None)
    assert report.verification.result == "not counted: an existing table has items of its own"
    assert (turns[-1].exports_applied, report.restored_to) == (2, "2026-09-01T03:00:00Z")


def test_a_window_is_reverted_from_its_old_images_and_nothing_else_changes(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    snapshots = build_chain(writer, History(50, seed=8), 3)
    restore(service(chain_request("latest", target="orders-live")))
    arn = dynamodb.describe_table(TableName="orders-live")["Table"]["TableArn"]
    dynamodb.untag_resource(ResourceArn=arn, TagKeys=["ddbkeeper:managed-by"])  # a table the stack did not make
    dry = service(into("orders-live", {"revert": writer.exports[3]}) | {"dry_run": True}).plan().plan
    assert dry.actions[0].startswith("into the existing table orders-live: undo the INCREMENTAL export of orders")
    assert all_items(dynamodb, "orders-live") == expected(snapshots[3])  # the plan changed nothing

    steps = service(into("orders-live", {"revert": writer.exports[3]}))
    report, turns = restore(steps)

    assert steps.finalize(dry, SettingsProgress(pending=-1)).pending == 0  # even if asked: nothing to re-apply
    assert all_items(dynamodb, "orders-live") == expected(snapshots[2])
    assert report.kind == "revert"
    assert (report.settings, report.settings_from) == ({}, "none: an existing table keeps its own")
    assert turns[-1].inserted - turns[-1].removed == len(snapshots[2]) - len(snapshots[3])
    assert dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []  # no setting, no tag: only items


def test_what_cannot_be_reverted_or_applied_is_refused_before_anything_is_touched(aws: tuple[Client, Any]) -> None:
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    build_chain(writer, History(10), 1, record=False)
    images = ChainWriter(s3, BUCKET, "exports/new-images", "orders")
    build_chain(images, History(10), 1, view="NEW_IMAGE", record=False)
    with pytest.raises(TableNotFound, match=r"target.table: gone does not exist; target.existing applies"):
        service(into("gone", {"revert": writer.exports[1]})).plan()
    dynamodb.create_table(
        TableName="live", BillingMode="PAY_PER_REQUEST", KeySchema=KEY_SCHEMA, AttributeDefinitions=KEY_ATTRIBUTES
    )
    with pytest.raises(InvalidInput, match="is a NEW_IMAGE export: it holds what the items became, not what they"):
        service(into("live", {"revert": images.exports[1]})).plan()
    with pytest.raises(InvalidInput, match="is a FULL export: it holds a table, not the changes"):
        service(into("live", {"revert": writer.exports[0]})).plan()
    assert dynamodb.scan(TableName="live")["Count"] == 0


@pytest.mark.pure
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confirm_apply": None}, "target.existing needs confirm_apply naming the target table"),
        ({"confirm_apply": "other"}, "confirm_apply: names other, the target table is live"),
        ({"target": {"table": "live", "existing": True, "billing_mode": "PAY_PER_REQUEST"}}, "target.billing_mode: an"),
        ({"target": {"table": "live", "existing": True, **KEYS}}, "target.attribute_definitions: an existing table"),
        (
            {"source": {"backup_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/o/backup/1"}},
            "target.existing: only",
        ),
        ({"target": {"table": "live"}, "confirm_apply": None}, "source.revert: a window is undone in a table that"),
        ({"target": {"table": "live"}}, "source.revert: a window is undone"),
        (
            {"source": {"exports": [f"s3://{BUCKET}/p/AWSDynamoDB/1-a/manifest-summary.json"], "if_changed": "skip"}},
            "if_changed goes with revert",
        ),
    ],
)
def test_writing_into_an_existing_table_needs_its_name_and_changes_only_items(
    change: dict[str, Any], message: str
) -> None:
    payload = into("live", {"revert": f"s3://{BUCKET}/p/AWSDynamoDB/1-a/manifest-summary.json"}) | change
    payload = {key: value for key, value in payload.items() if value is not None}
    with pytest.raises(InvalidInput, match=message):
        parse(RestoreRequest, payload)


@pytest.mark.parametrize("if_changed", ["skip", "overwrite"])
def test_reverting_an_older_window_leaves_or_overwrites_what_changed_since(
    aws: tuple[Client, Any], if_changed: str
) -> None:
    """Window 1 undone in the table at 03:00: a key window 2 changed again (build_chain changes one key in both) is a
    conflict, left as it is unless if_changed is overwrite; every other key of window 1 goes back to 00:00."""
    dynamodb, s3 = aws
    writer = ChainWriter(s3, BUCKET, PREFIX, "orders")
    snapshots = build_chain(writer, History(40, seed=12), 3)
    restore(service(chain_request("latest", target="orders-live")))
    at0, at1, now = snapshots[0], snapshots[1], snapshots[3]
    expected_table = dict(now)
    conflicts = 0
    for key in set(at0) | set(at1):
        if at0.get(key) == at1.get(key):
            continue  # not changed in window 1
        if now.get(key) not in (at1.get(key), at0.get(key)) and if_changed == "skip":
            conflicts += 1  # changed since, and not back to what window 1 found either
            continue
        if at0.get(key) is None:
            expected_table.pop(key, None)
        else:
            expected_table[key] = at0[key]
    source = {"revert": writer.exports[1], "if_changed": if_changed}

    _, turns = restore(service(into("orders-live", source)))

    assert all_items(dynamodb, "orders-live") == expected(expected_table)
    assert turns[-1].conflicts == conflicts
    assert conflicts >= (1 if if_changed == "skip" else 0)
    assert len(turns[-1].sample_conflicts) == min(conflicts, 5)
    retried = restore(service(into("orders-live", source)))[1][-1]  # a second revert: nothing written again
    assert all_items(dynamodb, "orders-live") == expected(expected_table)
    if if_changed == "skip":
        first = turns[-1]
        assert (retried.puts + retried.deletes, retried.already) == (0, first.puts + first.deletes + first.already)
        assert retried.conflicts == first.conflicts


def test_a_chain_too_long_for_the_executions_state_is_refused_at_the_plan(
    aws: tuple[Client, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step Functions fails an execution whose state passes 256 KB, and no Catch runs: the plan refuses first, naming
    the field, when the chain has more exports than one restore takes, or the plan itself is too big."""
    dynamodb, s3 = aws
    build_chain(ChainWriter(s3, BUCKET, PREFIX, "orders"), History(10), 3)

    monkeypatch.setattr("ddbkeeper.restore.sources.MAX_EXPORTS", 3)
    with pytest.raises(
        InvalidInput, match=r"source.to: the chain to .* is 4 exports since its FULL export; .* at most 3"
    ):
        service(chain_request("latest")).plan()
    monkeypatch.setattr("ddbkeeper.restore.sources.MAX_EXPORTS", 200)
    monkeypatch.setattr("ddbkeeper.restore.service.STATE_BUDGET_BYTES", 2048)
    with pytest.raises(InvalidInput, match=r"source: the plan is \d+ KB with its 4 export manifests"):
        service(chain_request("latest")).plan()
    assert "orders-restored" not in dynamodb.list_tables()["TableNames"]
