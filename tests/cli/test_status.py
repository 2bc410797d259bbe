"""`ddbkeeper status`: the deployed stack's recent executions, newest first, each with how it ended and why."""

from __future__ import annotations

import json

import boto3
import pytest
from ddbkeeper.cli import main
from ddbkeeper.cli.status import recent_executions
from ddbkeeper.errors import InvalidInput
from ddbkeeper.executions import follow
from moto import mock_aws

pytestmark = pytest.mark.pure


def test_status_lists_the_stacks_executions_newest_first_with_why_they_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions")
        passes = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        fails = {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "BackupFailed", "Cause": "orders: gone"}}}
        backup = sfn.create_state_machine(name="s-backup", definition=json.dumps(fails), roleArn=role)
        drill = sfn.create_state_machine(name="s-drill", definition=json.dumps(passes), roleArn=role)
        outputs = {
            "BackupStateMachineArn": {"Value": backup["stateMachineArn"]},
            "DrillStateMachineArn": {"Value": drill["stateMachineArn"]},
            "ExportBucketName": {"Value": "bucket"},
        }
        template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
        boto3.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))
        for machine, name in ((backup, "nightly-1"), (drill, "drill-1"), (backup, "nightly-2")):
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name)["executionArn"]
            follow(sfn, arn, poll_seconds=0.01, timeout_seconds=30)

        lines = recent_executions(boto3.client("cloudformation"), sfn, "s", limit=2)
        code = main(["status", "--stack-name", "s", "--json", "--limit", "5"])

        assert [(line.workflow, line.status) for line in lines] == [("backup", "FAILED"), ("drill", "SUCCEEDED")]
        assert (lines[0].error, lines[0].cause) == ("BackupFailed", "orders: gone")
        assert code == 0
        printed = json.loads(capsys.readouterr().out)
        assert sorted(line["name"] for line in printed) == ["drill-1", "nightly-1", "nightly-2"]
        with pytest.raises(InvalidInput, match="stack t has no"):
            boto3.client("cloudformation").create_stack(
                StackName="t", TemplateBody=json.dumps({"Resources": template["Resources"]})
            )
            recent_executions(boto3.client("cloudformation"), sfn, "t", limit=2)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip().startswith("ddbkeeper ")


def test_long_waits_say_how_long_and_a_copy_says_how_long_is_left() -> None:
    from ddbkeeper.cli.progress import ExecutionProgress
    from rich.console import Console

    now = [0.0]
    console = Console(record=True, width=200)
    progress = ExecutionProgress(console, clock=lambda: now[0])

    def succeeded(output: object) -> None:
        progress({"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": json.dumps(output)}})

    succeeded({"status": "IN_PROGRESS", "polls": 0, "wait_seconds": 20})
    now[0] = 125.0
    succeeded({"status": "IN_PROGRESS", "polls": 5, "wait_seconds": 40})
    succeeded({"plan": {"source_items_estimate": 10_000}})
    progress._total = 4
    for at, copied in ((130.0, 1_000), (140.0, 3_000)):
        now[0] = at
        progress.checkpoint({"segment": 0, "items": copied})
        progress._show_segments()

    assert console.export_text().splitlines() == [
        "  IN_PROGRESS (check 0); next look in 20 s",
        "  IN_PROGRESS (check 5, waiting 2 min 05 s); next look in 40 s",
        "  segments 0/4 done, 1,000 of ~10,000 items copied  (#0: 1,000)",
        "  segments 0/4 done, 3,000 of ~10,000 items copied, ~35 s left  (#0: 3,000)",
    ]
