"""Inputs of the copy workflow (see README: Copy workflow)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from ddbkeeper.aws import AccountAccess
from ddbkeeper.models import Execution, ExternalId, Region, RoleArn, StrictModel, TableName

# The Map's result (one small checkpoint per segment) must stay under Step Functions' 256 KiB payload limit.
MAX_SEGMENTS = 500


class TableLocation(StrictModel):
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
    """Changes to the target's settings relative to the source's."""

    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] | None = None
    read_capacity: Annotated[int, Field(ge=1)] | None = None
    write_capacity: Annotated[int, Field(ge=1)] | None = None
    drop_indexes: list[Annotated[str, StringConstraints(min_length=3, max_length=255)]] = []
    table_class: Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"] | None = None
    sse_kms_key_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    deletion_protection: bool | None = None
    stream: bool | None = None
    tags: dict[str, str] = {}

    @model_validator(mode="after")
    def _capacity_goes_with_provisioned(self) -> TargetOverrides:
        if self.billing_mode == "PROVISIONED" and (self.read_capacity is None or self.write_capacity is None):
            raise ValueError("billing_mode PROVISIONED needs read_capacity and write_capacity")
        if self.billing_mode == "PAY_PER_REQUEST" and (self.read_capacity or self.write_capacity):
            raise ValueError("read_capacity/write_capacity go with billing_mode PROVISIONED")
        return self


class CopyRequest(StrictModel):
    """Input of the copy workflow (see README: Copy workflow)."""

    source: TableLocation
    target: TableLocation
    mode: Literal["create", "recreate", "append"] = "create"
    confirm_recreate: TableName | None = None
    segments: Annotated[int, Field(ge=1, le=MAX_SEGMENTS)] | Literal["auto"] = "auto"
    max_read_units: Annotated[float, Field(gt=0)] | None = None
    max_write_units: Annotated[float, Field(gt=0)] | None = None
    verify: Literal["count", "checksum", "none"] = "count"
    target_overrides: TargetOverrides = TargetOverrides()
    resume: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_SEGMENTS)] | None = None
    dry_run: bool = False

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="after")
    def _guardrails(self) -> CopyRequest:
        if self.mode == "recreate" and self.confirm_recreate is None:
            raise ValueError("mode recreate needs confirm_recreate naming the target table")
        if self.mode != "recreate" and self.confirm_recreate is not None:
            raise ValueError("confirm_recreate goes with mode recreate")
        if self.resume is not None and self.mode != "append":
            raise ValueError("resume needs mode append (the target already holds the copied pages)")
        return self


class CopyTask(StrictModel):
    """What every step after planning receives: the validated request and who runs it."""

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)

    request: CopyRequest
    execution: Execution
