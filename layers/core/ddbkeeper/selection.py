"""Which tables a run covers: named, matched by name prefix, or found by tag. Shared by every workflow that goes over
many tables (the backup, the drill) and by the audit, so that "the tables tagged backup=daily" means one thing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from pydantic import StringConstraints, model_validator

from ddbkeeper.aws import translate_errors
from ddbkeeper.errors import TableNotFound
from ddbkeeper.models import StrictModel, TagKey, TagValue
from ddbkeeper.settings import tags_of
from ddbkeeper.tables import describe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class Selector(StrictModel):
    """Tables matched by name prefix and/or tag; both given means both must match."""

    name_prefix: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    tag_key: TagKey | None = None
    tag_value: TagValue | None = None

    @model_validator(mode="after")
    def _needs_a_criterion(self) -> Selector:
        if self.name_prefix is None and self.tag_key is None:
            raise ValueError("give name_prefix and/or tag_key")
        if self.tag_value is not None and self.tag_key is None:
            raise ValueError("tag_value needs tag_key")
        return self


def all_tables(client: DynamoDBClient) -> Iterator[str]:
    """Every table of the account in the client's region, in ListTables' order."""
    with translate_errors("ListTables", "*"):
        for page in client.get_paginator("list_tables").paginate():
            yield from page.get("TableNames", [])


def selected(client: DynamoDBClient, name: str, selector: Selector) -> bool:
    """Whether a table matches the selector (a table dropped since it was listed does not)."""
    if selector.name_prefix is not None and not name.startswith(selector.name_prefix):
        return False
    if selector.tag_key is None:
        return True
    table = describe(client, name)
    if table is None:
        return False
    tags = tags_of(client, table["TableArn"])
    if selector.tag_key not in tags:
        return False
    return selector.tag_value is None or tags[selector.tag_key] == selector.tag_value


def select_tables(client: DynamoDBClient, names: list[str] | None, selector: Selector | None, region: str) -> list[str]:
    """The tables named plus those the selector matches, in a stable order without repeats. Named tables are not
    checked here (one missing table fails alone); a selector that matches nothing is an error, since a schedule that
    silently covers nothing protects nothing."""
    tables = list(dict.fromkeys(names or []))
    if selector is not None:
        matched = [name for name in all_tables(client) if selected(client, name, selector)]
        if not matched:
            raise TableNotFound(f"selector {selector.model_dump(exclude_none=True)} matched no table in {region}")
        tables = list(dict.fromkeys(tables + matched))
    return tables
