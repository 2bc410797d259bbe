"""Every file in events/ is exercised: one sample event per function, run through its handler by a test_handlers.py,
and every workflow input (workflow-*.json) run through its state machine by a workflow test."""

from __future__ import annotations

import pytest

from tests.support import EVENTS, ROOT

pytestmark = pytest.mark.pure

FUNCTIONS = sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").is_file())
WORKFLOW_EVENTS = {path.name for path in EVENTS.glob("workflow-*.json")}


def test_every_event_file_has_a_consumer() -> None:
    assert {path.name for path in EVENTS.glob("*.json")} == {f"{name}.json" for name in FUNCTIONS} | WORKFLOW_EVENTS
    handler_tests = "".join(path.read_text() for path in (ROOT / "tests").rglob("test_*handlers.py"))
    for name in FUNCTIONS:
        assert f'load_event("{name}.json")' in handler_tests, name
    workflow_tests = "".join(path.read_text() for path in (ROOT / "tests").rglob("test_*workflow*.py"))
    for name in WORKFLOW_EVENTS:
        assert name in workflow_tests, name
