"""Input validation: every bad input names its field and what was expected, before anything is touched."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ddbkeeper.backup.models import BackupRequest
from ddbkeeper.errors import InvalidInput
from ddbkeeper.models import Execution, parse

pytestmark = pytest.mark.pure


def message(payload: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(BackupRequest, payload)
    return str(caught.value)


def test_the_design_example_is_valid() -> None:
    request = parse(
        BackupRequest,
        {
            "tables": ["orders"],
            "selector": {"tag_key": "backup", "tag_value": "daily"},
            "retention": {"keep_last": 7, "daily": 7, "weekly": 4, "monthly": 12, "max_age_days": None, "min_keep": 1},
            "backup_name_prefix": "ddbkeeper",
            "dry_run": False,
            "role_arn": None,
        },
    )
    assert request.tables == ["orders"]
    assert request.retention is not None
    policy = request.retention.policy()
    assert (policy.keep_last, policy.daily, policy.weekly, policy.monthly, policy.min_keep) == (7, 7, 4, 12, 1)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("not an object", "input: expected a JSON object, got str"),
        ({}, "input: give tables (a list of names) and/or selector"),
        ({"tables": []}, "tables: List should have at least 1 item"),
        ({"tables": ["orders"], "colour": "red"}, "colour: unknown field"),
        (
            {"tables": ["orders"], "retention": {"keep_last": -1}},
            "retention.keep_last: Input should be greater than or equal to 0",
        ),
        (
            {"tables": ["orders"], "retention": {"keep_last": 1.5}},
            "retention.keep_last: Input should be a valid integer",
        ),
        (
            {"tables": ["orders"], "retention": {"keep_last": True}},
            "retention.keep_last: Input should be a valid integer",
        ),
        (
            {"tables": ["orders"], "retention": {"min_keep": 0, "keep_last": 1}},
            "retention.min_keep: Input should be greater than or equal to 1",
        ),
        (
            {"tables": ["orders"], "retention": {"max_age_days": 0}},
            "retention.max_age_days: Input should be greater than or equal to 1",
        ),
        ({"tables": ["orders"], "retention": {}}, "retention: give at least one of keep_last"),
        ({"tables": ["orders"], "retention": {"keep_last": 1, "max_deletions": 0}}, "retention.max_deletions"),
        ({"tables": ["bad name!"]}, "tables.0: expected a string matching"),
        ({"selector": {}}, "selector: give name_prefix and/or tag_key"),
        ({"selector": {"tag_value": "x"}}, "selector: give name_prefix and/or tag_key"),
        ({"selector": {"name_prefix": "a", "tag_value": "x"}}, "selector: tag_value needs tag_key"),
        ({"tables": ["orders"], "role_arn": "arn:aws:iam::123:role/x"}, "role_arn: expected a string matching"),
        ({"tables": ["orders"], "external_id": "abc"}, "input: external_id needs role_arn"),
        (
            {"tables": ["orders"], "role_arn": "arn:aws:iam::222222222222:role/b", "retention": {"keep_last": 1}},
            "retention_role_arn: retention in another account deletes backups through that account's retention role",
        ),
        (
            {
                "tables": ["orders"],
                "role_arn": "arn:aws:iam::222222222222:role/b",
                "retention_role_arn": "arn:aws:iam::333333333333:role/r",
            },
            "retention_role_arn: must be in the same account as role_arn",
        ),
        (
            {"tables": ["orders"], "retention_role_arn": "arn:aws:iam::222222222222:role/r"},
            "retention_role_arn goes with role_arn",
        ),
        ({"tables": ["orders"], "region": "mars"}, "region: expected a string matching"),
        ({"tables": ["orders"], "dry_run": "yes"}, "dry_run: Input should be a valid boolean"),
        (
            {"tables": ["orders"], "backup_name_prefix": ""},
            "backup_name_prefix: String should have at least 1 character",
        ),
    ],
)
def test_bad_input_names_the_field(payload: Any, expected: str) -> None:
    assert expected in message(payload)


def test_every_bad_field_is_reported_at_once() -> None:
    text = message({"tables": ["orders"], "retention": {"keep_last": -1, "daily": -2}, "typo": 1})
    assert "retention.keep_last" in text
    assert "retention.daily" in text
    assert "typo: unknown field" in text


def test_execution_stamp_is_utc_to_the_millisecond() -> None:
    aws = parse(Execution, {"name": "x", "started_at": "2026-11-22T03:00:00.123Z"})
    moto = parse(Execution, {"name": "x", "started_at": "2026-11-22T04:00:00.123456+01:00"})
    assert aws.stamp() == moto.stamp() == "20261122T030000123Z"
    assert aws.started_at == datetime(2026, 11, 22, 3, 0, 0, 123000, tzinfo=UTC)
