"""Following a Step Functions execution: the same code serves the embedded runtime and a deployed stack."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class ExecutionResult:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    seconds: float

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def cause_message(self) -> str | None:
        return error_message(self.cause)


def error_message(cause: Any) -> str | None:
    """A Lambda error reaches Step Functions as a JSON document in the cause; people want its errorMessage."""
    if cause is None:
        return None
    if not isinstance(cause, str):
        return str(cause)
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


HistoryListener = Callable[[dict[str, Any]], None]
Poller = Callable[["SFNClient"], None]


def follow(
    sfn: SFNClient,
    execution_arn: str,
    on_event: HistoryListener | None = None,
    *,
    on_poll: Poller | None = None,
    poll_seconds: float = 0.2,
    timeout_seconds: float = 6 * 3600,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionResult:
    """Wait for the execution to end, handing each new history event to `on_event` in order."""
    started = clock()
    last_event_id = 0
    while clock() - started < timeout_seconds:
        description = sfn.describe_execution(executionArn=execution_arn)
        if on_event is not None:
            for event in _history_after(sfn, execution_arn, last_event_id):
                last_event_id = event["id"]
                on_event(event)
        if on_poll is not None:
            on_poll(sfn)
        if description["status"] in TERMINAL:
            output = description.get("output")
            return ExecutionResult(
                arn=execution_arn,
                status=description["status"],
                output=json.loads(output) if output else None,
                error=description.get("error"),
                cause=description.get("cause"),
                seconds=clock() - started,
            )
        sleep(poll_seconds)
    raise TimeoutError(f"execution {execution_arn} still running after {timeout_seconds:.0f} s")


def _history_after(sfn: SFNClient, execution_arn: str, last_event_id: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(event for event in page["events"] if event["id"] > last_event_id)
    return sorted(events, key=lambda event: int(event["id"]))
