"""Scratch tables: a table restored only to be read (a drill's check, a repair's source) and always dropped after,
also after a failure. One way to drop them, for every workflow that makes them.

A scratch table is dropped only when it carries the tags that mark it as the workflow's (IAM lets the clean-up delete
no other table), or, left untagged (RestoreTableFromBackup and RestoreTableToPointInTime take no tags, and a failure
may come before the tags were put on), when its RestoreSummary proves this execution made it: it is tagged first and
dropped on the next turn. Anything else by that name is refused and left alone. DynamoDB deletes only ACTIVE tables:
a restore still running is waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools import Logger

from ddbkeeper.aws import translate_errors
from ddbkeeper.clock import backoff
from ddbkeeper.errors import UnsafeOperation
from ddbkeeper.models import Count, StepModel
from ddbkeeper.settings import tags_of
from ddbkeeper.tables import describe, drop_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

logger = Logger(child=True)
TAG_SETTLE_SECONDS = 3  # DynamoDB's tags are eventually consistent: the deletion comes a few seconds after the tag


class ScratchCleanup(StepModel):
    """A clean-up loop's state: DELETED or GONE ends it; WAITING comes round again after `wait_seconds`."""

    status: Literal["WAITING", "DELETED", "GONE"]
    polls: Count = 0
    wait_seconds: Count = 0
    note: str = ""


@dataclass(frozen=True)
class ScratchMark:
    """What makes a table this execution's scratch table: the tags it carries (`tags`, all of them), or, untagged, the
    proof that this execution restored it (`made_here`)."""

    tags: Mapping[str, str]
    made_here: Callable[[TableDescriptionTypeDef], bool]

    def carried_by(self, client: DynamoDBClient, table: TableDescriptionTypeDef) -> bool:
        return self.tags.items() <= tags_of(client, table["TableArn"]).items()

    def put_on(self, client: DynamoDBClient, table: TableDescriptionTypeDef) -> None:
        """Tag the table as the scratch table, only when this execution made it (UnsafeOperation otherwise)."""
        if self.carried_by(client, table):
            return
        if not self.made_here(table):
            raise UnsafeOperation(
                f"{table['TableName']}: not the scratch table this execution made; not marking or dropping it"
            )
        tags = [{"Key": key, "Value": value} for key, value in self.tags.items()]
        with translate_errors("TagResource", table["TableArn"]):
            client.tag_resource(ResourceArn=table["TableArn"], Tags=tags)  # type: ignore[arg-type]
        logger.info("scratch table marked", extra={"scratch": table["TableName"]})


def clean_up(client: DynamoDBClient, name: str, mark: ScratchMark, progress: ScratchCleanup | None) -> ScratchCleanup:
    """One turn of the clean-up loop: drop the scratch table `name` if it is this execution's, or say when to look
    again (a restore still running; a tag just put on)."""
    polls = (progress.polls if progress else 0) + 1
    table = describe(client, name)
    if table is None:
        return ScratchCleanup(status="GONE", polls=polls, note=f"{name} does not exist")
    if table.get("TableStatus") == "DELETING":
        return ScratchCleanup(status="DELETED", polls=polls, note=f"{name} is being deleted")
    if table.get("TableStatus") != "ACTIVE":  # a restore still running: DynamoDB deletes only ACTIVE tables
        wait = backoff(polls, first=5, cap=60)
        return ScratchCleanup(status="WAITING", polls=polls, wait_seconds=wait, note=table.get("TableStatus", ""))
    if not mark.carried_by(client, table):
        mark.put_on(client, table)
        note = f"{name} marked as the scratch table; dropping it next"
        return ScratchCleanup(status="WAITING", polls=polls, wait_seconds=TAG_SETTLE_SECONDS, note=note)
    drop_table(client, table)
    return ScratchCleanup(status="DELETED", polls=polls, note=f"{name} deleted")
