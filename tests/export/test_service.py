"""Exports on moto: what lands in the bucket, the ledger's chain, and the refusals."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ddbkeeper.clock import iso, stamp
from ddbkeeper.errors import InvalidInput, TableNotFound, VerificationFailed
from ddbkeeper.export.ledger import ExportLedger
from ddbkeeper.export.models import ExportReport, ExportRequest, ExportTask
from ddbkeeper.export.service import ExportService
from ddbkeeper.export_files import ExportLocation, data_folder
from ddbkeeper.models import Execution, parse
from moto import mock_aws

from tests.support import Client, assumed_dynamodb
from tests.support.tables import all_items, create_source

BUCKET = "exports-bucket"


@pytest.fixture
def aws() -> Iterator[tuple[Client, Client]]:
    with mock_aws():
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield dynamodb, s3


def task(payload: dict[str, Any], execution: Execution) -> ExportTask:
    return ExportTask(request=parse(ExportRequest, payload), execution=execution)


def service(
    dynamodb: Client, s3: Client, task: ExportTask, clock: datetime, kms_key: str | None = None
) -> ExportService:
    ledger = ExportLedger(s3, ExportLocation(BUCKET, task.request.key_prefix(stack_bucket=False)), task.request.table)
    return ExportService(task, dynamodb, ledger, kms_key=kms_key, clock=lambda: clock)


LAG = timedelta(minutes=5)  # how far PITR's latest restorable time trails the present on DynamoDB


def pitr_window_at(started: datetime) -> Callable[..., None]:
    """moto's PITR window is one instant (when PITR was turned on): give it DynamoDB's shape as of `started`."""

    def realistic(parsed: dict[str, Any], **_: Any) -> None:
        description = parsed.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
        if description.get("PointInTimeRecoveryStatus") == "ENABLED":
            description["EarliestRestorableDateTime"] = started - timedelta(days=2)
            description["LatestRestorableDateTime"] = started - LAG

    return realistic


def export(dynamodb: Client, s3: Client, payload: dict[str, Any], started: datetime) -> ExportReport:
    """One run of the workflow's steps, as the state machine chains them, at `started`."""
    steps = service(
        dynamodb,
        s3,
        task(payload, Execution(name=f"run-{started:%H%M}", started_at=started)),
        clock=started + timedelta(seconds=5),
    )
    window = pitr_window_at(started)
    for operation in ("DescribeContinuousBackups", "UpdateContinuousBackups"):
        dynamodb.meta.events.register(f"after-call.dynamodb.{operation}", window, unique_id=f"pitr-{operation}")
    try:
        plan = steps.prepare().plan
    finally:
        for operation in ("DescribeContinuousBackups", "UpdateContinuousBackups"):
            dynamodb.meta.events.unregister(f"after-call.dynamodb.{operation}", unique_id=f"pitr-{operation}")
    assert plan.window is not None
    if plan.window.export_type == "NONE":
        return steps.record(plan, None)
    progress = steps.start(plan)
    deadline = time.monotonic() + 30
    while progress.status == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.02)  # moto runs the export on a thread
        progress = steps.check(progress)
    assert progress.status == "COMPLETED", progress.failure
    return steps.record(plan, progress)


def exported_items(s3: Client, data_url: str | None) -> list[dict[str, Any]]:
    assert data_url is not None
    prefix = data_url.removeprefix(f"s3://{BUCKET}/")
    items = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]:
        text = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()).decode()
        items += [decoded({"M": json.loads(line)["Item"]})["M"] for line in text.splitlines() if line]
    return items


def decoded(value: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON as boto3 returns it: the export's base64 binaries as bytes."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": {k: decoded(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [decoded(v) for v in inner]}
    return value


def key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["N"]


AUTO = {"table": "orders", "bucket": BUCKET, "enable_pitr": True}


def chain_started(dynamodb: Client, s3: Client, items: int) -> datetime:
    """orders with `items` items and its first AUTO export (FULL) done; when that export ran."""
    create_source(dynamodb, "orders", items=items, pad=0)
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    export(dynamodb, s3, AUTO, first)
    return first


def test_a_full_export_writes_every_item_as_dynamodb_json(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=120, pad=50)
    dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    started = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)

    report = export(dynamodb, s3, {"table": "orders", "bucket": BUCKET, "export_type": "FULL"}, started)

    assert report.status == "SUCCEEDED"
    assert report.export_type == "FULL"
    assert report.items == 120
    assert report.bytes > 0
    assert iso(report.window.end) == iso(started - LAG)  # PITR's latest restorable time, not the present
    assert report.s3 == f"s3://{BUCKET}/ddbkeeper/orders/{stamp(started - LAG)}-full/"
    assert report.data is not None
    assert report.data.startswith(report.s3 + "AWSDynamoDB/")
    assert report.data.endswith("/data/")
    exported = sorted(exported_items(s3, report.data), key=key)
    assert exported == sorted(all_items(dynamodb, "orders"), key=key)  # item for item, every attribute type


def test_an_auto_chain_over_three_runs_has_contiguous_windows(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=10, pad=0)
    payload = {"table": "orders", "bucket": BUCKET, "prefix": "backups/orders", "enable_pitr": True}
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)

    reports = [export(dynamodb, s3, payload, first + timedelta(hours=turn)) for turn in range(3)]

    assert [r.export_type for r in reports] == ["FULL", "INCREMENTAL", "INCREMENTAL"]
    assert reports[0].window.start is None
    for previous, current in itertools.pairwise(reports):
        assert current.window.start == previous.window.end
        assert current.previous_export == previous.export_arn
    ledger = s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/orders/ddbkeeper-ledger/orders/")["Contents"]
    assert len(ledger) == 3
    assert reports[2].ledger == f"s3://{BUCKET}/{max(obj['Key'] for obj in ledger)}"


def reports_window(dynamodb: Client, shift: timedelta = timedelta(0)) -> None:
    """DescribeExport as DynamoDB answers it: the window it exported (the one asked for, moved by `shift`)."""

    def answer(parsed: dict[str, Any], **_: Any) -> None:
        described = parsed.get("ExportDescription", {})
        if described.get("ExportStatus") != "COMPLETED":
            return
        asked = exports_asked[-1]
        if asked["ExportType"] == "FULL_EXPORT":
            described["ExportTime"] = asked["ExportTime"] + shift
        else:
            spec = asked["IncrementalExportSpecification"]
            described["IncrementalExportSpecification"] = {
                "ExportFromTime": spec["ExportFromTime"] + shift,
                "ExportToTime": spec["ExportToTime"] + shift,
            }

    exports_asked: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.ExportTableToPointInTime", lambda params, **_: exports_asked.append(params)
    )
    for operation in ("ExportTableToPointInTime", "DescribeExport"):
        dynamodb.meta.events.register(f"after-call.dynamodb.{operation}", answer)


def test_the_ledger_records_the_window_dynamodb_reports_exporting(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=5, pad=0)
    reports_window(dynamodb)
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)

    reports = [export(dynamodb, s3, AUTO, first + timedelta(hours=turn)) for turn in range(2)]

    assert [r.window_confirmed for r in reports] == [True, True]
    assert reports[1].window.start == reports[0].window.end


def test_an_export_of_another_window_than_planned_is_not_recorded(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    first = chain_started(dynamodb, s3, items=5)
    reports_window(dynamodb, shift=timedelta(minutes=10))

    with pytest.raises(VerificationFailed, match=r"DynamoDB exported .* the plan was .*not recorded in the ledger"):
        export(dynamodb, s3, AUTO, first + timedelta(hours=1))
    assert len(s3.list_objects_v2(Bucket=BUCKET, Prefix="ddbkeeper/orders/ddbkeeper-ledger/")["Contents"]) == 1


def test_an_auto_run_soon_after_the_last_exports_nothing(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    first = chain_started(dynamodb, s3, items=3)

    report = export(dynamodb, s3, AUTO, first + timedelta(minutes=5))

    assert report.status == "SKIPPED"
    assert len(s3.list_objects_v2(Bucket=BUCKET, Prefix="ddbkeeper/orders/ddbkeeper-ledger/")["Contents"]) == 1


def test_a_table_without_pitr_is_refused_unless_enable_pitr(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=1, pad=0)
    execution = Execution(name="run", started_at=datetime.now(UTC))
    steps = service(dynamodb, s3, task({"table": "orders", "bucket": BUCKET}, execution), clock=datetime.now(UTC))

    with pytest.raises(InvalidInput, match="enable_pitr: orders has point-in-time recovery off"):
        steps.prepare()
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_a_missing_table_is_named(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    execution = Execution(name="r", started_at=datetime.now(UTC))
    with pytest.raises(TableNotFound, match="table: nope does not exist"):
        service(dynamodb, s3, task({"table": "nope", "bucket": BUCKET}, execution), datetime.now(UTC)).prepare()


def test_the_data_folder_of_a_prefix_with_two_exports_is_ambiguous(aws: tuple[Client, Client]) -> None:
    _, s3 = aws
    for export_id in ("a", "b"):
        s3.put_object(Bucket=BUCKET, Key=f"x/AWSDynamoDB/{export_id}/data/part.gz", Body=b"")
    with pytest.raises(InvalidInput, match="prefix: s3://exports-bucket/x/ holds 2 exports"):
        data_folder(s3, ExportLocation(BUCKET, "x"))
    assert data_folder(s3, ExportLocation(BUCKET, "x/AWSDynamoDB/a")) == "x/AWSDynamoDB/a/data/"


def test_the_stacks_kms_key_encrypts_exports_unless_the_request_names_one(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=1, pad=0)
    stack_key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    sent: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.ExportTableToPointInTime", lambda params, **_: sent.append(dict(params))
    )
    now = datetime.now(UTC)
    for kms_key_id in (None, "alias/team-key"):
        payload = {"table": "orders", "bucket": BUCKET, "enable_pitr": True, "export_type": "FULL"}
        if kms_key_id:
            payload["kms_key_id"] = kms_key_id
        execution = Execution(name=f"r-{kms_key_id}", started_at=now)
        steps = service(dynamodb, s3, task(payload, execution), clock=now + timedelta(minutes=1), kms_key=stack_key)
        steps.start(steps.prepare().plan)

    assert [(p["S3SseAlgorithm"], p["S3SseKmsKeyId"]) for p in sent] == [("KMS", stack_key), ("KMS", "alias/team-key")]


@pytest.mark.usefixtures("aws")  # the bucket is in this account
def test_a_table_in_another_account_exports_through_its_role_to_this_accounts_bucket() -> None:
    """The export runs with the role's credentials and names the bucket's owner; the ledger stays with the stack.

    moto looks for the bucket in the table's account, so the export itself ends FAILED there; on AWS the bucket policy
    (ExportBucketPolicy) lets the role write into the stack's bucket."""
    role = "arn:aws:iam::222222222222:role/ddbkeeper-protection"
    other = assumed_dynamodb(role)
    create_source(other, "ledger", items=5, pad=0)
    payload = {
        "table": "ledger",
        "bucket": BUCKET,
        "bucket_owner": "123456789012",
        "role_arn": role,
        "enable_pitr": True,
    }
    steps = ExportService.for_task(task(payload, Execution(name="cross", started_at=datetime.now(UTC))), {})

    plan = steps.prepare().plan
    progress = steps.start(plan)

    assert plan.table_arn == "arn:aws:dynamodb:us-east-1:222222222222:table/ledger"
    pitr = other.describe_continuous_backups(TableName="ledger")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert ":222222222222:" in progress.arn  # started in the table's account, with the role
    assert plan.bucket_owner == "123456789012"


def test_an_export_time_after_pitrs_latest_restorable_time_is_refused(aws: tuple[Client, Client]) -> None:
    dynamodb, s3 = aws
    create_source(dynamodb, "orders", items=1, pad=0)
    started = datetime.now(UTC).replace(microsecond=0)
    payload = {"table": "orders", "bucket": BUCKET, "enable_pitr": True, "export_time": iso(started - LAG / 2)}

    with pytest.raises(InvalidInput, match=r"export_time: .* is after the table's latest restorable time"):
        export(dynamodb, s3, payload, started)
