"""The embedded runtime: an in-process moto server runs the real ASL files; Lambda tasks call the handlers in-process.

The handlers' own AWS clients are left alone: they resolve endpoints and credentials from the environment as they would
anywhere, so a local run acts on whatever AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB / AWS_PROFILE point at.
Only the runtime's own Step Functions, Lambda and IAM calls go to the embedded server, with fixed credentials.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
import os
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaFunction
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from ddbkeeper.errors import InvalidInput
from ddbkeeper.executions import ExecutionResult, HistoryListener, Poller, follow
from ddbkeeper.local.template import FunctionSpec, StackTemplate

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"  # moto's default account: Step Functions and its Lambdas live there
_CREDENTIALS = {"aws_access_key_id": "ddbkeeper-local", "aws_secret_access_key": "ddbkeeper-local"}

_bound: dict[str, BoundFunction] = {}  # function ARN -> handler, for the one patched moto entry point
_original_invoke = LambdaFunction._invoke_lambda
_start_lock = threading.Lock()
# moto's Map starts one worker thread per MaxConcurrency, whatever the number of items (500 threads for a copy of one
# segment); in one process on a few cores more than this many gain nothing. Only the embedded runtime's copy changes.
LOCAL_MAX_CONCURRENCY = 32
_SETTLE_SECONDS = 0.05  # after a handler returns, how long the follower waits for the history to show it


@dataclass
class LocalContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class BoundFunction:
    spec: FunctionSpec
    arn: str
    on_result: Callable[[str, Any], None] | None = None  # sees every successful result (CLI progress)
    on_return: Callable[[], None] | None = None  # told whenever an invocation ends, however (wakes the follower)
    _module: ModuleType | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> Callable[[Any, Any], Any]:
        module_path, _, attribute = self.spec.handler.rpartition(".")
        with self._lock:
            if self._module is None:
                path = self.spec.code_uri / (module_path.replace(".", "/") + ".py")
                spec = importlib.util.spec_from_file_location(f"ddbkeeper_local_{self.spec.logical_id}", path)
                if spec is None or spec.loader is None:
                    raise InvalidInput(f"{self.spec.logical_id}: no handler module at {path}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._module = module
        handler: Callable[[Any, Any], Any] = getattr(self._module, attribute)
        return handler

    def invoke(self, event: Any) -> tuple[str, bool, str]:
        """Run the handler as Lambda would; errors come back as Lambda reports them (errorType is the class name)."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        context = LocalContext(self.spec.logical_id, self.arn, self.spec.memory_mb, self.spec.timeout)
        try:
            result = self.handler()(event, context)
            if self.on_result is not None:
                self.on_result(self.spec.logical_id, result)
            return json.dumps(result), False, ""
        except Exception as error:  # noqa: BLE001 - every failure is reported to the interpreter, as Lambda does
            payload = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(payload), True, ""
        finally:
            if self.on_return is not None:
                self.on_return()


def _invoke_bound(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    bound = _bound.get(self.function_arn)
    if bound is None:
        result: tuple[str, bool, str] = _original_invoke(self, event)
        return result
    return bound.invoke(event)


class LocalRuntime:
    """Runs the project's state machines on moto's interpreter, wired from template.yaml.

    Use as a context manager. One runtime per process at a time: moto's interpreter finds its server through MOTO_PORT.
    """

    def __init__(
        self,
        project_root: Path,
        parameters: dict[str, str] | None = None,
        quiet: bool = True,
        workflows: Collection[str] | None = None,
    ) -> None:
        """`workflows`: the state machines to deploy (with the functions they call); None deploys the whole stack.
        Deploying one is most of a short run's start-up saved: moto parses every ASL file it is given."""
        self.workflows = None if workflows is None else set(workflows)
        self.on_result: Callable[[str, Any], None] | None = None
        self.template = StackTemplate(project_root / "template.yaml", parameters or {}, LOCAL_REGION, LOCAL_ACCOUNT)
        self.quiet = quiet
        self.endpoint = ""
        self._server: ThreadedMotoServer | None = None
        self.state_machine_arns: dict[str, str] = {}
        self._environment: list[str] = []
        self._clients: dict[str, Any] = {}
        # Set whenever a handler returns: the follower looks at the history then, instead of polling it often.
        self._activity = threading.Event()

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not _start_lock.acquire(blocking=False):
            raise RuntimeError("a LocalRuntime is already running in this process")
        if self.quiet:
            for name in ("werkzeug", "moto", "moto.stepfunctions"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ["MOTO_PORT"] = str(port)  # where moto's interpreter sends its Lambda calls
        # moto's backends live in the process, not in the server: start from nothing, whatever ran before.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        requests.post(
            f"{self.endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        ).raise_for_status()
        LambdaFunction._invoke_lambda = _invoke_bound  # type: ignore[method-assign]
        functions = self.template.functions()
        self._environment = _apply_environment(functions.values())
        self._host_the_stack_folders()
        self._deploy(functions)

    def stop(self) -> None:
        for name in self._environment:  # what start() set, and only that: the shell's own values stay
            os.environ.pop(name, None)
        self._environment = []
        _bound.clear()
        LambdaFunction._invoke_lambda = _original_invoke  # type: ignore[method-assign]
        self._clients.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
            _start_lock.release()

    def _host_the_stack_folders(self) -> None:
        """The workflows' own folders in the stack's bucket (a copy's board and checkpoints, a restore's lists of data
        files and their results; ddbkeeper.stack_objects) are read by the Maps' ItemReader, which reads this runtime's
        own server, and followed by the CLI: here that server holds them, as it holds the state machines, whatever
        endpoint the data is on."""
        buckets = {os.environ.get(name) for name in ("SETTINGS_BUCKET", "COPY_BOARD_BUCKET")} - {None, ""}
        if not buckets or "STACK_FOLDERS_ENDPOINT" in os.environ:
            return
        os.environ["STACK_FOLDERS_ENDPOINT"] = self.endpoint
        self._environment.append("STACK_FOLDERS_ENDPOINT")
        for bucket in sorted(b for b in buckets if b):
            with contextlib.suppress(ClientError):  # the stack's bucket may be there already (the tests make it too)
                self.client("s3").create_bucket(Bucket=bucket)

    def _observe(self, function: str, result: Any) -> None:
        if self.on_result is not None:
            self.on_result(function, result)

    def client(self, service: str) -> Any:
        """A client for the embedded server itself (Step Functions, Lambda, IAM), never for the handlers' data; built
        once per service (building a botocore client costs more than most calls made with it)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, endpoint_url=self.endpoint, region_name=LOCAL_REGION, **_CREDENTIALS
            )
        return self._clients[service]

    def _wait_for_activity(self, seconds: float) -> None:
        """The follower's sleep: over at once when a handler returns (something new is in the history)."""
        if self._activity.wait(seconds):
            # The interpreter records a task's end just after the handler returns, and Map segments end together.
            time.sleep(_SETTLE_SECONDS)
            self._activity.clear()

    def _deploy(self, functions: dict[str, FunctionSpec]) -> None:
        iam = self.client("iam")
        role = iam.create_role(RoleName="ddbkeeper-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client = self.client("lambda")
        # The machines first, with the ARNs moto gives their functions: a runtime for some workflows makes only the
        # functions those call.
        machines = {
            workflow: machine
            for workflow, machine in self.template.state_machines(_function_arn).items()
            if self.workflows is None or workflow in self.workflows
        }
        if self.workflows is not None and self.workflows - set(machines):
            missing = ", ".join(sorted(self.workflows - set(machines)))
            raise InvalidInput(f"workflow: the template has no state machine {missing}")
        called = {name for machine in machines.values() for name in _functions_named(machine.substitutions)}
        for spec in functions.values():
            if self.workflows is not None and spec.logical_id not in called:
                continue
            arn = lambda_client.create_function(
                FunctionName=spec.logical_id,
                Runtime="python3.12",
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": _placeholder_zip()},
                Timeout=spec.timeout,
                MemorySize=spec.memory_mb,
            )["FunctionArn"]
            _bound[arn] = BoundFunction(spec, arn, on_result=self._observe, on_return=self._activity.set)
        sfn = self.client("stepfunctions")
        for workflow, machine in machines.items():
            definition = machine.definition_path.read_text(encoding="utf-8")
            for name, value in machine.substitutions.items():
                definition = definition.replace("${" + name + "}", str(value))
            definition = _local_concurrency(definition)
            self.state_machine_arns[workflow] = sfn.create_state_machine(
                name=f"ddbkeeper-{workflow}", definition=definition, roleArn=role
            )["stateMachineArn"]

    def start_execution(self, workflow: str, payload: Any, name: str | None = None) -> str:
        if workflow not in self.state_machine_arns:
            raise InvalidInput(f"workflow: expected one of {sorted(self.state_machine_arns)}, got {workflow!r}")
        name = name or f"{workflow}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arns[workflow], name=name, input=json.dumps(payload)
        )["executionArn"]
        return arn

    def run(
        self,
        workflow: str,
        payload: Any,
        on_event: HistoryListener | None = None,
        *,
        timeout_seconds: float = 3600,
        on_poll: Poller | None = None,
        on_result: Callable[[str, Any], None] | None = None,
        name: str | None = None,
    ) -> ExecutionResult:
        """Start and follow an execution (named `name`, or after the workflow and the time); `on_result` also sees
        every handler's result as it is returned."""
        self.on_result = on_result
        try:
            arn = self.start_execution(workflow, payload, name)
            history: Any = InProcessHistory(self.client("stepfunctions"))
            return follow(
                history,
                arn,
                on_event,
                on_poll=on_poll,
                poll_seconds=0.05,
                timeout_seconds=timeout_seconds,
                sleep=self._wait_for_activity,
            )
        finally:
            self.on_result = None


_FUNCTION_ARN = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:"  # what moto's CreateFunction returns


class InProcessHistory:
    """The embedded server's Step Functions client, with an execution's history read straight from the interpreter in
    this process, only the events asked for (`maxResults`, `reverseOrder`, `nextToken` as the service reads them).

    moto's GetExecutionHistory ignores maxResults: every look of the follower serialised the whole history, sent it
    over HTTP and parsed it again, however few events were new. Every other call goes to the server."""

    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sfn, name)

    def get_execution_history(
        self,
        *,
        executionArn: str,  # the service's parameter names
        reverseOrder: bool = False,
        maxResults: int = 1000,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        execution: Any = stepfunctions_parser_backends[LOCAL_ACCOUNT][LOCAL_REGION].describe_execution(executionArn)
        worker = execution.exec_worker
        if worker is None or worker.env is None:  # not started yet
            return {"events": []}
        manager = worker.env.event_manager
        start = int(nextToken or 0)
        with manager._mutex:  # moto's interpreter adds events behind this lock: copied here, whole
            events = manager._history_event_list
            total = len(events)
            ordered = events[::-1] if reverseOrder else events
            page: dict[str, Any] = {"events": copy.deepcopy(ordered[start : start + maxResults])}
        if start + maxResults < total:
            page["nextToken"] = str(start + maxResults)
        return page


def _local_concurrency(definition: str) -> str:
    """The definition with every Map's MaxConcurrency (0: unbounded) held to LOCAL_MAX_CONCURRENCY."""

    def clamp(node: Any) -> Any:
        if isinstance(node, dict):
            clamped = {key: clamp(value) for key, value in node.items()}
            limit = clamped.get("MaxConcurrency")
            if isinstance(limit, int) and (limit == 0 or limit > LOCAL_MAX_CONCURRENCY):
                clamped["MaxConcurrency"] = LOCAL_MAX_CONCURRENCY
            return clamped
        if isinstance(node, list):
            return [clamp(item) for item in node]
        return node

    return json.dumps(clamp(json.loads(definition)))


def _function_arn(logical_id: str) -> str:
    return _FUNCTION_ARN + logical_id


def _functions_named(substitutions: dict[str, Any]) -> set[str]:
    """The functions a machine's substitutions name."""
    return {
        str(value).removeprefix(_FUNCTION_ARN)
        for value in substitutions.values()
        if str(value).startswith(_FUNCTION_ARN)
    }


def _apply_environment(functions: Any) -> list[str]:
    """Give the process the functions' environment, as Lambda gives each function its own.

    Handlers share this process, so two functions may not disagree on a variable; values already set in the shell win,
    which is how a local run turns on DEBUG logs (POWERTOOLS_LOG_LEVEL=DEBUG ddbkeeper run ...).
    """
    merged: dict[str, str] = {}
    for spec in functions:
        for name, value in spec.environment.items():
            if merged.get(name, value) != value:
                raise InvalidInput(
                    f"template: functions set {name} differently; the local runtime shares one environment"
                )
            merged[name] = value
    unset = [name for name in merged if name not in os.environ]
    for name in unset:
        os.environ[name] = merged[name]
    return unset


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "ddbkeeper local runtime: the handler runs in-process from its CodeUri")
    return buffer.getvalue()
