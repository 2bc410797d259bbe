"""Local copy runs the CLI can resume: each run's request and the last checkpoints its segments returned, on disk.

A run's journal is `<state dir>/runs/<run id>.json`, the run id being the execution's name; the state directory is
`$XDG_STATE_HOME/ddbkeeper` (by default `~/.local/state/ddbkeeper`). The journal is rewritten (atomically) each time a
handler returns a plan or a checkpoint, so a run stopped any way at all (Ctrl-C, a crash, SIGKILL) leaves the
checkpoints it had reached; `ddbkeeper run copy --local --resume RUN_ID` continues from them. Between returns (an
invocation may run for minutes) the journal follows the checkpoints the segments put in the stack's bucket every few
seconds (ddbkeeper.copy.checkpoints; locally that bucket is on the embedded server). A copy that succeeds
removes its journal and those of the runs it continued: the folder holds what can still be resumed.
"""

from __future__ import annotations

import json
import os
import shlex
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ddbkeeper.errors import InvalidInput

LAST = "last"  # --resume last: the newest run in the state directory


def new_run_id(workflow: str) -> str:
    """A run's id, which is its execution's name: the workflow, the time, a few random characters."""
    return f"{workflow}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where local runs are kept: $XDG_STATE_HOME/ddbkeeper, else ~/.local/state/ddbkeeper."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ddbkeeper" / "runs"


@dataclass
class LocalRun:
    """One local copy run's journal: the request it ran, whose target it writes, and where each segment stands."""

    path: Path
    run_id: str
    payload: dict[str, Any]
    owner: str  # the execution whose name the target carries (the first run of a chain of resumes)
    status: str = "RUNNING"
    resumed_from: str | None = None
    earlier: list[str] = field(default_factory=list)  # the runs this one continues, first to last
    checkpoints: dict[int, dict[str, Any]] = field(default_factory=dict)
    total_segments: int | None = None
    command: list[str] = field(default_factory=list)  # the CLI's own options to repeat on resume (--project ...)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def begin(
        cls, folder: Path, run_id: str, payload: dict[str, Any], *, command: list[str], previous: LocalRun | None = None
    ) -> LocalRun:
        run = cls(
            folder / f"{run_id}.json",
            run_id,
            payload,
            owner=previous.owner if previous is not None else run_id,
            resumed_from=previous.run_id if previous is not None else None,
            earlier=[*previous.earlier, previous.run_id] if previous is not None else [],
            command=command,
        )
        if previous is not None:  # what the earlier run reached stands until this one's segments move on
            run.checkpoints = dict(previous.checkpoints)
            run.total_segments = previous.total_segments
        run.save()
        return run

    @classmethod
    def load(cls, folder: Path, run_id: str) -> LocalRun:
        if run_id == LAST:
            runs = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime)
            if not runs:
                raise InvalidInput(f"--resume: no local runs in {folder}")
            path = runs[-1]
        else:
            path = folder / f"{run_id}.json"
        if not path.is_file():
            raise InvalidInput(f"--resume: no local run {run_id} in {folder}")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            path,
            data["run_id"],
            data["payload"],
            owner=data["owner"],
            status=data.get("status", "RUNNING"),
            resumed_from=data.get("resumed_from"),
            earlier=data.get("earlier", []),
            checkpoints={int(n): checkpoint for n, checkpoint in data.get("checkpoints", {}).items()},
            total_segments=data.get("total_segments"),
            command=data.get("command", []),
        )

    def observe(self, _function: str, result: Any) -> None:
        """A handler's result: Plan Copy's plan says where every segment starts; Copy Segment returns where one
        stands. Kept as they come (a checkpoint only moves forward: a page is written before it moves past it)."""
        if not isinstance(result, dict):
            return
        with self._lock:
            if self.status != "RUNNING":  # ended (or interrupted, and what it said it kept is what it keeps)
                return
            plan = result.get("plan")
            if isinstance(plan, dict) and isinstance(plan.get("segments"), list):
                self.total_segments = int(plan["total_segments"])
                for start in plan["segments"]:
                    self.checkpoints.setdefault(int(start["segment"]), start)
            elif "segment" in result and "total_segments" in result and "items" in result:
                self.total_segments = int(result["total_segments"])
                self.checkpoints[int(result["segment"])] = result
            else:
                return
            self._write()

    def follow_saved(self, saved: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Checkpoints the segments put in the stack's bucket while they run (every few seconds): each one further than
        the journal's is kept (and returned), so a run stopped any way re-copies seconds of work, whatever an
        invocation's length."""
        with self._lock:
            if self.status != "RUNNING":
                return []
            further = [
                checkpoint
                for checkpoint in saved
                if not (kept := self.checkpoints.get(int(checkpoint["segment"])))
                or (not kept.get("done") and int(checkpoint.get("pages", 0)) > int(kept.get("pages", 0)))
            ]
            for checkpoint in further:
                self.checkpoints[int(checkpoint["segment"])] = checkpoint
            if further:
                self._write()
            return further

    def finish(self, status: str) -> None:
        """The run's end. A copy that succeeded has nothing left to resume: its journal goes, with those of the
        interrupted runs it finished; any other end is kept for --resume."""
        with self._lock:
            self.status = status
            if status != "SUCCEEDED":
                self._write()
                return
            for run_id in [*self.earlier, self.run_id]:
                (self.path.parent / f"{run_id}.json").unlink(missing_ok=True)

    def save(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "run_id": self.run_id,
            "workflow": "copy",
            "status": self.status,
            "owner": self.owner,
            "resumed_from": self.resumed_from,
            "earlier": self.earlier,
            "saved_at": datetime.now(UTC).isoformat(),
            "payload": self.payload,
            "total_segments": self.total_segments,
            "checkpoints": {str(n): checkpoint for n, checkpoint in sorted(self.checkpoints.items())},
            "command": self.command,
        }
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(record, indent=2), encoding="utf-8")
        partial.replace(self.path)  # a reader (or a run killed mid-write) sees the old journal or the new one

    # --- what the journal says ---------------------------------------------------------------------------------------

    def copied(self) -> tuple[int, int, int]:
        """Items copied, segments done, segments in all (as the checkpoints seen say)."""
        with self._lock:
            items = sum(int(checkpoint.get("items", 0)) for checkpoint in self.checkpoints.values())
            done = sum(1 for checkpoint in self.checkpoints.values() if checkpoint.get("done"))
            return items, done, self.total_segments or len(self.checkpoints)

    def resume_payload(self) -> dict[str, Any]:
        """The request that continues this run: its checkpoints as `resume`; a create (or a recreate past its drop)
        becomes a create that adopts the target this run's chain created (`resumes`), nothing else."""
        payload = {key: value for key, value in self.payload.items() if key not in ("resume", "resumes")}
        if payload.get("mode", "create") in ("create", "recreate"):
            payload.pop("confirm_recreate", None)
            payload["mode"] = "create"
            payload["resumes"] = self.owner
        with self._lock:
            if self.checkpoints:
                payload.pop("segments", None)  # the checkpoints say how the table is cut
                payload["resume"] = [self.checkpoints[n] for n in sorted(self.checkpoints)]
        return payload

    def resume_command(self) -> str:
        return shlex.join(["ddbkeeper", "run", "copy", "--local", *self.command, "--resume", self.run_id])
