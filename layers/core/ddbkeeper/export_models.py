"""Inputs of the export workflow (see README: Export workflow)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, StringConstraints, model_validator

from ddbkeeper.aws import AccountAccess
from ddbkeeper.models import AccountId, AwareTime, Execution, ExternalId, Region, RoleArn, StrictModel, TableName

BucketName = Annotated[str, StringConstraints(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")]
# A relative S3 key prefix: no leading or trailing slash, no empty segment.
S3Prefix = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^/\s]+(/[^/\s]+)*$")]
KmsKey = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
ExportFormat = Literal["DYNAMODB_JSON", "ION"]


class ExportRequest(StrictModel):
    """Export a table's snapshot (FULL) or its changes since the last export (INCREMENTAL) to S3; AUTO chooses."""

    table: TableName
    region: Region | None = None
    role_arn: RoleArn | None = None
    external_id: ExternalId | None = None
    bucket: BucketName | None = None  # None: the stack's export bucket
    bucket_owner: AccountId | None = None
    prefix: S3Prefix | None = None  # None: ddbkeeper/<table>
    export_type: Literal["FULL", "INCREMENTAL", "AUTO"] = "AUTO"
    format: ExportFormat = "DYNAMODB_JSON"
    export_time: AwareTime | None = None
    view_type: Literal["NEW_AND_OLD_IMAGES", "NEW_IMAGE"] = "NEW_AND_OLD_IMAGES"
    enable_pitr: bool = False
    kms_key_id: KmsKey | None = None
    dry_run: bool = False  # plan and report what would be exported; change nothing (not even PITR)

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> ExportRequest:
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id needs role_arn")
        return self

    def access(self) -> AccountAccess:
        return AccountAccess(region=self.region, role_arn=self.role_arn, external_id=self.external_id)

    def key_prefix(self) -> str:
        return self.prefix or f"ddbkeeper/{self.table}"


class ExportTask(StrictModel):
    """What every export step receives: the validated request and who runs it (the rest is the steps' own state)."""

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)

    request: ExportRequest
    execution: Execution
