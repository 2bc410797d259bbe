"""The embedded runtime gives the handlers the template's environment while it runs, and takes it back."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from ddbkeeper.executions import HistoryReader
from ddbkeeper.local.runtime import LOCAL_MAX_CONCURRENCY, InProcessHistory, LocalRuntime

from tests.support import ROOT


def test_the_template_environment_is_set_while_the_runtime_runs_and_the_shell_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SETTINGS_BUCKET", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")

    with LocalRuntime(ROOT):
        assert os.environ["SETTINGS_BUCKET"] == "ddbkeeper-local-exportbucket"  # the stack bucket's stand-in
        assert os.environ["POWERTOOLS_LOG_LEVEL"] == "DEBUG"

    assert "SETTINGS_BUCKET" not in os.environ
    assert os.environ["POWERTOOLS_LOG_LEVEL"] == "DEBUG"


def test_a_runtime_for_one_workflow_deploys_it_and_the_functions_it_calls_with_local_map_concurrency() -> None:
    with LocalRuntime(ROOT, workflows=["copy"]) as runtime:
        machines = runtime.client("stepfunctions").list_state_machines()["stateMachines"]
        functions = {f["FunctionName"] for f in runtime.client("lambda").list_functions()["Functions"]}
        definition = runtime.client("stepfunctions").describe_state_machine(
            stateMachineArn=runtime.state_machine_arns["copy"]
        )["definition"]

    assert [machine["name"] for machine in machines] == ["ddbkeeper-copy"]
    assert {"PlanCopyFunction", "CopySegmentFunction", "CopyReportFunction"} <= functions
    assert not functions & {"CreateBackupFunction", "PruneBackupsFunction", "StartRestoreFunction"}
    assert json.loads(definition)["States"]["Copy Segments"]["MaxConcurrency"] == LOCAL_MAX_CONCURRENCY


def test_the_follower_reads_the_history_in_process_as_the_service_pages_it() -> None:
    """The follower reads an execution's history straight from the interpreter (moto's server ignores maxResults and
    sent the whole history at every look): the same events as the server's, paged newest first on request."""
    with LocalRuntime(ROOT, workflows=["copy"]) as runtime:
        sfn = runtime.client("stepfunctions")
        result = runtime.run("copy", {"source": {"table": "no-such-table"}})  # refused in Plan Copy
        assert result.status == "FAILED"
        arn = result.arn
        served = sfn.get_execution_history(executionArn=arn)["events"]
        history = InProcessHistory(sfn)

        def without_time(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v for k, v in event.items() if k != "timestamp"} for event in events]

        newest = history.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=2)
        rest = history.get_execution_history(
            executionArn=arn, reverseOrder=True, maxResults=2, nextToken=newest["nextToken"]
        )
        read = HistoryReader(history, arn).new_events()

    assert len(served) > 4
    assert without_time(newest["events"] + rest["events"]) == without_time(served[::-1][:4])
    assert without_time(read) == without_time(served)
    assert read[-1]["type"] == "ExecutionFailed"
