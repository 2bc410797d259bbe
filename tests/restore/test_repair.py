"""Repairing chosen items of a live table on moto: a scratch table restored from a backup, the chosen items compared
and written back by the conflict policy, the scratch table dropped; item for item against the table before damage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ddbkeeper.errors import InvalidInput, TableNotFound, UnsafeOperation
from ddbkeeper.models import Execution, parse
from ddbkeeper.restore import repair as repair_module
from ddbkeeper.restore.models import RepairProgress, RestoreReport, RestoreRequest, RestoreTask, SettingsProgress
from ddbkeeper.restore.service import RestoreService
from ddbkeeper.settings import SETTINGS
from moto import mock_aws
from pydantic import BaseModel

from tests.support import Client
from tests.support.tables import all_items, create_source

Item = dict[str, Any]


@pytest.fixture
def damaged() -> Iterator[tuple[Client, str, list[Item]]]:
    """orders (60 items), its backup, then the damage: four items deleted, four changed, one added."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_source(dynamodb, "orders", items=60, pad=10)
        before = all_items(dynamodb, "orders")
        backup = dynamodb.create_backup(TableName="orders", BackupName="nightly")["BackupDetails"]["BackupArn"]
        for gone in before[:4]:
            dynamodb.delete_item(TableName="orders", Key=key(gone))
        for changed in before[4:8]:
            dynamodb.put_item(TableName="orders", Item=changed | {"kind": {"S": "damaged"}})
        dynamodb.put_item(TableName="orders", Item=before[8] | {"sk": {"N": "999"}})
        yield dynamodb, backup, before


def key(item: Item) -> Item:
    return {"pk": item["pk"], "sk": item["sk"]}


def wire_key(item: Item) -> Item:
    return {"pk": item["pk"], "sk": item["sk"]}  # strings and numbers: the same in wire form


def request(backup: str, selection: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "source": {"backup_arn": backup},
        "target": {"table": "orders", "existing": True},
        "confirm_apply": "orders",
        "repair": selection,
        **extra,
    }


def through_json(model: BaseModel) -> Any:
    return type(model).model_validate(model.model_dump(mode="json"))


def repair(payload: dict[str, Any], time_left: float = 1000.0) -> tuple[RestoreReport, RestoreService]:
    """The workflow's steps as statemachines/restore.asl.json chains them for a repair."""
    started = datetime.now(UTC) - timedelta(seconds=5)
    task = RestoreTask(request=parse(RestoreRequest, payload), execution=Execution(name="fix-1", started_at=started))
    steps = RestoreService.for_task(task, {})
    plan = through_json(steps.plan()).plan
    assert not plan.dry_run  # a repair's dry run goes through the scratch table
    progress = through_json(steps.start(plan))
    deadline = time.monotonic() + 30
    while progress.status == "CREATING" and time.monotonic() < deadline:
        progress = through_json(steps.check(progress))
    settings = SettingsProgress(pending=-1)
    for _ in range(len(SETTINGS) + 1):
        settings = through_json(steps.finalize(plan, settings))
        if settings.pending == 0:
            break
    state = RepairProgress()
    for _ in range(100):
        state = through_json(steps.repair(plan, state, lambda: time_left))
        if state.done:
            break
    return through_json(steps.drop_scratch(plan, state)), steps


def test_chosen_keys_come_back_and_nothing_else_changes(damaged: tuple[Client, str, list[Item]]) -> None:
    dynamodb, backup, before = damaged
    chosen = [before[0], before[1], before[4], before[20]]  # two deleted, one changed, one intact
    unknown = {"pk": {"S": "nobody"}, "sk": {"N": "1"}}

    report, _ = repair(request(backup, {"keys": [wire_key(i) for i in chosen] + [unknown]}))

    after = {str(key(i)): i for i in all_items(dynamodb, "orders")}
    for item in chosen:
        assert after[str(key(item))] == item
    assert str(key(before[2])) not in after  # deleted, not chosen: still deleted
    assert after[str(key(before[5]))]["kind"] == {"S": "damaged"}  # changed, not chosen: as it is
    repaired = report.repaired
    assert repaired is not None
    assert (repaired.chosen, repaired.added, repaired.overwritten, repaired.left, repaired.not_in_source) == (
        4,
        2,
        1,
        1,
        1,
    )
    assert repaired.sample_added == [wire_key(before[0]), wire_key(before[1])]
    assert dynamodb.list_tables()["TableNames"] == ["orders"]  # the scratch table is gone
    assert report.scratch is not None and report.scratch.startswith("orders-repair-")


def test_a_partition_in_pages_several_turns_missing_only_leaves_what_the_table_has(
    damaged: tuple[Client, str, list[Item]], monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, backup, before = damaged
    monkeypatch.setattr(repair_module, "KEYS_PER_TURN", 2)
    partition = before[0]["pk"]
    chosen = [i for i in before if i["pk"] == partition]

    report, _ = repair(request(backup, {"partition": {"pk": partition}, "conflict": "missing_only"}), time_left=0.0)

    after = [i for i in all_items(dynamodb, "orders") if i["pk"] == partition]
    damaged_now = {str(key(i)) for i in before[4:8]}
    for item in chosen:  # every item is back; the changed ones keep the live table's version
        (found,) = [i for i in after if key(i) == key(item)]
        assert found == (item | {"kind": {"S": "damaged"}} if str(key(item)) in damaged_now else item)
    repaired = report.repaired
    assert repaired is not None and repaired.overwritten == 0
    assert repaired.added == sum(1 for i in before[:4] if i["pk"] == partition)


def test_missing_only_leaves_an_item_written_meanwhile(
    damaged: tuple[Client, str, list[Item]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The item appears between the comparison and the conditional put: the put is refused, the item stands."""
    dynamodb, backup, before = damaged
    original = repair_module.read_items
    meanwhile = before[0] | {"kind": {"S": "written meanwhile"}}

    def read_then_someone_writes(side: Any, keys: list[Item], tuning: Any) -> list[Item]:
        found = original(side, keys, tuning)
        if side.name == "orders":
            dynamodb.put_item(TableName="orders", Item=meanwhile)
        return found

    monkeypatch.setattr(repair_module, "read_items", read_then_someone_writes)

    report, _ = repair(request(backup, {"keys": [wire_key(before[0])], "conflict": "missing_only"}))

    assert report.repaired is not None and (report.repaired.conflicts, report.repaired.added) == (1, 0)
    (found,) = [i for i in all_items(dynamodb, "orders") if key(i) == key(before[0])]
    assert found == meanwhile


def test_a_filter_expression_chooses_the_items(damaged: tuple[Client, str, list[Item]]) -> None:
    dynamodb, backup, before = damaged
    selection = {"filter": {"expression": "#k = :v", "names": {"#k": "kind"}, "values": {":v": {"S": "refund"}}}}

    report, _ = repair(request(backup, selection))

    refunds = [i for i in before if i["kind"] == {"S": "refund"}]
    after = {str(key(i)): i for i in all_items(dynamodb, "orders")}
    assert all(after[str(key(i))] == i for i in refunds)
    assert report.repaired is not None and report.repaired.chosen == len(refunds)


def test_a_dry_run_reports_what_would_change_and_writes_nothing(damaged: tuple[Client, str, list[Item]]) -> None:
    dynamodb, backup, before = damaged
    untouched = all_items(dynamodb, "orders")

    report, _ = repair(request(backup, {"keys": [wire_key(i) for i in before[:10]]}, dry_run=True))

    assert all_items(dynamodb, "orders") == untouched
    assert report.repaired is not None
    assert (report.repaired.added, report.repaired.overwritten, report.repaired.left) == (4, 4, 2)
    assert report.repaired.write_units == 0
    assert dynamodb.list_tables()["TableNames"] == ["orders"]


def test_the_scratch_table_is_dropped_only_when_it_is_this_executions(
    damaged: tuple[Client, str, list[Item]],
) -> None:
    dynamodb, backup, before = damaged
    payload = request(backup, {"keys": [wire_key(before[0])]})
    started = datetime.now(UTC) - timedelta(seconds=5)
    task = RestoreTask(request=parse(RestoreRequest, payload), execution=Execution(name="fix-2", started_at=started))
    steps = RestoreService.for_task(task, {})
    plan = steps.plan().plan
    steps.start(plan)  # restored, not yet tagged as the stack's and this execution's
    with pytest.raises(UnsafeOperation, match="not the scratch table this execution made"):
        steps.drop_scratch(plan, None)
    assert plan.params["TargetTableName"] in dynamodb.list_tables()["TableNames"]


@pytest.mark.pure
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repair": {}}, "give exactly one of keys, partition or filter"),
        ({"repair": {"keys": [{"pk": {"S": "a"}}], "partition": {"pk": {"S": "a"}}}}, "give exactly one of keys"),
        ({"repair": {"partition": {"pk": {"S": "a"}, "sk": {"N": "1"}}}}, "repair.partition"),
        ({"repair": {"keys": [{"pk": {"S": "a"}}], "conflict": "merge"}}, "repair.conflict"),
        ({"target": {"table": "orders"}}, "repair: items are repaired in a table that exists"),
        ({"source": {"exports": ["s3://b-1/AWSDynamoDB/1/manifest-summary.json"]}}, "repair: items are repaired from"),
        ({"confirm_apply": None}, "target.existing needs confirm_apply"),
        (
            {"target": {"table": "orders", "existing": True, "role_arn": "arn:aws:iam::222222222222:role/x"}},
            "target.role_arn: a repair acts in the stack's own account",
        ),
    ],
)
def test_a_repair_names_what_is_wrong_with_it(change: dict[str, Any], message: str) -> None:
    payload = request("arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/1", {"keys": [{"pk": {"S": "a"}}]})
    payload = {k: v for k, v in (payload | change).items() if v is not None}
    with pytest.raises(InvalidInput, match=message):
        parse(RestoreRequest, payload)


def test_a_repair_of_a_missing_table_is_refused_before_the_scratch_table(
    damaged: tuple[Client, str, list[Item]],
) -> None:
    dynamodb, backup, _ = damaged
    payload = request(backup, {"keys": [{"pk": {"S": "a"}, "sk": {"N": "1"}}]})
    payload["target"]["table"] = payload["confirm_apply"] = "gone"
    task = RestoreTask(
        request=parse(RestoreRequest, payload), execution=Execution(name="fix-3", started_at=datetime.now(UTC))
    )
    with pytest.raises(TableNotFound, match=r"target.table: gone does not exist; a repair writes into a table that"):
        RestoreService.for_task(task, {}).plan()
    assert dynamodb.list_tables()["TableNames"] == ["orders"]


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"keys": [{"pk": {"S": "customer-001"}}]}, r"repair.keys\[0\]: .* is not a key of orders: give pk \(S\), sk"),
        ({"keys": [{"pk": {"S": "customer-001"}, "sk": {"S": "1"}}]}, r"repair.keys\[0\]: .* give pk \(S\), sk \(N\)"),
        (
            {"keys": [{"pk": {"S": "c"}, "sk": {"N": "1"}}, {"sk": {"N": "1"}, "pk": {"S": "c"}}]},
            r"repair.keys\[1\]: the same key as repair.keys\[0\]",
        ),
        ({"partition": {"sk": {"N": "1"}}}, r"repair.partition: .* does not name the partition key of orders: give pk"),
        ({"filter": {"expression": "#k = :v", "values": {":v": {"S": "x"}}}}, r"repair.filter.names: #k is in the"),
    ],
)
def test_chosen_items_that_cannot_be_read_are_refused_before_the_scratch_table(
    damaged: tuple[Client, str, list[Item]], selection: dict[str, Any], message: str
) -> None:
    """What Repair Items would only find out after a restore of hours is refused at the plan, the field named."""
    dynamodb, backup, _ = damaged
    task = RestoreTask(
        request=parse(RestoreRequest, request(backup, selection)),
        execution=Execution(name="fix-4", started_at=datetime.now(UTC)),
    )
    with pytest.raises(InvalidInput, match=message):
        RestoreService.for_task(task, {}).plan()
    assert dynamodb.list_tables()["TableNames"] == ["orders"]
