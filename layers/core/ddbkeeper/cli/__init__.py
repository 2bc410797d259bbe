"""The ddbkeeper command line: run a workflow locally or on a deployed stack, follow the stack's executions, the demo.

ddbkeeper run WORKFLOW --input JSON_OR_FILE [--local] [--json]
ddbkeeper run copy --local --resume RUN_ID|last [--json]
ddbkeeper status [--stack-name NAME] [--limit N] [--json]
ddbkeeper audit [--region R] [--role-arn ARN] [--json]
ddbkeeper points TABLE [--region R] [--role-arn ARN] [--json]
ddbkeeper demo
ddbkeeper --version
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import boto3
from rich.console import Console
from rich.markup import escape

from ddbkeeper import __version__
from ddbkeeper.aws import translate_errors
from ddbkeeper.cli.coverage_view import add_arguments as add_coverage_arguments
from ddbkeeper.cli.coverage_view import run_audit, run_points, show_audit, show_points
from ddbkeeper.cli.progress import ExecutionProgress
from ddbkeeper.cli.report_view import show_result
from ddbkeeper.cli.runs import LocalRun, new_run_id, state_dir
from ddbkeeper.cli.status import recent_executions, show_status, stack_state_machines
from ddbkeeper.errors import DdbkeeperError, InvalidInput
from ddbkeeper.executions import ExecutionResult, follow
from ddbkeeper.local.project import project_root
from ddbkeeper.models import parse
from ddbkeeper.workflows import MAX_INPUT_BYTES, REQUESTS

if TYPE_CHECKING:
    from ddbkeeper.local.runtime import LocalRuntime

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C
FOLLOW_SAVED_SECONDS = 1.0  # how often a local copy's journal looks at the checkpoints its segments put


class Interrupted(Exception):
    """Ctrl-C during a local copy: the journal holds where it stood."""

    def __init__(self, run: LocalRun) -> None:
        super().__init__(run.run_id)
        self.run = run


def entry() -> NoReturn:
    """The `ddbkeeper` command: `main`, then an exit that skips tearing the interpreter down.

    A local run leaves moto's and botocore's large object graphs behind; freeing them one by one at exit costs about a
    CPU-second, a third of what a local copy of an empty table may cost in all. Exit handlers still run and the
    streams are flushed; only the freeing (which the operating system does at once) is skipped."""
    try:
        code = main()
    except KeyboardInterrupt:  # before anything was started (a running copy says where it stood, in _run)
        sys.stderr.write("interrupted\n")
        code = EXIT_INTERRUPTED
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
    parser.add_argument("--version", action="version", version=f"ddbkeeper {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a workflow and follow it until it ends")
    run.add_argument("workflow", choices=sorted(REQUESTS), help="the state machine statemachines/<workflow>.asl.json")
    run.add_argument("--input", help="the input: JSON text, a file name, or - for standard input")
    run.add_argument("--local", action="store_true", help="run on the embedded runtime instead of the deployed stack")
    run.add_argument("--json", action="store_true", help="print the execution's output JSON alone on stdout")
    run.add_argument("--project", type=Path, help="folder holding template.yaml (--local; default: the package's own)")
    run.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter (--local)"
    )
    run.add_argument("--stack-name", default="ddbkeeper", help="deployed stack whose outputs name the state machines")
    run.add_argument("--verbose", action="store_true", help="show the handlers' own logs on stderr (--local)")
    run.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted local copy from its last checkpoints (its run id, or 'last'); no --input",
    )
    run.set_defaults(command=_run)

    status = commands.add_parser("status", help="the deployed stack's recent executions")
    status.add_argument("--stack-name", default="ddbkeeper", help="deployed stack whose outputs name its workflows")
    status.add_argument("--limit", type=int, default=20, help="how many executions to list, newest first")
    status.add_argument("--json", action="store_true", help="print the executions as JSON on stdout")
    status.set_defaults(command=_status)

    audit = commands.add_parser("audit", help="every table's protection: PITR, backups, export chain, drills, verdict")
    add_coverage_arguments(audit)
    audit.add_argument("--table", action="append", help="audit this table (repeat; default: every table)")
    audit.add_argument("--prefix", help="audit the tables whose names start with this")
    audit.add_argument(
        "--max-backup-age-hours", type=float, default=26.0, help="the schedule's promise: older is at risk"
    )
    audit.add_argument("--protect-tag-key", default="backup", help="the tag that marks a table for protection")
    audit.set_defaults(command=_audit)

    points = commands.add_parser("points", help="every way to bring a table back, with the restore input for each")
    points.add_argument("table_name", metavar="TABLE")
    add_coverage_arguments(points)
    points.add_argument("--target", help="the new table each restore input names (default: TABLE-restored)")
    points.set_defaults(command=_points)

    demo = commands.add_parser("demo", help="the whole service on the embedded runtime, with no AWS account")
    demo.add_argument("--project", type=Path, help="folder holding template.yaml (default: the package's own)")
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
    previous = _resumed_run(args)
    payload = previous.resume_payload() if previous is not None else read_input(args.input)
    refused = refusal(args.workflow, payload)
    if refused is not None:
        console.print(f"[red]InvalidInput[/]: {escape(str(refused))}")
        return EXIT_FAILED
    progress = ExecutionProgress(console, read_children=not args.local)
    if args.local:
        parameters = dict(_key_value(item) for item in args.parameter)
        run = None
        if args.workflow == "copy" and isinstance(payload, dict) and not payload.get("dry_run"):
            run = LocalRun.begin(
                state_dir(), new_run_id(args.workflow), payload, command=_repeated_options(args), previous=previous
            )
        with handler_output(console, args.verbose):
            try:
                result = run_local(args.project, args.workflow, payload, parameters, progress, run=run)
            except Interrupted as stop:
                progress.close()
                _say_interrupted(console, stop.run)
                return EXIT_INTERRUPTED
        if run is not None and not result.succeeded:
            _say_resumable(console, run)
    else:
        result = run_deployed(args.stack_name, args.workflow, payload, progress, console)
    return _finish(result, console, args.json)


def run_local(
    project: Path | None,
    workflow: str,
    payload: Any,
    parameters: dict[str, str],
    progress: ExecutionProgress,
    *,
    run: LocalRun | None = None,
) -> ExecutionResult:
    """Run on the embedded runtime. With `run` (a copy's journal) the execution is named after it and its plan and
    checkpoints are kept as they come; Ctrl-C is then `Interrupted`, with the journal."""
    from ddbkeeper.local.runtime import LocalRuntime  # noqa: PLC0415 - moto loads only for local runs

    def observe(function: str, result: Any) -> None:
        progress.checkpoint(result)
        if run is not None:
            run.observe(function, result)

    runtime = LocalRuntime(project_root(project), parameters, workflows=[workflow])
    with _long_lived_objects():
        runtime.start()
    follow_saved = _saved_checkpoints(runtime, run) if run is not None else None

    def poll(sfn: Any) -> None:
        progress.poll(sfn)
        for checkpoint in follow_saved() if follow_saved is not None else []:
            progress.checkpoint(checkpoint)

    try:
        result = runtime.run(
            workflow,
            payload,
            on_event=progress,
            on_poll=poll,
            on_result=observe,
            name=run.run_id if run is not None else None,
        )
    except KeyboardInterrupt:
        if run is None:
            raise
        if follow_saved is not None:
            follow_saved(at_once=True)  # the checkpoints put since the last look
        run.finish("INTERRUPTED")
        raise Interrupted(run) from None
    finally:
        runtime.stop()
    if run is not None:
        run.finish(result.status)
    return result


def _saved_checkpoints(runtime: LocalRuntime, run: LocalRun) -> Callable[..., list[dict[str, Any]]]:
    """What keeps the journal (and the progress) of a local copy as recent as the checkpoints its segments put while
    they run (an invocation returns only every few minutes): a look every FOLLOW_SAVED_SECONDS at the runtime's own
    bucket; the checkpoints further than the journal's come back. The journal is a courtesy of the run: a look that
    fails is tried again at the next poll."""
    from ddbkeeper.copy.checkpoints import CheckpointStore  # noqa: PLC0415 - only local copies follow checkpoints

    bucket = os.environ.get("SETTINGS_BUCKET")
    store = CheckpointStore(lambda: runtime.client("s3"), bucket, run.run_id) if bucket else None
    last = {"at": time.monotonic()}

    def follow(*, at_once: bool = False) -> list[dict[str, Any]]:
        if store is None or (not at_once and time.monotonic() - last["at"] < FOLLOW_SAVED_SECONDS):
            return []
        last["at"] = time.monotonic()
        try:
            return run.follow_saved([checkpoint.model_dump(mode="json") for checkpoint in store.saved()])
        except Exception:  # noqa: BLE001 - see above: tried again at the next poll
            return []

    return follow


@contextlib.contextmanager
def _long_lived_objects() -> Iterator[None]:
    """While the runtime starts, no garbage collection; then what it loaded (moto, botocore's models, the parsed ASL)
    is frozen out of the collector's passes. It all lives until the process ends, and walking it again at every full
    collection was a third of a short local run's CPU. The run itself is collected as usual (a long copy makes
    garbage for hours)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _resumed_run(args: argparse.Namespace) -> LocalRun | None:
    if args.resume is None:
        if args.input is None:
            raise InvalidInput("--input: required (or --resume RUN_ID to continue an interrupted local copy)")
        return None
    if args.input is not None:
        raise InvalidInput("--resume: the run's own input is used; leave --input out")
    if args.workflow != "copy" or not args.local:
        raise InvalidInput("--resume: only a local copy (ddbkeeper run copy --local) can be resumed")
    return LocalRun.load(state_dir(), args.resume)


def _repeated_options(args: argparse.Namespace) -> list[str]:
    """The options a resume must repeat to run the same stack the same way."""
    options = ["--project", str(args.project)] if args.project else []
    for item in args.parameter:
        options += ["--parameter", item]
    return options


def _say_interrupted(console: Console, run: LocalRun) -> None:
    items, done, total = run.copied()
    console.print(
        f"[yellow]interrupted[/]: {items:,} items copied in the checkpoints kept ({done} of {total} segments done); "
        "the target keeps what was written",
        highlight=False,
    )
    console.print(f"  resume with: {escape(run.resume_command())}", soft_wrap=True, highlight=False)
    console.print(f"  [dim]run kept in {escape(str(run.path))}[/]", soft_wrap=True)


def _say_resumable(console: Console, run: LocalRun) -> None:
    items, _, _ = run.copied()
    if items:
        console.print(
            f"{items:,} items were copied before it failed; to go on from there: {escape(run.resume_command())}",
            soft_wrap=True,
            highlight=False,
        )


def run_deployed(
    stack: str, workflow: str, payload: Any, progress: ExecutionProgress, console: Console
) -> ExecutionResult:
    """Start the deployed state machine (named by the stack's outputs) and follow it; AWS errors (no credentials, no
    such stack) are named, not printed as tracebacks."""
    machines = stack_state_machines(boto3.client("cloudformation"), stack)
    key = f"{workflow.capitalize()}StateMachineArn"
    if workflow not in machines:
        raise InvalidInput(f"--stack-name: stack {stack} has no output {key}; is it a ddbkeeper stack?")
    sfn = boto3.client("stepfunctions")
    with translate_errors("StartExecution", machines[workflow]):
        execution = sfn.start_execution(stateMachineArn=machines[workflow], input=json.dumps(payload))["executionArn"]
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
    """Handlers log and emit metrics on stdout, as in Lambda; locally that goes to a log file, not to --json output.
    Library warnings (Powertools, moto, botocore) go there too: they are for whoever reads the logs, not the screen."""
    if verbose:
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    with (
        tempfile.NamedTemporaryFile("w", prefix="ddbkeeper-", suffix=".log", delete=False) as log,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("default")

        def to_log(  # noqa: PLR0917 - warnings.showwarning's own signature
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: IO[str] | None = None,
            line: str | None = None,
        ) -> None:
            log.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = to_log
        try:
            with contextlib.redirect_stdout(log):
                yield
        finally:
            console.print(f"[dim]handler logs: {escape(log.name)}[/]")


def _status(args: argparse.Namespace, console: Console) -> int:
    if args.limit < 1:
        raise InvalidInput(f"--limit: expected a positive number, got {args.limit}")
    lines = recent_executions(
        boto3.client("cloudformation"), boto3.client("stepfunctions"), args.stack_name, args.limit
    )
    if args.json:
        sys.stdout.write(json.dumps([line.as_json() for line in lines], indent=2) + "\n")
    else:
        show_status(Console(), args.stack_name, lines)
    return EXIT_OK


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InvalidInput(f"--parameter: expected KEY=VALUE, got {item!r}")
    return key, value


def _audit(args: argparse.Namespace, console: Console) -> int:
    results = run_audit(args, console)
    if args.json:
        sys.stdout.write(json.dumps([line.model_dump(mode="json") for line in results], indent=2) + "\n")
    else:
        show_audit(Console(), results)
    return EXIT_OK


def _points(args: argparse.Namespace, console: Console) -> int:
    found = run_points(args, console)
    if args.json:
        sys.stdout.write(json.dumps([point.model_dump(mode="json") for point in found], indent=2) + "\n")
    else:
        show_points(Console(), args.table_name, found)
    return EXIT_OK


def _demo(args: argparse.Namespace, console: Console) -> int:
    from ddbkeeper.cli.demo import Demo  # noqa: PLC0415 - moto loads only for local runs

    with handler_output(console, verbose=False):
        return Demo(project_root(args.project), console).run()
