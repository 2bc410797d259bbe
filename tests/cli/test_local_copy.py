"""A local copy as a user runs it: a dry run's readable plan, following the execution cheaply, and a run interrupted
(Ctrl-C, or killed) then resumed from the checkpoints the CLI kept."""

from __future__ import annotations

import json

import pytest

from tests.support import Client, cli
from tests.support.tables import all_items, create_source

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
