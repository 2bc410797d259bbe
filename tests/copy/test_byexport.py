"""A copy by export (strategy export, auto) on moto: the request's refusals, the plan's choice and its dry run, the
export -> import -> catch-up -> count loop across two accounts, with an incremental export injected
(tests.support.catchup) since moto writes none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from ddbkeeper.copy.byexport import ExportCopier
from ddbkeeper.copy.estimate import CopyShape, cheaper, estimate, estimate_export
from ddbkeeper.copy.models import CopyPlan, CopyRequest, CopyTask, ExportCopyState, ExportCopyTask, ExportStep
from ddbkeeper.copy.service import CopyService
from ddbkeeper.errors import InvalidInput, VerificationFailed
from ddbkeeper.models import parse
from moto import mock_aws
from mypy_boto3_s3 import S3Client

from tests.support import Client, assumed, assumed_dynamodb, load_event
from tests.support.catchup import CatchUp
from tests.support.tables import assert_identical, create_source

OTHER_ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-copy-target"
BUCKET = "copy-exports"


def request(**changes: Any) -> dict[str, Any]:
    return {
        "source": {"table": "orders"},
        "target": {"table": "orders-copy", "role_arn": OTHER_ROLE},
        "strategy": "export",
        "export": {"bucket": BUCKET},
        "target_overrides": {"drop_indexes": ["by_score"]},  # ImportTable creates no LSI
    } | changes


def task(payload: dict[str, Any]) -> CopyTask:
    execution = {"name": "copy-by-export-1", "started_at": datetime.now(UTC).isoformat()}
    return parse(CopyTask, {"request": payload, "execution": execution})


def assumed_s3(role_arn: str) -> S3Client:
    return cast("S3Client", assumed("s3", role_arn))


@pytest.fixture
def home() -> Iterator[Client]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_source(client, "orders", items=50, pad=50, importable=True)
        client.update_continuous_backups(
            TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        assumed_s3(OTHER_ROLE).create_bucket(Bucket=BUCKET)
        yield client


# --- the request -------------------------------------------------------------------------------------------------


@pytest.mark.pure
@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"mode": "append", "confirm_append": "orders-copy"}, "strategy", "mode create or recreate"),
        ({"export": None}, "export.bucket", "a bucket the target account can read"),
        ({"segments": 4}, "segments", "cannot honour segments"),
        ({"max_read_units": 100}, "max_read_units", "cannot honour max_read_units"),
        ({"verify": "checksum"}, "verify", "cannot honour verify"),
        ({"target_overrides": {"stream": True}}, "target_overrides.stream", "cannot honour target_overrides.stream"),
        ({"strategy": "scan"}, "request", "export goes with strategy export or auto"),
    ],
)
def test_a_request_an_export_cannot_honour_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(CopyRequest, request(**changes), root="request")
    assert words in str(refused.value)
    assert field in str(refused.value)


@pytest.mark.pure
def test_auto_with_a_scan_only_option_is_a_request_not_a_refusal() -> None:
    asked = parse(CopyRequest, request(strategy="auto", segments=4))
    assert asked.scan_only() == ["segments"]


# --- the plan ----------------------------------------------------------------------------------------------------


def test_the_plan_refuses_a_source_without_pitr(home: Client) -> None:
    home.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    with pytest.raises(InvalidInput, match=r"source.table: orders's point-in-time recovery is off"):
        CopyService.for_task(task(request()), {}).plan()


def test_the_plan_refuses_local_indexes_import_table_cannot_create(home: Client) -> None:
    payload = request(target_overrides={})
    with pytest.raises(InvalidInput, match=r"target_overrides.drop_indexes: ImportTable cannot create local"):
        CopyService.for_task(task(payload), {}).plan()
    payload["target_overrides"] = {"drop_indexes": ["by_score"]}
    assert CopyService.for_task(task(payload), {}).plan().plan.strategy == "export"


def test_a_dry_run_compares_both_strategies_and_changes_nothing(home: Client) -> None:
    planned = CopyService.for_task(task(request(strategy="auto", dry_run=True)), {}).plan().plan

    assert planned.dry_run
    assert planned.estimate is not None and planned.export_estimate is not None
    assert planned.strategy == "scan"  # 50 small items: the export's fixed steps cost more than the writes
    assert planned.strategy_reason is not None and "scan $" in planned.strategy_reason
    assert "export $" in planned.strategy_reason
    assert planned.actions[-1].startswith("strategy scan: scan is cheaper")
    other = assumed_dynamodb(OTHER_ROLE)
    assert other.list_tables()["TableNames"] == []
    assert assumed_s3(OTHER_ROLE).list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    source_arn = home.describe_table(TableName="orders")["Table"]["TableArn"]
    assert home.list_exports(TableArn=source_arn).get("ExportSummaries", []) == []


def test_auto_without_pitr_takes_scan_and_says_why(home: Client) -> None:
    home.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    planned = CopyService.for_task(task(request(strategy="auto", dry_run=True)), {}).plan().plan
    assert planned.strategy == "scan"
    assert planned.strategy_reason is not None and "point-in-time recovery is off" in planned.strategy_reason


@pytest.mark.pure
def test_auto_takes_the_cheaper_strategy() -> None:
    big = CopyShape(items=100_000_000, bytes=100 * 1024**3, segments=100)
    small = CopyShape(items=60, bytes=6_000, segments=1)
    assert cheaper(estimate(big), estimate_export(big))[0] == "export"
    assert cheaper(estimate(small), estimate_export(small))[0] == "scan"
    # export: $0.10 per GB exported, $0.15 per GB imported
    assert estimate_export(big).export_usd == pytest.approx(10.0)
    assert estimate_export(big).import_usd == pytest.approx(15.0)


# --- the loop ----------------------------------------------------------------------------------------------------


def run_by_export(service: CopyService, limit: int = 300) -> tuple[CopyPlan, ExportCopyState]:
    planned = service.plan().plan
    state = None
    for _ in range(limit):
        state = service.by_export(planned, state, lambda: 900_000)
        if state.phase == "DONE":
            return planned, state
        time.sleep(0.02)  # moto exports and imports on a thread
    raise AssertionError(f"not DONE after {limit} steps: {state}")


def test_export_import_and_catch_up_across_accounts_item_for_item(
    home: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    catch_up = CatchUp(home, "orders", assumed_s3(OTHER_ROLE), BUCKET).install(monkeypatch)
    service = CopyService.for_task(task(request(max_write_units=500)), {})

    planned, state = run_by_export(service)

    other = assumed_dynamodb(OTHER_ROLE)
    assert assert_identical(home, "orders", other, "orders-copy") == 50  # one put, one update, one delete
    assert [export.kind for export in state.exports] == ["FULL", "INCREMENTAL"]
    (started,) = catch_up.started
    assert started["S3BucketOwner"] == "222222222222"  # the target's account owns the bucket
    assert started["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    assert state.point == state.exports[-1].end == started["IncrementalExportSpecification"]["ExportToTime"]
    assert (state.imported_items, state.apply.puts, state.apply.deletes) == (50, 2, 1)
    assert (state.apply.inserted, state.apply.removed) == (1, 1)
    assert state.counted == state.expected == 50
    verification = service.compare([], byexport=state)
    assert (verification.verify, verification.items) == ("count", 50)
    report = service.report([], verification, service.finalize_target(planned.finalize), byexport=state)
    assert report.strategy == "export" and report.point_in_time == state.point
    assert report.by_export is not None and "consistent snapshot" in report.by_export.snapshot


def test_a_target_that_lost_an_item_fails_the_count(home: Client) -> None:
    service = CopyService.for_task(task(request()), {})
    _, state = run_by_export(service)
    assert state.exports[0].where is not None and state.exports[0].where.endswith("/data/")
    short = state.model_copy(update={"counted": state.counted - 1})
    with pytest.raises(VerificationFailed, match="holds 49 items; the import brought 50"):
        service.compare([], byexport=short)


class FakeExports:
    """SourceExports with a fixed clock that records what it was asked to start."""

    def __init__(self, now: datetime) -> None:
        self.moment = now
        self.started: list[dict[str, Any]] = []

    def now(self) -> datetime:
        return self.moment

    def latest_restorable(self, table: str) -> datetime | None:
        return None

    def start(self, params: dict[str, Any]) -> dict[str, Any]:
        self.started.append(params)
        return {"ExportArn": f"arn:export/{len(self.started)}"}


@pytest.mark.pure
@pytest.mark.parametrize(
    ("minutes_now", "phase"),
    [(30, "COUNTING"), (36, "EXPORTING"), (45, "COUNTING")],  # within a window; closing in; not closing in
)
def test_the_catch_up_stops_within_a_window_or_when_it_does_not_close_in(minutes_now: int, phase: str) -> None:
    event = load_event("copy_by_export.json")
    planned = parse(ExportCopyTask, event)
    t0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    state = ExportCopyState(
        phase="CATCHING_UP",
        exports=[
            ExportStep(kind="FULL", arn="full", end=t0),
            ExportStep(kind="INCREMENTAL", arn="one", start=t0, end=t0 + timedelta(minutes=20)),
        ],
        point=t0 + timedelta(minutes=20),
    )
    exports = FakeExports(t0 + timedelta(minutes=minutes_now))
    copier = ExportCopier(
        planned.request,
        planned.execution,
        planned.plan,
        target=None,  # type: ignore[arg-type]  # not reached while catching up
        exports=exports,  # type: ignore[arg-type]
        reader=None,  # type: ignore[arg-type]
        stack_name="ddbkeeper",
    )

    after = copier.step(state, lambda: 900.0)

    assert after.phase == phase
    if phase == "EXPORTING":
        (params,) = exports.started
        window = params["IncrementalExportSpecification"]
        assert (window["ExportFromTime"], window["ExportToTime"]) == (state.point, exports.moment)
        assert params["S3BucketOwner"] == "222222222222"
        assert after.export is not None and after.export.start == state.point
