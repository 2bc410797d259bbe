"""Helpers shared by the tests: paths, sample events, handlers loaded the way the runtime loads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ddbkeeper.local.runtime import BoundFunction, LocalContext
from ddbkeeper.local.template import StackTemplate

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


_functions: dict[str, BoundFunction] = {}


def handler(folder: str) -> BoundFunction:
    """The function whose CodeUri is functions/<folder>/, wired as template.yaml wires it; loaded once per session."""
    if not _functions:
        for spec in StackTemplate(ROOT / "template.yaml").functions().values():
            arn = f"arn:aws:lambda:us-east-1:123456789012:function:{spec.logical_id}"
            _functions[spec.code_uri.name] = BoundFunction(spec, arn)
    return _functions[folder]


def invoke(folder: str, event: Any) -> Any:
    """Call a handler directly with a Lambda-like context (exceptions propagate, unlike through the runtime)."""
    bound = handler(folder)
    context = LocalContext(bound.spec.logical_id, bound.arn, bound.spec.memory_mb, bound.spec.timeout)
    return bound.handler()(event, context)
