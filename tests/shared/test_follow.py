"""Following an execution reads each history event about once, however long the history grows, and looks less often
while nothing happens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ddbkeeper.executions import follow

pytestmark = pytest.mark.pure


class GrowingHistory:
    """Step Functions as AWS answers: newest first with reverseOrder, pages of maxResults, a nextToken for more.
    Each look (a call to get_execution_history with no token) lets the execution write a few more events."""

    def __init__(self, batches: list[int]) -> None:
        self.batches = list(batches)
        self.events: list[dict[str, Any]] = []
        self.sent = 0  # events returned, over all calls
        self.calls = 0

    def _grow(self) -> None:
        if self.batches:
            for _ in range(self.batches.pop(0)):
                self.events.append({"id": len(self.events) + 1, "type": "TaskStateEntered"})
            if not self.batches:
                self.events.append({"id": len(self.events) + 1, "type": "ExecutionSucceeded"})

    def get_execution_history(
        self, executionArn: str, reverseOrder: bool = False, maxResults: int = 1000, nextToken: str | None = None
    ) -> dict[str, Any]:
        self.calls += 1
        if nextToken is None and maxResults == 1:
            self._grow()  # the execution moves on between looks
        ordered = list(reversed(self.events)) if reverseOrder else list(self.events)
        start = int(nextToken or 0)
        page = ordered[start : start + maxResults]
        self.sent += len(page)
        more = start + maxResults < len(ordered)
        return {"events": page, **({"nextToken": str(start + maxResults)} if more else {})}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        ended = bool(self.events) and self.events[-1]["type"] == "ExecutionSucceeded"
        return {"status": "SUCCEEDED" if ended else "RUNNING", "output": json.dumps({"done": True})}


def test_each_history_event_is_handed_over_once_in_order_and_read_about_once() -> None:
    batches = [3, 0, 0, 2500, 0, 7, 1]  # a quiet spell, then more events at once than one page holds
    sfn = GrowingHistory(batches)
    seen: list[int] = []
    naps: list[float] = []

    result = follow(sfn, "arn", lambda event: seen.append(event["id"]), poll_seconds=0.2, sleep=naps.append)  # type: ignore[arg-type]

    assert result.succeeded and result.output == {"done": True}
    assert seen == list(range(1, len(sfn.events) + 1))  # every event, once, in order
    looks = len(naps) + 1
    assert sfn.sent <= len(sfn.events) + 2 * looks  # each event read once, plus the newest one per look
    assert max(naps) > 0.2  # quiet looks space out...
    assert max(naps) <= 2.0  # ...up to a bound


def test_a_server_that_ignores_paging_is_read_once_per_look() -> None:
    """moto returns the whole history, oldest first, whatever the parameters: events are still handed over once."""

    class WholeHistory(GrowingHistory):
        def get_execution_history(self, executionArn: str, **_: Any) -> dict[str, Any]:
            self.calls += 1
            self._grow()
            self.sent += len(self.events)
            return {"events": list(self.events)}

    sfn = WholeHistory([2, 0, 5])
    seen: list[int] = []

    follow(sfn, "arn", lambda event: seen.append(event["id"]), sleep=lambda _: None)  # type: ignore[arg-type]

    assert seen == list(range(1, len(sfn.events) + 1))
    assert sfn.calls == 3  # one call per look, not two
