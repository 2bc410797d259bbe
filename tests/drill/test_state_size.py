"""The drill's state stays under Step Functions' 256 KB (pure): States.DataLimitExceeded cannot be caught, so a state
that outgrew it would end the execution with no clean-up. The largest drill there is: 50 tables (the request's
limit), each an export chain of a week (a FULL export and 167 hourly incrementals), every field filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from ddbkeeper.apply import ApplyProgress
from ddbkeeper.drill.models import (
    ChainRef,
    CheckScratch,
    CleanUpScratch,
    DrillPlan,
    DrillRequest,
    DrillRun,
    DrillTableResult,
    DrillTarget,
    DrillVerification,
    Failure,
    PlannedDrill,
    SampleCheck,
    ScratchRestore,
)
from ddbkeeper.drill.verify import drill_line, drill_report, plan_actions
from ddbkeeper.models import Execution
from ddbkeeper.scratch import ScratchCleanup

pytestmark = pytest.mark.pure

LIMIT = 256 * 1024
MARGIN = 200 * 1024  # room for what a later change adds
TABLES = 50
CHAIN = 168  # a weekly FULL export and hourly incrementals, late in the week
T0 = datetime(2026, 11, 16, tzinfo=UTC)
STARTED = T0 + timedelta(days=7)
ACCOUNT = "123456789012"
EXECUTION = Execution(name="drill-weekly-3b9c0d6e-1f2a-4b5c-8d7e-9f0a1b2c3d4e", started_at=STARTED)
SCRATCH_ARN = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/"


def table_name(n: int) -> str:
    return f"payments-service-production-ledger-entries-{n:02d}"


def target(n: int) -> DrillTarget:
    name = table_name(n)
    return DrillTarget(
        table=name,
        table_arn=f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{name}",
        scratch_table=f"ddbkeeper-drill-{name}-20261123t050000250z",
        kind="export_chain",
        recovery_point="2026-11-22T23:00:00Z",
        expected_items=12_345_678,
        key_attributes=["account_id", "entry_id"],
        key_schema=[
            {"AttributeName": "account_id", "KeyType": "HASH"},
            {"AttributeName": "entry_id", "KeyType": "RANGE"},
        ],
        attribute_definitions=[
            {"AttributeName": "account_id", "AttributeType": "S"},
            {"AttributeName": "entry_id", "AttributeType": "S"},
        ],
        chain=ChainRef(
            bucket=f"ddbkeeper-exports-{ACCOUNT}-eu-west-1",
            prefix=f"ddbkeeper/{name}",
            full_end=T0,
            end=T0 + timedelta(hours=CHAIN - 1),
            exports=CHAIN,
        ),
        note=(
            "the export chain has a gap from 2026-11-22T23:00:00Z to 2026-11-23T00:00:00Z: drilled up to "
            "2026-11-22T23:00:00Z, the last point reachable from its FULL export; the 1 gap(s) leave the points up to "
            "2026-11-23T04:00:00Z unrestorable"
        ),
    )


def restore(n: int) -> ScratchRestore:
    applied = ApplyProgress(
        export=CHAIN, done=True, files=CHAIN * 4, exports_applied=CHAIN, puts=9_999_999, deletes=99_999,
        inserted=999_999, removed=99_999, write_units=12_345_678.5, throttles=999, retried_items=99_999, invocations=99,
    )  # fmt: skip
    return ScratchRestore(
        status="ACTIVE",
        started_at=STARTED,
        polls=2_000,
        wait_seconds=30,
        table_arn=SCRATCH_ARN + target(n).scratch_table,
        restore_seconds=12_345.6,
        apply=applied,
    )


VERIFICATION = DrillVerification(
    items=12_345_678,
    expected_items=12_345_678,
    count_result="ddbkeeper-drill-...: 12,345,678 items, as expected (12,345,678)",
    sample=SampleCheck(
        sampled=1000, matched=990, missing=5, different=5, source_digest="f" * 64, scratch_digest="e" * 64
    ),
    restore_seconds=12_345.6,
    recovery_point_age_seconds=21_600.0,
)
CLEANUP = ScratchCleanup(status="DELETED", polls=3, wait_seconds=20, note="deleted after the restore finished")


def result(n: int) -> DrillTableResult:
    return DrillTableResult(restore=restore(n), verification=VERIFICATION, cleanup=CLEANUP)


def size(state: Any) -> int:
    """The state as Step Functions holds it: UTF-8 JSON."""
    return len(orjson.dumps(state.model_dump(mode="json") if hasattr(state, "model_dump") else state))


def test_the_largest_drill_state_stays_well_under_the_256_kb_limit() -> None:
    request = DrillRequest(tables=[table_name(n) for n in range(TABLES)], source="export_chain", sample_size=1000)
    targets = [target(n) for n in range(TABLES)]
    plan = DrillPlan(dry_run=False, tables=targets, actions=plan_actions(targets, 10.0))
    planned = PlannedDrill(request=request, execution=EXECUTION, plan=plan)
    # an iteration's state at its fullest: everything its steps produced, a failure and a clean-up's error beside it
    failure = Failure(error="VerificationFailed", cause="x" * 2_000)
    item = CleanUpScratch(request=request, execution=EXECUTION, table=targets[-1], restore=restore(0), cleanup=CLEANUP)
    full_item = item.model_dump(mode="json") | {
        "verification": VERIFICATION.model_dump(mode="json"),
        "failure": failure.model_dump(mode="json"),
        "error": {"Error": "States.TaskFailed", "Cause": "y" * 2_000},
    }
    check = CheckScratch(request=request, execution=EXECUTION, table=targets[-1], restore=restore(0))
    results = [result(n) for n in range(TABLES)]
    run = DrillRun(request=request, execution=EXECUTION, plan=plan, results=results)
    report = drill_report(
        [drill_line(t, one, STARTED, EXECUTION.name) for t, one in run.drilled()], ["s3://b/k"] * TABLES
    )

    sizes = {
        "plan": size(planned),
        "map item": size(full_item),
        "check scratch restore": size(check),
        "results": size([one.model_dump(mode="json") for one in results]),
        "drill report input": size(run),
        "drill report output": size(report),
    }

    assert max(sizes.values()) < MARGIN < LIMIT, sizes
