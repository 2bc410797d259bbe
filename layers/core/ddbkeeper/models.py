"""Workflow inputs as typed models, validated before anything is touched.

Every model forbids unknown keys and does not coerce types, so a typo or a string where a number belongs fails at the
first step with `InvalidInput` naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ddbkeeper.errors import InvalidInput
from ddbkeeper.retention import RetentionPolicy

TableName = Annotated[str, StringConstraints(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
RoleArn = Annotated[str, StringConstraints(max_length=2048, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
NamePrefix = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Count = Annotated[int, Field(ge=0)]
ExternalId = Annotated[str, StringConstraints(min_length=2, max_length=1224)]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]


def _has_zone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"expected an ISO time with a time zone (e.g. 2026-11-22T03:00:00Z), got {value.isoformat()}")
    return value


# Step Functions and JSON hand times over as ISO strings: parse them, and insist on a time zone.
AwareTime = Annotated[datetime, Field(strict=False), AfterValidator(_has_zone)]

# A backup is named <prefix>-<table>-<yyyymmddThhmmssfffZ> (UTC, to the millisecond: the execution's start, so that a
# retried step finds the backup it already started and two runs never share a name); DynamoDB allows 255 characters.
BACKUP_NAME_MAX = 255


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Selector(StrictModel):
    """Tables matched by name prefix and/or tag; both given means both must match."""

    name_prefix: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    tag_key: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    tag_value: Annotated[str, StringConstraints(max_length=256)] | None = None

    @model_validator(mode="after")
    def _needs_a_criterion(self) -> Selector:
        if self.name_prefix is None and self.tag_key is None:
            raise ValueError("give name_prefix and/or tag_key")
        if self.tag_value is not None and self.tag_key is None:
            raise ValueError("tag_value needs tag_key")
        return self


class RetentionSpec(StrictModel):
    keep_last: Count = 0
    daily: Count = 0
    weekly: Count = 0
    monthly: Count = 0
    yearly: Count = 0
    max_age_days: Annotated[int, Field(ge=1)] | None = None
    min_keep: Annotated[int, Field(ge=1)] = 1
    max_deletions: Annotated[int, Field(ge=1, le=1000)] = 50

    @model_validator(mode="after")
    def _needs_a_rule(self) -> RetentionSpec:
        self.policy()  # the policy's own checks (at least one rule) apply to the input too
        return self

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(**self.model_dump())


class BackupRequest(StrictModel):
    """Input of the backup workflow (see README: Backup workflow)."""

    tables: Annotated[list[TableName], Field(min_length=1, max_length=500)] | None = None
    selector: Selector | None = None
    retention: RetentionSpec | None = None
    backup_name_prefix: NamePrefix = "ddbkeeper"
    dry_run: bool = False
    role_arn: RoleArn | None = None
    external_id: ExternalId | None = None
    region: Region | None = None

    @model_validator(mode="after")
    def _needs_tables(self) -> BackupRequest:
        if not self.tables and self.selector is None:
            raise ValueError("give tables (a list of names) and/or selector")
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id needs role_arn")
        return self


class Execution(StrictModel):
    """Who is running: the execution's name (for STS session names) and start time (for backup names)."""

    # Step Functions hands the start time over as an ISO string.
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    started_at: datetime

    def stamp(self) -> str:
        started = self.started_at.astimezone(UTC)
        return f"{started:%Y%m%dT%H%M%S}{started.microsecond // 1000:03d}Z"


class TableTask(StrictModel):
    """One table's share of a backup run: what every per-table step receives from the Map."""

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)

    table: TableName
    request: BackupRequest
    execution: Execution


class BackupProgress(StrictModel):
    """The part of a started backup that the polling step needs back."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    arn: Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+/backup/.+$")]
    reused: bool = False
    polls: Count = 0
    settings: str | None = None


class BackupRun(StrictModel):
    """What the report step receives: the request and the Map's per-table results."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    request: BackupRequest
    results: list[dict[str, Any]]


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, root: str = "") -> M:
    """Validate `data` into `model`, or raise InvalidInput naming each bad field and what was expected."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{root or 'input'}: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput("; ".join(_describe(e, root) for e in error.errors())) from None


def _describe(error: Any, root: str) -> str:
    path = ".".join(str(part) for part in (root, *error["loc"]) if part != "")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ").removeprefix(f"{path}: ")
    elif error["type"] == "string_pattern_mismatch":
        message = f"expected a string matching {error['ctx']['pattern']}, got {error['input']!r}"
    return f"{path or 'input'}: {message}"
