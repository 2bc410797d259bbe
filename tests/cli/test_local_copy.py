"""A local copy as a user runs it: a dry run's readable plan, following the execution cheaply, and a run interrupted
(Ctrl-C, or killed) then resumed from the checkpoints the CLI kept."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import CLI, ROOT, Client, cli
from tests.support.tables import all_items, assert_identical, create_source

pytestmark = pytest.mark.endpoint


def test_a_copy_dry_run_prints_its_plan_without_a_report(endpoint: str, remote: Client) -> None:
    """A dry run's output is the plan (segments, no totals): the readable view once crashed on it (KeyError)"""
    create_source(remote, "dry-copy-source", items=30, pad=50)
    payload = {"source": {"table": "dry-copy-source"}, "target": {"table": "dry-copy-target"}, "dry_run": True}

    done = cli(endpoint, "run", "copy", "--local", "--input", json.dumps(payload), COLUMNS="300")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "KeyError" not in done.stderr
    assert "dry run: nothing was changed" in done.stderr
    assert "create table dry-copy-target" in done.stderr
    assert "estimate: $" in done.stderr  # cost and time for the table as it is now
    for fact in ("write units", "GB-s", "state transitions", "duration", "us-east-1 list prices"):
        assert fact in done.stderr
    assert "dry-copy-target" not in remote.list_tables()["TableNames"]
    assert len(all_items(remote, "dry-copy-source")) == 30


# Each segment returns after every page: the journal has every checkpoint from the handlers' own results.
PER_PAGE = {"COPY_TIME_BUDGET_SECONDS": "1"}
# Each segment runs to its end in one invocation (the local default) and puts a checkpoint every second; the CLI's
# journal follows those, so what it keeps is seconds old however long an invocation runs.
FOLLOWED = {"COPY_CHECKPOINT_SECONDS": "1"}


def _ctrl_c_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted_then_resumed(
    endpoint: str, remote: Client, tmp_path: Path, table: str, stop: signal.Signals, *, budget: dict[str, str]
) -> tuple[dict[str, Any], int, int, str]:
    """Copy `table` through the CLI, stop it with `stop` once its progress shows items copied, then resume it.
    Returns the resumed run's report, the target's item count when it was stopped, the items its kept checkpoints
    hold, and the first run's stderr."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "XDG_STATE_HOME": str(tmp_path),
        "COLUMNS": "300",
        **budget,
    }
    payload = {"source": {"table": table}, "target": {"table": f"{table}-copy"}, "segments": 2}
    payload |= {"max_write_units": 300}  # about 4 s of copying (moto charges a unit an item), a pace to interrupt
    first = subprocess.Popen(  # noqa: S603 - the CLI under test
        [*CLI, "run", "copy", "--local", "--input", json.dumps(payload)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell's background job (`make test &`, a CI runner's) hands its children SIGINT
        # ignored, and a Python started so ignores Ctrl-C (the copy then ran to its end).
        preexec_fn=_ctrl_c_as_from_a_terminal,  # noqa: PLW1509 - one call, before the CLI's interpreter starts
    )
    assert first.stderr is not None
    deadline = threading.Timer(240, first.kill)  # a run that never shows progress ends, and the test with it
    deadline.start()
    seen = []
    for line in first.stderr:
        seen.append(line)
        copied = re.search(r"([\d,]+) of ~[\d,]+ items copied", line)
        if copied and int(copied.group(1).replace(",", "")) > 0:
            break
    first.send_signal(stop)
    seen.append(first.stderr.read())
    first.wait(timeout=60)
    deadline.cancel()
    stopped_at = len(all_items(remote, f"{table}-copy"))
    journals = [json.loads(path.read_text()) for path in (tmp_path / "ddbkeeper" / "runs").glob("*.json")]
    assert len(journals) == 1, f"journals {journals}, the first run's exit {first.returncode}:\n{''.join(seen)}"
    (journal,) = journals
    kept = sum(checkpoint["items"] for checkpoint in journal["checkpoints"].values())

    resumed = subprocess.run(  # noqa: S603 - the CLI under test
        [*CLI, "run", "copy", "--local", "--resume", "last", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert resumed.returncode == 0, resumed.stderr
    return json.loads(resumed.stdout), stopped_at, kept, "".join(seen)


def test_a_local_copy_interrupted_with_ctrl_c_is_resumed_from_its_checkpoints(
    endpoint: str, remote: Client, tmp_path: Path
) -> None:
    create_source(remote, "ctrl-c-orders", items=1200, pad=4000)  # about five 1 MB pages in each of two segments

    report, stopped_at, kept, first = _interrupted_then_resumed(
        endpoint, remote, tmp_path, "ctrl-c-orders", signal.SIGINT, budget=PER_PAGE
    )

    assert "Traceback" not in first
    interrupted = re.search(r"interrupted: ([\d,]+) items copied in the checkpoints kept", first)
    assert interrupted, first
    assert "resume with: ddbkeeper run copy --local --resume copy-" in first
    assert int(interrupted.group(1).replace(",", "")) == kept  # what it says is what it kept
    assert 0 < kept < 1200
    assert assert_identical(remote, "ctrl-c-orders", remote, "ctrl-c-orders-copy") == 1200
    assert report["totals"]["items"] == 1200  # the checkpoints' items and this run's, each item counted once
    # Written again: what the resumed run wrote that the first had already written past its checkpoints. At most the
    # page each segment was in (two segments, about 250 items a page), not the copy.
    rewritten = (1200 - kept) - (1200 - stopped_at)
    assert 0 <= rewritten <= 2 * 260


def test_a_local_copy_killed_outright_is_resumed_from_the_last_checkpoints_seen(
    endpoint: str, remote: Client, tmp_path: Path
) -> None:
    create_source(remote, "killed-orders", items=1200, pad=4000)

    report, stopped_at, kept, _ = _interrupted_then_resumed(
        endpoint, remote, tmp_path, "killed-orders", signal.SIGKILL, budget=FOLLOWED
    )

    assert assert_identical(remote, "killed-orders", remote, "killed-orders-copy") == 1200
    assert report["totals"]["items"] == 1200
    assert 0 < kept <= stopped_at <= 1200  # the journal had checkpoints when the process was killed
    assert (1200 - kept) - (1200 - stopped_at) <= 2 * 260  # re-written: at most the pages in flight
    assert list((tmp_path / "ddbkeeper" / "runs").glob("*")) == []  # finished: nothing left to resume


def test_a_resumed_create_adopts_only_the_table_its_earlier_run_made(endpoint: str, remote: Client) -> None:
    """`resumes` names the interrupted execution: a table of the same name made by anyone else is TargetExists."""
    create_source(remote, "adopt-source", items=5, pad=10)
    create_source(remote, "adopt-target", items=1, pad=10)  # made by hand: no ddbkeeper marks
    payload = {"source": {"table": "adopt-source"}, "target": {"table": "adopt-target"}, "resumes": "copy-earlier"}

    done = cli(endpoint, "run", "copy", "--local", "--input", json.dumps(payload))

    assert done.returncode == 1
    assert "TargetExists" in done.stderr
    assert "not created by the run this one resumes (copy-earlier)" in " ".join(done.stderr.split())
    assert len(all_items(remote, "adopt-target")) == 1
