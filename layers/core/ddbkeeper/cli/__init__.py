"""The ddbkeeper command line: run a workflow locally or on a deployed stack, and the demo.

ddbkeeper run WORKFLOW --input JSON_OR_FILE [--local] [--json]
ddbkeeper demo
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import boto3
from rich.console import Console
from rich.markup import escape

from ddbkeeper.aws import translate_errors
from ddbkeeper.cli.progress import ExecutionProgress
from ddbkeeper.cli.report_view import show_result
from ddbkeeper.errors import DdbkeeperError, InvalidInput
from ddbkeeper.executions import ExecutionResult, follow
from ddbkeeper.models import parse
from ddbkeeper.workflows import MAX_INPUT_BYTES, REQUESTS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        code: int = args.command(args, console)
    except (DdbkeeperError, OSError) as error:
        console.print(f"[red]{type(error).__name__}[/]: {escape(str(error))}")
        return EXIT_USAGE
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddbkeeper", description="Serverless DynamoDB data protection.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a workflow and follow it until it ends")
    run.add_argument("workflow", choices=sorted(REQUESTS), help="the state machine statemachines/<workflow>.asl.json")
    run.add_argument("--input", required=True, help="the input: JSON text, a file name, or - for standard input")
    run.add_argument("--local", action="store_true", help="run on the embedded runtime instead of the deployed stack")
    run.add_argument("--json", action="store_true", help="print the execution's output JSON alone on stdout")
    run.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding template.yaml (--local)")
    run.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter (--local)"
    )
    run.add_argument("--stack-name", default="ddbkeeper", help="deployed stack whose outputs name the state machines")
    run.add_argument("--verbose", action="store_true", help="show the handlers' own logs on stderr (--local)")
    run.set_defaults(command=_run)

    demo = commands.add_parser("demo", help="the whole service on the embedded runtime, with no AWS account")
    demo.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding template.yaml")
    demo.set_defaults(command=_demo)
    return parser


def read_input(value: str, stdin: IO[str] = sys.stdin) -> Any:
    text = stdin.read() if value == "-" else value
    if not text.lstrip().startswith(("{", "[")):
        path = Path(value)
        if not path.is_file():
            raise InvalidInput(f"--input: expected JSON text, a file or -, got {value!r}")
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"--input: not valid JSON: {error}") from None


def refusal(workflow: str, payload: Any) -> InvalidInput | None:
    """Why the workflow would refuse this input at its first step, found before anything starts (None: it would not).
    The same model the first step validates with: a bad input costs a second, not a runtime's start-up."""
    size = len(json.dumps(payload).encode())
    if size > MAX_INPUT_BYTES:
        return InvalidInput(f"input: {size:,} bytes; an execution's input holds at most {MAX_INPUT_BYTES:,}")
    try:
        parse(REQUESTS[workflow], payload)
    except InvalidInput as error:
        return error
    return None


def _run(args: argparse.Namespace, console: Console) -> int:
    payload = read_input(args.input)
    refused = refusal(args.workflow, payload)
    if refused is not None:
        console.print(f"[red]InvalidInput[/]: {escape(str(refused))}")
        return EXIT_FAILED
    progress = ExecutionProgress(console)
    if args.local:
        parameters = dict(_key_value(item) for item in args.parameter)
        with handler_output(console, args.verbose):
            result = run_local(args.project, args.workflow, payload, parameters, progress)
    else:
        result = run_deployed(args.stack_name, args.workflow, payload, progress, console)
    return _finish(result, console, args.json)


def run_local(
    project: Path, workflow: str, payload: Any, parameters: dict[str, str], progress: ExecutionProgress
) -> ExecutionResult:
    from ddbkeeper.local.runtime import LocalRuntime  # noqa: PLC0415 - moto loads only for local runs

    with LocalRuntime(_project_root(project), parameters) as runtime:
        return runtime.run(
            workflow, payload, on_event=progress, on_poll=progress.poll, on_result=lambda _, r: progress.checkpoint(r)
        )


def run_deployed(
    stack: str, workflow: str, payload: Any, progress: ExecutionProgress, console: Console
) -> ExecutionResult:
    """Start the deployed state machine (named by the stack's outputs) and follow it; AWS errors (no credentials, no
    such stack) are named, not printed as tracebacks."""
    with translate_errors("DescribeStacks", stack):
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    key = f"{workflow.capitalize()}StateMachineArn"
    arns = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if key not in arns:
        raise InvalidInput(f"--stack-name: stack {stack} has no output {key}; is it a ddbkeeper stack?")
    sfn = boto3.client("stepfunctions")
    with translate_errors("StartExecution", arns[key]):
        execution = sfn.start_execution(stateMachineArn=arns[key], input=json.dumps(payload))["executionArn"]
    console.print(f"started [dim]{escape(execution)}[/]")
    with translate_errors("DescribeExecution", execution):
        return follow(sfn, execution, progress, on_poll=progress.poll, poll_seconds=2.0)


def _finish(result: ExecutionResult, console: Console, as_json: bool) -> int:
    if as_json:
        if result.output is not None:
            sys.stdout.write(json.dumps(result.output, indent=2) + "\n")
        show_result(Console(stderr=True, quiet=result.succeeded), result)
    else:
        show_result(console, result)
    return EXIT_OK if result.succeeded else EXIT_FAILED


@contextlib.contextmanager
def handler_output(console: Console, verbose: bool) -> Iterator[None]:
    """Handlers log and emit metrics on stdout, as in Lambda; locally that goes to a log file, not to --json output."""
    if verbose:
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    with tempfile.NamedTemporaryFile("w", prefix="ddbkeeper-", suffix=".log", delete=False) as log:
        try:
            with contextlib.redirect_stdout(log):
                yield
        finally:
            console.print(f"[dim]handler logs: {escape(log.name)}[/]")


def _project_root(start: Path) -> Path:
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "template.yaml").is_file() and (folder / "statemachines").is_dir():
            return folder
    raise InvalidInput(f"--project: no template.yaml with statemachines/ in {start} or above")


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InvalidInput(f"--parameter: expected KEY=VALUE, got {item!r}")
    return key, value


def _demo(args: argparse.Namespace, console: Console) -> int:
    from ddbkeeper.cli.demo import Demo  # noqa: PLC0415 - moto loads only for local runs

    with handler_output(console, verbose=False):
        return Demo(_project_root(args.project), console).run()
