"""Fake credentials for every test, Powertools metrics reset between tests; the shared fixtures of
tests/support/fixtures.py for every folder."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Metrics

pytest_plugins = ["tests.support.fixtures"]

# ddbkeeper.handler builds its Logger and Metrics when first imported, and Powertools reads their service and namespace
# then: tests/shared/test_contract.py imports it while tests are collected, before any fixture runs. Without these,
# every handler that publishes a metric fails with "Must contain a metric namespace" in a run that collects it.
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME": "ddbkeeper", "POWERTOOLS_METRICS_NAMESPACE": "ddbkeeper"}
os.environ.update(POWERTOOLS)


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
    for name, value in POWERTOOLS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def clear_metrics() -> Iterator[None]:
    yield
    Metrics().clear_metrics()
