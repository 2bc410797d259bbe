"""Inputs of the restore workflow (see README: Restore workflow)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from ddbkeeper.export_models import BucketName, ExportFormat, S3Prefix
from ddbkeeper.models import AccountId, Execution, Region, StrictModel, TableLocation, TableName, TargetOverrides

BackupArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+/backup/.+$")]
# DynamoDB's export ARNs end table/<name>/export/<id>; moto's read .../import/<id>, accepted so local runs work.
ExportArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/.+/(export|import)/.+$")
]
KeySchema = Annotated[list[dict[str, str]], Field(min_length=1, max_length=2)]


class ExportSource(StrictModel):
    """A FULL export in S3: by its ARN, or by the bucket and the prefix of one export's folder."""

    export_arn: ExportArn | None = None
    bucket: BucketName | None = None
    prefix: S3Prefix | None = None
    bucket_owner: AccountId | None = None
    format: ExportFormat = "DYNAMODB_JSON"
    compression: Literal["GZIP", "ZSTD", "NONE"] = "GZIP"

    @model_validator(mode="after")
    def _one_way_to_find_it(self) -> ExportSource:
        if (self.export_arn is None) == (self.bucket is None or self.prefix is None):
            raise ValueError("give export_arn, or bucket and prefix (the folder of one export)")
        return self


class RestoreSource(StrictModel):
    """Exactly one of: a backup, a table and a point in time, an export."""

    backup_arn: BackupArn | None = None
    table: TableName | None = None
    point_in_time: str | None = None  # an ISO time with a time zone, or "latest"
    region: Region | None = None  # the source table's region, when it differs from the new table's
    export: ExportSource | None = None

    @field_validator("point_in_time")
    @classmethod
    def _iso_or_latest(cls, value: str | None) -> str | None:
        if value is None or value == "latest":
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError(f"expected 'latest' or an ISO time with a time zone (2026-11-22T03:00:00Z), got {value!r}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> RestoreSource:
        given = [self.backup_arn is not None, self.table is not None or self.point_in_time is not None, self.export]
        if sum(bool(g) for g in given) != 1:
            raise ValueError("give exactly one of backup_arn, table with point_in_time, or export")
        if (self.table is None) != (self.point_in_time is None):
            raise ValueError("table and point_in_time go together")
        if self.region is not None and self.table is None:
            raise ValueError("region goes with table and point_in_time (a backup's region is in its ARN)")
        return self

    @property
    def kind(self) -> Literal["backup", "point_in_time", "export"]:
        if self.backup_arn:
            return "backup"
        return "export" if self.export else "point_in_time"

    def moment(self) -> datetime | None:
        return None if self.point_in_time in (None, "latest") else datetime.fromisoformat(str(self.point_in_time))


class RestoreTarget(TableLocation, TargetOverrides):
    """The new table: where it goes, what differs from the source, and the settings a restore does not carry."""

    ttl_attribute: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    pitr: bool | None = None
    # An import builds the table from these (they may differ from the exported table's: a new partition key).
    key_schema: KeySchema | None = None
    attribute_definitions: Annotated[list[dict[str, str]], Field(min_length=1)] | None = None
    global_secondary_indexes: list[dict[str, Any]] = []


class RestoreRequest(StrictModel):
    source: RestoreSource
    target: RestoreTarget
    verify: Literal["count", "none"] = "count"
    dry_run: bool = False  # plan and report what the restore would do; create nothing

    @model_validator(mode="after")
    def _fits_the_source(self) -> RestoreRequest:
        target = self.target
        if self.source.kind == "export":
            if target.key_schema is None or target.attribute_definitions is None:
                raise ValueError("an import needs target.key_schema and target.attribute_definitions")
            if target.drop_indexes:
                raise ValueError("target.drop_indexes: an import creates just target.global_secondary_indexes")
        elif target.key_schema or target.attribute_definitions or target.global_secondary_indexes:
            raise ValueError(
                "target.key_schema/attribute_definitions/global_secondary_indexes: only an import from an export "
                "can change the keys; a backup or point-in-time restore keeps the source's"
            )
        if self.source.kind == "backup" and target.region and f":{target.region}:" not in str(self.source.backup_arn):
            raise ValueError(
                "target.region: a backup restores in its own region; export and import to restore in another region"
            )
        return self


class RestoreTask(StrictModel):
    """What every restore step receives: the request, who runs it, and what the earlier steps found."""

    model_config = ConfigDict(extra="ignore", strict=False, frozen=True)

    request: RestoreRequest
    execution: Execution
