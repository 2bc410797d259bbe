"""What the tests share: paths, sample events, handlers loaded the way the runtime loads them, and the helpers for
workflow runs. Fixtures live in tests/support/fixtures.py (registered by tests/conftest.py); test modules import
from this package only, never from each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import boto3
import requests
from ddbkeeper.executions import ExecutionResult
from ddbkeeper.local.runtime import BoundFunction, LocalContext, LocalRuntime
from ddbkeeper.local.template import StackTemplate
from mypy_boto3_dynamodb import DynamoDBClient as Client

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CLI = [sys.executable, "-m", "ddbkeeper.cli"]
STACK_BUCKET = "ddbkeeper-local-exportbucket"  # the stack bucket's local stand-in (README: The embedded runtime)


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


def assumed(service: str, role_arn: str) -> Any:
    """A service as another (moto) account sees it: moto maps assumed-role credentials to the role's account."""
    sts = boto3.client("sts", region_name="us-east-1")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def assumed_dynamodb(role_arn: str) -> Client:
    return cast("Client", assumed("dynamodb", role_arn))


def run(runtime: LocalRuntime, workflow: str, payload: Any, timeout_seconds: float = 120) -> ExecutionResult:
    """Run a workflow on the embedded runtime to its end."""
    return runtime.run(workflow, payload, timeout_seconds=timeout_seconds)


def history(runtime: LocalRuntime, result: ExecutionResult) -> list[dict[str, Any]]:
    pages = runtime.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=result.arn)
    return [event for page in pages for event in page["events"]]


def entered(events: list[dict[str, Any]]) -> list[str]:
    """The names of the states an execution entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def backup_names(dynamodb: Client, table: str) -> list[str]:
    return sorted(s["BackupName"] for s in dynamodb.list_backups(TableName=table)["BackupSummaries"])


def made_by_ddbkeeper(dynamodb: Client, bucket: str, table: str, names: list[str]) -> list[str]:
    """Backups of `table` as Create Backup makes them: each with its record in the stack's bucket (the proof of making
    retention needs), written by the real code. Their ARNs, in order."""
    from ddbkeeper.aws import Account, AccountAccess, SessionFactory
    from ddbkeeper.settings import SettingsRecords, settings_of

    records = SettingsRecords(Account(SessionFactory(), AccountAccess()), bucket)
    description = dynamodb.describe_table(TableName=table)["Table"]
    arns = []
    for name in names:
        arn = dynamodb.create_backup(TableName=table, BackupName=name)["BackupDetails"]["BackupArn"]
        records.save(arn, description, settings_of(dynamodb, description))
        arns.append(arn)
    return arns


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process, until the block ends; its URL."""
    from tests.support.dynalite import free_port

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own venv's moto server
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def cli(endpoint: str, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """`ddbkeeper ARGS` as a user runs it, in its own process, acting on `endpoint` (AWS_ENDPOINT_URL)."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, **variables}
    return subprocess.run(  # noqa: S603 - the CLI under test
        [*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
