"""Shows an execution's progress on stderr: states entered, Map progress (a bar and the time left on a terminal), a
copy's items against the source's estimate with the time left, a restore's data files as each is applied, how long a
poll loop has waited, failures and retries."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ddbkeeper.executions import error_message

_FAILED_DETAILS = ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails")
LONG_WAIT_SECONDS = 60  # a poll line says how long the loop has waited once it is this long


def _last_output(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    events = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=20)["events"]
    for event in events:
        for key in ("lambdaFunctionSucceededEventDetails", "taskSucceededEventDetails"):
            if key in event and event[key].get("output"):
                output = json.loads(event[key]["output"])
                return output if isinstance(output, dict) else None
    return None


class ExecutionProgress:
    """A history listener for `ddbkeeper.executions.follow`."""

    def __init__(self, console: Console, clock: Any = time.monotonic, *, read_children: bool = True) -> None:
        """`read_children`: look up a Distributed Map's child executions for their checkpoints (a deployed stack);
        the embedded runtime hands them over as handlers return them, and its server cannot list them anyway."""
        self.console = console
        self._read_children = read_children
        self._clock = clock
        self._expected_items = 0  # a copy's source estimate (Plan Copy), for the time left
        self._first_items: tuple[float, int] | None = None
        self._waiting_since: float | None = None
        self._map_depth = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._done = 0
        self._total = 0
        self._map_run: str | None = None
        self._segments: dict[str, int] = {}
        self._files: dict[tuple[int, int], str] = {}  # a restore's data files: the last line shown for each
        self._last_poll = 0.0
        self._last_line = ""

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered") and self._map_depth == 0:
            self.console.print(f"[cyan]→[/] {escape(event['stateEnteredEventDetails']['name'])}")
        elif kind == "MapRunStarted":
            self._map_run = event.get("mapRunStartedEventDetails", {}).get("mapRunArn")
        elif kind == "MapStateStarted":
            self._start_map(int(event.get("mapStateStartedEventDetails", {}).get("length", 0)))
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            self._advance()
        elif kind in ("MapStateSucceeded", "MapStateFailed", "MapStateAborted"):
            self._end_map(kind)
        elif kind in ("TaskSucceeded", "LambdaFunctionSucceeded"):
            self._waiting(event)
        elif kind in ("TaskFailed", "LambdaFunctionFailed"):
            details: dict[str, Any] = next((event[key] for key in _FAILED_DETAILS if key in event), {})
            cause = escape(error_message(details.get("cause")) or "")
            self._say(f"[red]✗[/] {escape(str(details.get('error', kind)))}: {cause}")

    def poll(self, sfn: Any) -> None:
        """Distributed Map children keep their own histories: count them, and read each one's last checkpoint."""
        if self._map_run is None or time.monotonic() - self._last_poll < 1.0:
            return
        self._last_poll = time.monotonic()
        # Progress is a courtesy: a failing call never breaks the run (and moto cannot list a map run's children,
        # which is why the embedded runtime hands checkpoints over directly).
        with contextlib.suppress(Exception):
            counts = sfn.describe_map_run(mapRunArn=self._map_run)["itemCounts"]
            self._total, self._done = int(counts.get("total", 0)), int(counts.get("succeeded", 0))
        if self._read_children:
            with contextlib.suppress(Exception):
                for child in sfn.list_executions(mapRunArn=self._map_run)["executions"]:
                    self.checkpoint(_last_output(sfn, child["executionArn"]))
        self._show_segments()

    def checkpoint(self, output: Any) -> None:
        """A CopySegment or Apply File result, from a child's history or (on the embedded runtime) straight from the
        handler."""
        if isinstance(output, dict) and "segment" in output and "items" in output:
            self._segments[str(output["segment"])] = int(output["items"])
        elif isinstance(output, dict) and isinstance(output.get("data"), dict) and "manifest" in output:
            self._file(output)

    def _file(self, output: dict[str, Any]) -> None:
        """One data file of a restore's export: how far it is (its line), done, or skipped as applied before."""
        with contextlib.suppress(KeyError, TypeError, ValueError):
            export, number = int(output["export"]), int(output["file"])
            items = int(output["data"]["item_count"])
            if output.get("skipped"):
                state = "already applied by this execution: skipped"
            elif output.get("done"):
                state = f"{items:,} items applied (MD5 checked)"
            else:
                state = f"at line {int(output.get('line', 0)):,} of {items:,}"
            line = f"export {export + 1}, file {number + 1}: {state}"
            if self._files.get((export, number)) != line:
                self._files[(export, number)] = line
                self._say(escape(line))

    def _waiting(self, event: dict[str, Any]) -> None:
        """A poll of a long job (an export, a restore): where it stands and when the next look comes."""
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails") or {}
        with contextlib.suppress(ValueError, TypeError):
            output = json.loads(details.get("output") or "null")
            if not isinstance(output, dict):
                return
            if "exports_applied" in output:
                self._applied(output)
                return
            plan = output.get("plan")
            if isinstance(plan, dict) and isinstance(plan.get("source_items_estimate"), int):
                self._expected_items = plan["source_items_estimate"]
            done = output.get("status") in ("ACTIVE", "COMPLETED", "FAILED", "DELETED", "GONE") or (
                output.get("pending") == 0
            )
            if "wait_seconds" in output and not done:
                now = self._clock()
                if self._waiting_since is None or not output.get("polls"):
                    self._waiting_since = now
                waited = now - self._waiting_since
                so_far = f", waiting {duration(waited)}" if waited >= LONG_WAIT_SECONDS else ""
                what = escape(str(output.get("status") or output.get("summary", "")))
                self._say(f"{what} (check {output.get('polls', 0)}{so_far}); next look in {output['wait_seconds']} s")
            elif done:
                self._waiting_since = None

    def _applied(self, output: dict[str, Any]) -> None:
        """A List Export Files turn (the restore) or an apply turn (the drill): the files applied so far and what
        comes next: the next export's files for the Map, or the line the next turn starts at."""
        line = (
            f"{output.get('files', 0):,} data files applied (MD5 checked), {output.get('puts', 0):,} puts, "
            f"{output.get('deletes', 0):,} deletes, {output.get('throttles', 0):,} throttles"
        )
        if not output.get("done") and output.get("store"):
            line += f"; export {int(output.get('export', 0)) + 1}: {output.get('listed', 0):,} data files to apply"
        elif not output.get("done") and output.get("current"):
            line += f"; going on at line {output.get('line', 0):,} of {output['current']}"
        self._say(escape(line))

    def _show_segments(self) -> None:
        if not self._segments:
            return
        copied = sum(self._segments.values())
        line = f"segments {self._done}/{self._total} done, {copied:,} items copied"
        if self._expected_items:
            line = f"segments {self._done}/{self._total} done, {copied:,} of ~{self._expected_items:,} items copied"
            line += self._time_left(copied)
        if len(self._segments) <= 8:
            line += "  (" + ", ".join(f"#{k}: {v:,}" for k, v in sorted(self._segments.items())) + ")"
        if line != self._last_line:
            self._last_line = line
            self._say(line)

    def _time_left(self, copied: int) -> str:
        """The time left at the rate items have been copied so far (the estimate is DynamoDB's, hence the ~)."""
        now = self._clock()
        if self._first_items is None:
            self._first_items = (now, copied)
            return ""
        started, at_start = self._first_items
        rate = (copied - at_start) / (now - started) if now > started else 0.0
        if rate <= 0:
            return ""
        left = max(0, self._expected_items - copied) / rate
        return f", ~{duration(left)} left"

    def _start_map(self, total: int) -> None:
        self._map_depth += 1
        if self._map_depth > 1:
            return
        self._total, self._done = total, 0
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("  items"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
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
        if self._map_run is None:  # a Distributed Map reports through its segments line instead
            self.console.print(f"  {self._done}/{self._total} items finished ({status})")

    def close(self) -> None:
        """Stop the bar, if one is showing (a run interrupted mid-Map)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _say(self, text: str) -> None:
        (self._bar.console if self._bar is not None else self.console).print(f"  {text}")


def duration(seconds: float) -> str:
    """3 s, 2 min 05 s, 1 h 02 min."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
