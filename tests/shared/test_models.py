"""The field types every workflow's requests share: refused values name the field and what was expected."""

from __future__ import annotations

import pytest
from ddbkeeper.errors import InvalidInput
from ddbkeeper.models import S3Prefix, Settings, StrictModel, TargetOverrides, parse

pytestmark = pytest.mark.pure


class Where(StrictModel):
    prefix: S3Prefix


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("../../etc", "prefix: expected a key prefix without . or .. segments"),
        ("exports/./orders", "prefix: expected a key prefix without . or .. segments"),
        ("ddbkeeper-settings/123456789012", "prefix: ddbkeeper-settings/ is reserved"),
        ("/absolute", "prefix: expected a string matching"),
        ("trailing/", "prefix: expected a string matching"),
    ],
)
def test_prefixes_that_would_escape_or_intrude_are_refused(prefix: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        parse(Where, {"prefix": prefix})


def test_ordinary_prefixes_pass() -> None:
    assert parse(Where, {"prefix": "exports/orders-2026.v2"}).prefix == "exports/orders-2026.v2"
    assert parse(Where, {"prefix": "ddbkeeper-settings-copy/x"}).prefix == "ddbkeeper-settings-copy/x"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"aws:cloudformation:stack-name": "x"}, "tag keys starting with aws: are reserved"),
        ({"AWS:x": "y"}, "tag keys starting with aws: are reserved"),
        ({"k" * 129: "v"}, "String should have at most 128 characters"),
        ({"": "v"}, "String should have at least 1 character"),
        ({"team": "v" * 257}, "tags.team: String should have at most 256 characters"),
    ],
)
def test_tags_dynamodb_would_refuse_are_refused_first(tags: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        parse(TargetOverrides, {"tags": tags})


def test_regions_are_those_the_stack_acts_in() -> None:
    settings = Settings(ALLOWED_REGIONS="us-east-1,eu-west-1,")
    settings.check_region("target.region", "eu-west-1")
    settings.check_region("target.region", None)
    with pytest.raises(InvalidInput, match=r"target.region: 'mars-north-1' is not a region this stack acts in"):
        settings.check_region("target.region", "mars-north-1")
    Settings().check_region("region", "anywhere-1")  # no list configured: any region
