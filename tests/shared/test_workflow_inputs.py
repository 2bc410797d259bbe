"""Every state machine refuses an input that is not even a JSON object with InvalidInput from its first step, naming
the input, never with States.Runtime (a Catch cannot merge its error into a list or a string)."""

from __future__ import annotations

from typing import Any

import pytest
from ddbkeeper.local.runtime import LocalRuntime

from tests.support import entered, history, run

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


@pytest.mark.parametrize("workflow", ["backup", "copy", "export", "restore", "drill"])
@pytest.mark.parametrize("payload", [[1, 2], "orders", 7, None], ids=["list", "string", "number", "null"])
def test_an_input_that_is_not_an_object_is_invalid_input(runtime: LocalRuntime, workflow: str, payload: Any) -> None:
    result = run(runtime, workflow, payload)

    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert "input: expected a JSON object, got" in (result.cause_message() or "")
    assert entered(history(runtime, result))[0] == "Read Input"
