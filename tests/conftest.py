"""Fake credentials for every test, Powertools metrics reset between tests; the shared fixtures of
tests/support/fixtures.py for every folder."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Metrics

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    """Powertools reads its service name and metrics namespace when ddbkeeper.handler builds its Logger and Metrics,
    as on Lambda, where template.yaml's Globals set them. Some test modules import the handler module while they are
    collected, before any fixture runs: without these, its Metrics would have no namespace and every handler that
    publishes a metric would fail (SchemaValidationError) in whichever tests run after."""
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ddbkeeper")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ddbkeeper")


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real account: fake credentials, a fixed region, no profile, no stray endpoint."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "MOTO_ACCOUNT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "ddbkeeper")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ddbkeeper")


@pytest.fixture(autouse=True)
def clear_metrics() -> Iterator[None]:
    yield
    Metrics().clear_metrics()
