"""Shows an execution's progress on stderr: states entered, Map progress (a bar on a terminal), failures and retries."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

_FAILED_DETAILS = ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails")


def _message(cause: str | None) -> str:
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


class ExecutionProgress:
    """A history listener for `ddbkeeper.executions.follow`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._map_depth = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._done = 0
        self._total = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered") and self._map_depth == 0:
            self.console.print(f"[cyan]→[/] {event['stateEnteredEventDetails']['name']}")
        elif kind == "MapStateStarted":
            self._start_map(int(event.get("mapStateStartedEventDetails", {}).get("length", 0)))
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            self._advance()
        elif kind in ("MapStateSucceeded", "MapStateFailed", "MapStateAborted"):
            self._end_map(kind)
        elif kind in ("TaskFailed", "LambdaFunctionFailed"):
            details: dict[str, Any] = next((event[key] for key in _FAILED_DETAILS if key in event), {})
            self._say(f"[red]✗[/] {details.get('error', kind)}: {_message(details.get('cause'))}")

    def _start_map(self, total: int) -> None:
        self._map_depth += 1
        if self._map_depth > 1:
            return
        self._total, self._done = total, 0
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("  items"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=self.console
            )
            self._bar.start()
            self._task = self._bar.add_task("map", total=total)
        else:
            self.console.print(f"  {total} items")

    def _advance(self) -> None:
        if self._map_depth != 1:
            return
        self._done += 1
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self._done)

    def _end_map(self, kind: str) -> None:
        self._map_depth -= 1
        if self._map_depth > 0:
            return
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        status = "done" if kind == "MapStateSucceeded" else "[red]failed[/]"
        self.console.print(f"  {self._done}/{self._total} items finished ({status})")

    def _say(self, text: str) -> None:
        (self._bar.console if self._bar is not None else self.console).print(f"  {text}")
