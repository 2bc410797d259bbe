"""`ddbkeeper status`: the deployed stack's recent executions, newest first, each with how it ended and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ddbkeeper.aws import translate_errors
from ddbkeeper.clock import as_utc, iso
from ddbkeeper.errors import InvalidInput
from ddbkeeper.executions import error_message

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

OUTPUT_SUFFIX = "StateMachineArn"  # template.yaml's outputs: BackupStateMachineArn, ..., DrillStateMachineArn


def stack_state_machines(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's state machines by workflow name, from its outputs (<Workflow>StateMachineArn)."""
    with translate_errors("DescribeStacks", stack):
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    return {
        key.removesuffix(OUTPUT_SUFFIX).lower(): value for key, value in outputs.items() if key.endswith(OUTPUT_SUFFIX)
    }


@dataclass(frozen=True)
class ExecutionLine:
    workflow: str
    name: str
    arn: str
    status: str
    started: datetime | None
    stopped: datetime | None
    error: str | None = None
    cause: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.stopped is None:
            return None
        return (self.stopped - self.started).total_seconds()

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "name": self.name,
            "arn": self.arn,
            "status": self.status,
            "started": iso(self.started),
            "stopped": iso(self.stopped),
            "seconds": self.seconds,
            "error": self.error,
            "cause": self.cause,
        }


def recent_executions(cloudformation: Any, sfn: SFNClient, stack: str, limit: int) -> list[ExecutionLine]:
    """The newest `limit` executions across the stack's workflows; a failed one says why (its error and cause)."""
    machines = stack_state_machines(cloudformation, stack)
    if not machines:
        raise InvalidInput(f"--stack-name: stack {stack} has no <Workflow>{OUTPUT_SUFFIX} output; is it ddbkeeper's?")
    lines: list[ExecutionLine] = []
    for workflow, arn in sorted(machines.items()):
        with translate_errors("ListExecutions", arn):
            executions = sfn.list_executions(stateMachineArn=arn, maxResults=limit)["executions"]
        for execution in executions:
            lines.append(
                ExecutionLine(
                    workflow=workflow,
                    name=execution["name"],
                    arn=execution["executionArn"],
                    status=execution["status"],
                    started=_moment(execution.get("startDate")),
                    stopped=_moment(execution.get("stopDate")),
                )
            )
    newest = sorted(lines, key=lambda line: line.started.timestamp() if line.started else 0.0, reverse=True)[:limit]
    return [_why(sfn, line) for line in newest]


def _moment(value: Any) -> datetime | None:
    """An execution's time as given (to the microsecond: executions started within a second still sort), in UTC."""
    moment = as_utc(value)
    if moment is not None and isinstance(value, datetime):
        moment = moment.replace(microsecond=value.microsecond)
    return moment


def _why(sfn: SFNClient, line: ExecutionLine) -> ExecutionLine:
    if line.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        return line
    with translate_errors("DescribeExecution", line.arn):
        described = sfn.describe_execution(executionArn=line.arn)
    return ExecutionLine(
        **{**line.__dict__, "error": described.get("error"), "cause": error_message(described.get("cause"))}
    )


_STYLE = {"SUCCEEDED": "green", "RUNNING": "cyan", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "yellow"}


def show_status(console: Console, stack: str, lines: list[ExecutionLine]) -> None:
    table = Table(title=f"recent executions of {escape(stack)}", title_justify="left")
    for column in ("workflow", "execution", "status", "started (UTC)", "took", "why"):
        table.add_column(column)
    for line in lines:
        style = _STYLE.get(line.status, "white")
        took = "-" if line.seconds is None else f"{line.seconds:,.0f} s"
        why = ": ".join(part for part in (line.error, line.cause) if part)
        started = f"{line.started:%Y-%m-%d %H:%M:%S}" if line.started else "-"
        table.add_row(line.workflow, escape(line.name), f"[{style}]{line.status}[/]", started, took, escape(why))
    if not lines:
        console.print(f"no executions yet in {escape(stack)}'s workflows")
        return
    console.print(table)
