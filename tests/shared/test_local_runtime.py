"""The embedded runtime gives the handlers the template's environment while it runs, and takes it back."""

from __future__ import annotations

import os

import pytest
from ddbkeeper.local.runtime import LocalRuntime

from tests.support import ROOT


def test_the_template_environment_is_set_while_the_runtime_runs_and_the_shell_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SETTINGS_BUCKET", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")

    with LocalRuntime(ROOT):
        assert os.environ["SETTINGS_BUCKET"] == "ddbkeeper-local-exportbucket"  # the stack bucket's stand-in
        assert os.environ["POWERTOOLS_LOG_LEVEL"] == "DEBUG"

    assert "SETTINGS_BUCKET" not in os.environ
    assert os.environ["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
