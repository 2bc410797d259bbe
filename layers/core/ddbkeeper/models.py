"""What the workflows' models share: the base classes, field types, who runs a step, where a table is.

Requests (what a user writes) forbid unknown keys and do not coerce types, so a typo or a string where a number
belongs fails at the first step with `InvalidInput` naming the field. Step state (what one step hands the next: a
plan, progress, a checkpoint, a report) is a model too, read back leniently: Step Functions hands times over as text
and may carry more of the state than a step needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ddbkeeper.aws import AccountAccess
from ddbkeeper.errors import InvalidInput, Misconfigured

TableName = Annotated[str, StringConstraints(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
IndexName = Annotated[str, StringConstraints(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
RoleArn = Annotated[str, StringConstraints(max_length=2048, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
NamePrefix = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Count = Annotated[int, Field(ge=0)]
ExternalId = Annotated[str, StringConstraints(min_length=2, max_length=1224)]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
BucketName = Annotated[str, StringConstraints(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")]
KmsKey = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
ExportFormat = Literal["DYNAMODB_JSON", "ION"]
RESERVED_FOLDERS = ("ddbkeeper-settings",)  # written only by the functions that back up: no request may point there


def _plain_prefix(value: str) -> str:
    segments = value.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise ValueError(f"expected a key prefix without . or .. segments, got {value!r}")
    if segments[0] in RESERVED_FOLDERS:
        raise ValueError(f"{segments[0]}/ is reserved for the records ddbkeeper writes beside its backups")
    return value


# A relative S3 key prefix: no leading or trailing slash, no empty, . or .. segment, not a reserved folder.
S3Prefix = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512, pattern=r"^[^/\s]+(/[^/\s]+)*$"),
    AfterValidator(_plain_prefix),
]


def _user_tag(key: str) -> str:
    if key.lower().startswith("aws:"):
        raise ValueError(f"tag keys starting with aws: are reserved for AWS, got {key!r}")
    return key


# DynamoDB's tag limits: keys 1-128 characters (aws: reserved), values up to 256.
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_user_tag)]
TagValue = Annotated[str, StringConstraints(max_length=256)]
BackupArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+/backup/.+$")]


def _has_zone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"expected an ISO time with a time zone (e.g. 2026-11-22T03:00:00Z), got {value.isoformat()}")
    return value


# Step Functions and JSON hand times over as ISO strings: parse them, and insist on a time zone.
AwareTime = Annotated[datetime, Field(strict=False), AfterValidator(_has_zone)]


class StrictModel(BaseModel):
    """A request, or a part of one: unknown keys are refused and nothing is coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StepModel(BaseModel):
    """Step state: read back from JSON (times as text), keys a step does not need are ignored."""

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)


class Execution(StepModel):
    """Who is running: the execution's name (for STS session names, tokens) and start time (for names, windows)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    started_at: AwareTime

    def stamp(self) -> str:
        """The start in UTC to the millisecond: 20261122T030000123Z."""
        started = self.started_at.astimezone(UTC)
        return f"{started:%Y%m%dT%H%M%S}{started.microsecond // 1000:03d}Z"

    def session_name(self) -> str:
        return f"ddbkeeper-{self.name}"


R = TypeVar("R", bound=BaseModel)


class Task(StepModel, Generic[R]):
    """What every step of a workflow receives: the validated request and who runs it (plus the step's own state)."""

    request: R
    execution: Execution


class TableLocation(StrictModel):
    """A table, and how to reach it: its region, and the role to assume in its account (else ambient credentials)."""

    table: TableName
    region: Region | None = None
    role_arn: RoleArn | None = None
    external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> TableLocation:
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id needs role_arn")
        return self

    def access(self) -> AccountAccess:
        return AccountAccess(region=self.region, role_arn=self.role_arn, external_id=self.external_id)


class TargetOverrides(StrictModel):
    """Changes to a new table's settings relative to its source's (a copy's target, a restored table)."""

    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] | None = None
    read_capacity: Annotated[int, Field(ge=1)] | None = None
    write_capacity: Annotated[int, Field(ge=1)] | None = None
    drop_indexes: list[IndexName] = []
    table_class: Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"] | None = None
    sse_kms_key_id: KmsKey | None = None
    deletion_protection: bool | None = None
    stream: bool | None = None
    tags: dict[TagKey, TagValue] = {}

    @model_validator(mode="after")
    def _capacity_goes_with_provisioned(self) -> TargetOverrides:
        if self.billing_mode == "PROVISIONED" and (self.read_capacity is None or self.write_capacity is None):
            raise ValueError("billing_mode PROVISIONED needs read_capacity and write_capacity")
        if self.billing_mode == "PAY_PER_REQUEST" and (self.read_capacity or self.write_capacity):
            raise ValueError("read_capacity/write_capacity go with billing_mode PROVISIONED")
        return self

    def check_indexes(self, known: set[str], field: str = "target_overrides.drop_indexes") -> None:
        """Every index to drop must be one the source has: a typo must not silently keep an index."""
        unknown = sorted(set(self.drop_indexes) - known)
        if unknown:
            raise InvalidInput(f"{field}: the source has no index {', '.join(unknown)}")


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, root: str = "") -> M:
    """Validate `data` into `model`, or raise InvalidInput naming each bad field and what was expected."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{root or 'input'}: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput("; ".join(_describe(e, root) for e in error.errors())) from None


def parse_settings(model: type[M], environ: Mapping[str, str]) -> M:
    """A function's configuration from its environment (template.yaml sets it); a bad value names the variable."""
    try:
        return model.model_validate(dict(environ))
    except ValidationError as error:
        raise Misconfigured("environment: " + "; ".join(_describe(e, "") for e in error.errors())) from None


class Settings(BaseModel):
    """A function's configuration, read from its environment: fields are named as the variables are."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ALLOWED_REGIONS: str = ""  # the stack's region and the template's AllowedRegions; empty: any region

    def check_region(self, field: str, region: str | None) -> None:
        """A request may name only a region the stack acts in: any other is refused before anything is touched (a
        region that does not exist would otherwise be retried as an unreachable endpoint)."""
        allowed = [name for name in self.ALLOWED_REGIONS.split(",") if name]
        if region is not None and allowed and region not in allowed:
            raise InvalidInput(
                f"{field}: {region!r} is not a region this stack acts in ({', '.join(allowed)}); "
                "the template's AllowedRegions parameter adds regions"
            )


def _describe(error: Any, root: str) -> str:
    location = list(error["loc"])
    if location[:1] == ["request"]:  # every step carries the input as `request`: name its fields as the user wrote them
        location = location[1:]
    path = ".".join(str(part) for part in (root, *location) if part != "")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        message = f"expected a JSON object, got {type(error['input']).__name__}"
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ").removeprefix(f"{path}: ")
    elif error["type"] == "string_pattern_mismatch":
        message = f"expected a string matching {error['ctx']['pattern']}, got {error['input']!r}"
    return f"{path or 'input'}: {message}"
