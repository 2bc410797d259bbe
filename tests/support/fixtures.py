"""Fixtures every test folder may use (registered by tests/conftest.py).

`runtime`: the embedded runtime for workflow tests (the real ASL files, the real handlers), one per test module; the
handlers find DynamoDB and S3 the standard way, through AWS_ENDPOINT_URL pointed at the runtime's own server by
`on_runtime`, which `dynamodb`, `s3`, `bucket` and `table_factory` bring along.

`endpoint`: a moto server in its own process, for the CLI as a user runs it (`ddbkeeper run ... --local` in a
subprocess, AWS_ENDPOINT_URL naming the server); `remote` is DynamoDB there.
"""

from __future__ import annotations

import os
import time
import types
import uuid
from collections.abc import Callable, Iterator

import boto3
import botocore.endpoint
import pytest
from ddbkeeper.local.runtime import LocalRuntime
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from tests.support import ROOT, STACK_BUCKET, Client, moto_server

# Wait states, Retry intervals and botocore's retry backoff take real time; the tests skip the sleeping, not the logic.
_NO_SLEEP = types.SimpleNamespace(sleep=lambda seconds: None, time=time.time, monotonic=time.monotonic)


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WaitFunction, "_wait_interval", lambda self, env, wait_seconds: None)
        patch.setattr(retrier_decl, "time", _NO_SLEEP)
        patch.setattr(botocore.endpoint, "time", _NO_SLEEP)
        with LocalRuntime(ROOT) as local:
            # What `sam deploy` creates with the stack: its bucket (settings records, the proof retention needs).
            s3 = boto3.client(
                "s3",
                region_name="us-east-1",
                endpoint_url=local.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            s3.create_bucket(Bucket=os.environ["SETTINGS_BUCKET"])
            yield local


@pytest.fixture
def on_runtime(runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers find DynamoDB the standard way: AWS_ENDPOINT_URL, here the runtime's own server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", runtime.endpoint)


@pytest.fixture
def dynamodb(on_runtime: None) -> Client:
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def s3(on_runtime: None) -> Client:
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def bucket(s3: Client) -> str:
    """A fresh bucket for exports on the runtime's own server."""
    name = f"exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def table_factory(dynamodb: Client) -> Callable[..., str]:
    """Creates uniquely named tables, so tests sharing one server never see each other's backups."""

    def create(stem: str = "orders", tags: dict[str, str] | None = None, client: Client = dynamodb) -> str:
        name = f"{stem}-{uuid.uuid4().hex[:8]}"
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
        client.put_item(TableName=name, Item={"id": {"S": "1"}})
        return name

    return create


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A DynamoDB-compatible server in its own process: nothing the runtime starts, only what the environment names."""
    with moto_server() as url:
        # The stack's bucket, as `sam deploy` creates it (its local stand-in name): backups record their settings there.
        stack = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        stack.create_bucket(Bucket=STACK_BUCKET)
        yield url


@pytest.fixture
def remote(endpoint: str) -> Client:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
