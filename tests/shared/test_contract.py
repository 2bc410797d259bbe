"""The contract between the state machines and the code, checked on the files themselves.

- Every `$.x.y` path an ASL file reads from a step's output is a field of that step's model (the handler's return
  annotation), so a renamed field cannot leave a Choice reading nothing.
- Every error name an ASL file uses is a class in ddbkeeper.errors; every Task retries exactly the retryable ones;
  no Fail state is named after a retryable error.
- Every service is built one way: handlers are `parse -> Service.for_task(task, os.environ) -> method -> dump`, and
  only `for_task` builds clients or reads configuration.
"""

from __future__ import annotations

import ast
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ddbkeeper import errors
from ddbkeeper.handler import step_models
from ddbkeeper.local.template import StackTemplate
from pydantic import BaseModel

from tests.support import ROOT, handler

pytestmark = pytest.mark.pure

TEMPLATE = StackTemplate(ROOT / "template.yaml")
MACHINES = TEMPLATE.state_machines(lambda logical_id: f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}")
FUNCTIONS = {spec.logical_id: spec for spec in TEMPLATE.functions().values()}
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
PATH = re.compile(r"(?<![\w$])\$((?:\.[A-Za-z_]\w*)+)")
CATCH_FIELDS = {"Error", "Cause"}
Producers = dict[str, list[Any]]  # root key of the state -> what may have put it there (a model type, or None)


def definition(workflow: str) -> dict[str, Any]:
    return json.loads(MACHINES[workflow].definition_path.read_text())


def output_model(state: dict[str, Any], workflow: str) -> type[BaseModel]:
    """The model a Task's handler returns: its Resource names a substitution, which names a function."""
    placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Resource"])
    assert placeholder, state["Resource"]
    logical_id = MACHINES[workflow].substitutions[placeholder.group(1)].rsplit(":", 1)[-1]
    bound = handler(FUNCTIONS[logical_id].code_uri.name).handler()
    return step_models(bound.__wrapped__)[1]  # type: ignore[attr-defined]


def reads(value: Any, selected: bool = True) -> Iterator[str]:
    """Every `$.a.b` a piece of ASL reads: JSONPath strings, `.$` parameters (intrinsic functions included)."""
    if isinstance(value, str):
        yield from (match.group(1) for match in PATH.finditer(value)) if selected else ()
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from reads(item, key.endswith(".$"))
    elif isinstance(value, list):
        for item in value:
            yield from reads(item, selected)


def state_reads(state: dict[str, Any]) -> Iterator[str]:
    for key in ("InputPath", "OutputPath", "ItemsPath", "SecondsPath", "TimestampPath", "CausePath", "ErrorPath"):
        if isinstance(state.get(key), str):
            yield from reads(state[key])
    yield from reads(state.get("Parameters", {}))
    yield from reads(state.get("ItemSelector", {}))
    for choice in state.get("Choices", []):
        yield from reads(_choice_paths(choice))


def _choice_paths(choice: dict[str, Any]) -> list[str]:
    paths = [choice["Variable"]] if "Variable" in choice else []
    for nested in choice.get("And", []) + choice.get("Or", []) + ([choice["Not"]] if "Not" in choice else []):
        paths += _choice_paths(nested)
    return paths


def producers(scope: dict[str, Any], workflow: str, start: dict[str, Any]) -> Producers:
    """What may stand at each root key of a scope's state: the scope's start, then every state's result."""
    found: Producers = {key: [None] for key in start}
    for state in scope["States"].values():
        kind = state["Type"]
        result_path = state.get("ResultPath", "$")
        if kind == "Task":
            model = output_model(state, workflow)
            if result_path == "$":
                for name, field in model.model_fields.items():
                    found.setdefault(name, []).append(field.annotation)
            else:
                found.setdefault(result_path.removeprefix("$."), []).append(model)
        elif kind in ("Pass", "Map") and result_path != "$" and result_path is not None:
            found.setdefault(result_path.removeprefix("$."), []).append(None)
        elif kind == "Pass" and "Parameters" in state:
            for key in state["Parameters"]:
                found.setdefault(key.removesuffix(".$"), []).append(None)
        for catcher in state.get("Catch", []):
            found.setdefault(catcher["ResultPath"].removeprefix("$."), []).append("catch")
    return found


def field_problem(annotation: Any, parts: list[str]) -> str | None:
    """Why `parts` cannot be read from a value of type `annotation`, or None when it can (or cannot be known)."""
    if not parts:
        return None
    models = [t for t in _members(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    if not models:
        return None  # a dict, a list, Any: nothing more to check
    for model in models:
        if parts[0] in model.model_fields:
            return field_problem(model.model_fields[parts[0]].annotation, parts[1:])
    return f"{' | '.join(m.__name__ for m in models)} has no field {parts[0]!r}"


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _members(arg)]
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def scopes(scope: dict[str, Any], start: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    yield scope, start
    for state in scope["States"].values():
        processor = state.get("ItemProcessor")
        if processor:
            yield from scopes(processor, {key.removesuffix(".$"): None for key in state.get("ItemSelector", {})})


@pytest.mark.parametrize("workflow", sorted(MACHINES))
def test_every_path_a_state_machine_reads_is_a_field_of_the_steps_model(workflow: str) -> None:
    problems = []
    for scope, start in scopes(definition(workflow), {"request": None}):
        known = producers(scope, workflow, start)
        for name, state in scope["States"].items():
            for path in state_reads(state):
                root, *rest = path.lstrip(".").split(".")
                if root not in known:
                    problems.append(f"{name}: $.{path}: nothing puts {root!r} in the state")
                    continue
                for producer in known[root]:
                    if producer == "catch":
                        if rest and rest[0] not in CATCH_FIELDS:
                            problems.append(f"{name}: $.{path}: a caught error has only {sorted(CATCH_FIELDS)}")
                    elif producer is not None and (problem := field_problem(producer, rest)):
                        problems.append(f"{name}: $.{path}: {problem}")
    assert problems == []


def test_the_path_check_finds_a_missing_field() -> None:
    class Plan(BaseModel):
        dry_run: bool

    class Planned(BaseModel):
        plan: Plan | None

    assert field_problem(Planned, ["plan", "dry_run"]) is None
    assert field_problem(Planned, ["plan", "dryrun"]) == "Plan has no field 'dryrun'"
    assert field_problem(Planned, ["plans"]) == "Planned has no field 'plans'"
    assert list(reads({"cause.$": "States.Format('{} {}', $.backup.arn, $$.Map.Item.Value)"})) == [".backup.arn"]


def all_states(scope: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in scope["States"].items():
        yield name, state
        if state.get("ItemProcessor"):
            yield from all_states(state["ItemProcessor"])


@pytest.mark.parametrize("workflow", sorted(MACHINES))
def test_every_error_name_is_a_class_and_retries_use_the_one_list(workflow: str) -> None:
    for name, state in all_states(definition(workflow)):
        used = [error for rule in state.get("Retry", []) + state.get("Catch", []) for error in rule["ErrorEquals"]]
        if state["Type"] == "Fail" and "Error" in state:
            used.append(state["Error"])
            assert state["Error"] not in errors.RETRYABLE, f"{name}: a final Fail named after a retryable error"
        literal = (state.get("Parameters") or {}).get("error")
        if state["Type"] == "Pass" and isinstance(literal, str):
            used.append(literal)
        for error in used:
            assert error.startswith("States.") or error in LAMBDA_ERRORS or error in errors.ERRORS, (name, error)
        if state["Type"] == "Task":
            domain = [r["ErrorEquals"] for r in state["Retry"] if not set(r["ErrorEquals"]) & LAMBDA_ERRORS]
            assert domain == [list(errors.RETRYABLE)], name


def test_retryable_is_derived_from_the_classes() -> None:
    assert errors.RETRYABLE == ("Throttled", "BackupLimitExceeded", "TableLimitExceeded", "TransientAwsError")
    assert all(errors.ERRORS[name].retryable for name in errors.RETRYABLE)


# --- one way to build a service --------------------------------------------------------------------------------------

CORE = ROOT / "layers" / "core" / "ddbkeeper"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))


def _calls(tree: ast.AST) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


@pytest.mark.parametrize("path", HANDLERS, ids=lambda path: path.parent.name)
def test_a_handler_is_parse_for_task_method_dump(path: Path) -> None:
    tree = ast.parse(path.read_text())
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert function.name == "lambda_handler"
    assert [ast.unparse(d) for d in function.decorator_list] == ["workflow_step"]
    built = [call for call, name in _calls(function) if name.endswith(".for_task")]
    assert len(built) == 1 and [ast.unparse(arg) for arg in built[0].args][1:] == ["os.environ"]
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    assert imported <= {"os", "ddbkeeper", "aws_lambda_powertools", "time"}, imported
    assert len(function.body) <= 8, "a handler is a few lines: the work belongs in the service"


def test_only_for_task_builds_clients_or_reads_configuration() -> None:
    for path in sorted(CORE.rglob("*.py")):
        if {"local", "cli"} & set(path.relative_to(CORE).parts):
            continue  # the workstation side: the embedded runtime and the command line
        tree = ast.parse(path.read_text())
        code = {ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}  # not docstrings
        assert not code & {"os.environ", "os.getenv"}, path
        for function in [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]:
            for _, name in _calls(function):
                if name == "SessionFactory":
                    assert function.name == "for_task", f"{path.name}: {function.name} builds a SessionFactory"
                if name in ("boto3.client", "boto3.Session"):
                    assert path.name == "aws.py", f"{path.name}: {function.name} builds a client"


WORKFLOW_PACKAGES = sorted(p.name for p in (ROOT / "layers/core/ddbkeeper").iterdir() if (p / "service.py").exists())


@pytest.mark.pure
@pytest.mark.parametrize("package", WORKFLOW_PACKAGES)
def test_no_workflow_package_imports_another(package: str) -> None:
    """What two workflows share lives in a shared module (ddbkeeper.apply, ddbkeeper.reads, ...), not in one of them."""
    others = {f"ddbkeeper.{name}" for name in WORKFLOW_PACKAGES if name != package}
    imports = [
        (path.name, node.module)
        for path in (ROOT / "layers/core/ddbkeeper" / package).glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    ]
    assert {"backup", "copy", "restore"} <= set(WORKFLOW_PACKAGES)
    assert [(name, module) for name, module in imports if module.split(".")[:2] in [o.split(".") for o in others]] == []
