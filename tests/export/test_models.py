"""The export request: where an export goes, and what is refused before anything is touched."""

from __future__ import annotations

import pytest
from ddbkeeper.errors import InvalidInput
from ddbkeeper.export.models import ExportRequest
from ddbkeeper.models import parse

pytestmark = pytest.mark.pure

ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-export"


def test_an_export_goes_under_its_prefix_or_ddbkeeper_table() -> None:
    assert parse(ExportRequest, {"table": "orders"}).key_prefix(stack_bucket=True) == "ddbkeeper/orders"
    assert parse(ExportRequest, {"table": "orders", "prefix": "x/y"}).key_prefix(stack_bucket=True) == "x/y"


def test_another_accounts_table_goes_under_that_accounts_prefix_in_the_stacks_bucket() -> None:
    """The bucket policy lets each other account write only under its own account id."""
    request = parse(ExportRequest, {"table": "ledger", "role_arn": ROLE})
    assert request.key_prefix(stack_bucket=True) == "222222222222/ddbkeeper/ledger"
    assert request.key_prefix(stack_bucket=False) == "ddbkeeper/ledger"  # its own bucket: its own rules
    inside = parse(ExportRequest, {"table": "ledger", "role_arn": ROLE, "prefix": "222222222222/exports"})
    assert inside.key_prefix(stack_bucket=True) == "222222222222/exports"
    outside = parse(ExportRequest, {"table": "ledger", "role_arn": ROLE, "prefix": "123456789012/exports"})
    with pytest.raises(InvalidInput, match=r"prefix: an export of account 222222222222's table .* goes under"):
        outside.key_prefix(stack_bucket=True)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"table": "orders", "prefix": "../../etc"}, "prefix: expected a key prefix without . or .. segments"),
        ({"table": "orders", "prefix": "ddbkeeper-settings/x"}, "prefix: ddbkeeper-settings/ is reserved"),
        ({"table": "orders", "export_type": "DIFFERENTIAL"}, "export_type"),
        ({"table": "orders", "external_id": "abc"}, "external_id needs role_arn"),
        ({"table": "orders", "export_time": "2026-11-22T03:00:00"}, "export_time: expected an ISO time with a time"),
    ],
)
def test_bad_requests_name_the_field(payload: dict[str, object], expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        parse(ExportRequest, payload)
