"""The restore request and the step state: a bad request names its field before anything is touched; every sample
event in events/ is what its step reads, and what a step returns reads back the same after Step Functions' JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ddbkeeper.errors import InvalidInput
from ddbkeeper.export_files import ExportManifest
from ddbkeeper.models import parse
from ddbkeeper.restore.models import (
    MAX_EXPORTS,
    ApplySettings,
    CheckRestore,
    PlannedRestore,
    RestorePlan,
    RestoreRequest,
    RestoreTask,
)
from ddbkeeper.settings import TableSettings
from pydantic import BaseModel

from tests.support import load_event

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"source": {"table": "orders", "point_in_time": "2026-11-22 03:00"}, "target": {"table": "orders-6"}},
            "time zone",
        ),
        (
            {"source": {"table": "orders", "point_in_time": "noon"}, "target": {"table": "orders-6"}},
            "source.point_in_time",
        ),
        ({"source": {"table": "orders"}, "target": {"table": "orders-6"}}, "table and point_in_time go together"),
        (
            {"source": {"export": {"bucket": "b-1"}}, "target": {"table": "orders-6"}},
            "give export_arn, or bucket and prefix",
        ),
        (
            {"source": {"export": {"bucket": "bkt", "prefix": "p"}}, "target": {"table": "orders-6"}},
            "an import needs target.key_schema",
        ),
        (
            {
                "source": {"backup_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/o/backup/1"},
                "target": {"table": "orders-6", "region": "eu-west-1"},
            },
            "target.region: a backup restores in its own region",
        ),
        (
            {
                "source": {"backup_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/o/backup/1"},
                "target": {"table": "orders-6", "key_schema": [{"AttributeName": "x", "KeyType": "HASH"}]},
            },
            "only an import from an export can change the keys",
        ),
    ],
)
def test_bad_requests_name_the_field(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(RestoreRequest, payload)


@pytest.mark.parametrize(
    ("event", "model"),
    [
        ("plan_restore.json", RestoreTask),
        ("start_restore.json", PlannedRestore),
        ("check_restore.json", CheckRestore),
        ("finalize_restore.json", ApplySettings),
        ("verify_restore.json", CheckRestore),
    ],
)
def test_each_functions_sample_event_is_its_steps_input(event: str, model: type[BaseModel]) -> None:
    task = parse(model, load_event(event))
    assert isinstance(task, RestoreTask)
    assert type(task).model_validate(task.model_dump(mode="json")) == task


@pytest.mark.parametrize(
    "event",
    [
        "workflow-restore-backup.json",
        "workflow-restore-dry-run.json",
        "workflow-restore-export.json",
        "workflow-restore-point-in-time.json",
    ],
)
def test_each_workflow_sample_input_is_a_valid_request(event: str) -> None:
    assert parse(RestoreRequest, load_event(event)).target.table


def test_a_plan_goes_to_step_functions_with_its_point_in_time_as_text() -> None:
    """RestoreTableToPointInTime's RestoreDateTime leaves Plan Restore as ISO text (boto3 takes it as such)."""
    plan = RestorePlan.model_validate(load_event("start_restore.json")["plan"])
    timed = plan.model_copy(update={"params": {"RestoreDateTime": datetime(2026, 11, 22, 3, tzinfo=UTC)}})

    assert timed.model_dump(mode="json")["params"] == {"RestoreDateTime": "2026-11-22T03:00:00Z"}
    assert (plan.dry_run, plan.actions, plan.point_in_time) == (False, [], None)  # what the sample leaves out


def test_the_longest_chain_a_restore_takes_fits_step_functions_state() -> None:
    """MAX_EXPORTS exports named by their manifests, with ARNs, prefixes and keys as real ones: the request and the plan
    (every manifest), the whole state every later step carries, stay well under Step Functions' 256 KB. (Names far
    longer than these are caught by Plan Restore's own measure of the plan: the next test.)"""
    table_arn = "arn:aws:dynamodb:eu-central-1:123456789012:table/orders-production-eu"
    prefix = "ddbkeeper/orders-production-eu"
    urls, manifests = [], []
    for n in range(MAX_EXPORTS):
        folder = f"s3://dr-exports-123456789012-eu-central-1/{prefix}/AWSDynamoDB/0179{n:09d}000-0f3c9a1e"
        urls.append(f"{folder}/manifest-summary.json")
        moment = datetime(2026, 9, 1, tzinfo=UTC)
        manifests.append(
            ExportManifest(
                url=urls[-1],
                export_arn=f"{table_arn}/export/0179{n:09d}000-0f3c9a1e",
                table_arn=table_arn,
                export_type="FULL_EXPORT" if n == 0 else "INCREMENTAL_EXPORT",
                export_time=moment if n == 0 else None,
                from_time=None if n == 0 else moment,
                to_time=None if n == 0 else moment,
                output_view=None if n == 0 else "NEW_AND_OLD_IMAGES",
                item_count=10**9,
                prefix=prefix,
                files_key=f"{prefix}/AWSDynamoDB/0179{n:09d}000-0f3c9a1e/manifest-files.json",
            )
        )
    request = {
        "source": {"exports": urls},
        "target": {"table": "orders-restored", "key_schema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "attribute_definitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
    }  # fmt: skip
    task = parse(
        RestoreTask, {"request": request, "execution": {"name": "r" * 80, "started_at": "2026-11-24T00:00:00Z"}}
    )
    plan = RestorePlan(
        kind="exports",
        source_arn=table_arn,
        expected_items=10**9,
        expected_is_exact=True,
        settings=TableSettings(),
        settings_from="the request",
        params={"TableName": "orders-restored"},
        actions=["create ...", "apply ..."],
        apply=True,
        exports=manifests,
        key_names=["pk"],
    )
    state = PlannedRestore(request=task.request, execution=task.execution, plan=plan).model_dump_json()

    assert len(state.encode()) < 200 * 1024, len(state.encode())
