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
# The history events that end an execution: once one is read, its description holds the output.
_ENDING_EVENTS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
MAX_HISTORY_PAGE = 1000  # GetExecutionHistory's own maximum


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
    max_poll_seconds: float = 2.0,
    timeout_seconds: float = 6 * 3600,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionResult:
    """Wait for the execution to end, handing each new history event to `on_event` in order.

    Each look reads only the events after the last one seen, newest first (`HistoryReader`); while nothing changes the
    looks space out from `poll_seconds` to `max_poll_seconds`, and come quickly again once something does.
    """
    started = clock()
    reader = HistoryReader(sfn, execution_arn)
    interval = poll_seconds
    while clock() - started < timeout_seconds:
        events = reader.new_events()
        for event in events:
            if on_event is not None:
                on_event(event)
        if on_poll is not None:
            on_poll(sfn)
        if reader.ended or not events:  # an ending event, or (for a server that writes none) a quiet look
            description = sfn.describe_execution(executionArn=execution_arn)
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
        interval = poll_seconds if events else min(max_poll_seconds, interval * 1.5)
        sleep(interval)
    raise TimeoutError(f"execution {execution_arn} still running after {timeout_seconds:.0f} s")


class HistoryReader:
    """An execution's history, read a little at a time: each call returns the events after the last one returned.

    Event ids run 1, 2, 3...: one newest-first event says how many are new, and one newest-first read of that many
    (more pages if events arrived meanwhile) fetches them, so each event crosses the wire about once, however long the
    history grows. A server that ignores maxResults (moto returns the whole history) is read once per look.
    """

    def __init__(self, sfn: SFNClient, execution_arn: str) -> None:
        self.sfn = sfn
        self.execution_arn = execution_arn
        self.last_id = 0
        self.ended = False

    def new_events(self) -> list[dict[str, Any]]:
        newest = self._page(1)
        events = newest["events"]
        if len(events) <= 1:  # a server that keeps to maxResults: the newest event says how many are new
            if not events or int(events[0]["id"]) <= self.last_id:
                return []
            size = min(MAX_HISTORY_PAGE, int(events[0]["id"]) - self.last_id)  # the same size for every page
            page = self._page(size)
            events = list(page["events"])
            while page.get("nextToken") and events and min(int(e["id"]) for e in events) > self.last_id + 1:
                page = self._page(size, page["nextToken"])
                events.extend(page["events"])
        fresh = sorted((event for event in events if int(event["id"]) > self.last_id), key=lambda e: int(e["id"]))
        unique = [event for n, event in enumerate(fresh) if n == 0 or event["id"] != fresh[n - 1]["id"]]
        if unique:
            self.last_id = int(unique[-1]["id"])
            self.ended = self.ended or any(event["type"] in _ENDING_EVENTS for event in unique)
        return unique

    def _page(self, size: int, token: str | None = None) -> Any:
        params: dict[str, Any] = {"executionArn": self.execution_arn, "reverseOrder": True, "maxResults": size}
        if token:
            params["nextToken"] = token
        return self.sfn.get_execution_history(**params)
