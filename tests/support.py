"""Helpers shared by the tests: paths, sample events, handlers loaded the way the runtime loads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from ddbkeeper.aws import Client
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


def assumed_dynamodb(role_arn: str) -> Client:
    """DynamoDB as another (moto) account sees it: moto maps assumed-role credentials to the role's account."""
    sts = boto3.client("sts", region_name="us-east-1")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
