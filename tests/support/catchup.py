"""A stand-in for DynamoDB's incremental exports during a copy by export (ddbkeeper.copy.byexport.SourceExports):
moto ignores ExportType INCREMENTAL (it writes a full dump, without manifests), and its PITR's latest restorable time
stays where it was turned on, so there would be no window to catch up.

`CatchUp.install` makes the source's clock stand `ahead` of the real one and each incremental export start by making
its changes on the source (a put, an update, a delete) and writing what DynamoDB would export of them, in the real
layout (tests.support.chain.ChainWriter: manifests, MD5s, the shared data/ folder), into the copy's folder in the
bucket. FULL exports are moto's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ddbkeeper.copy.byexport import SourceExports
from mypy_boto3_s3 import S3Client

from tests.support import Client
from tests.support.chain import ChainWriter, Item, Key, key_of
from tests.support.tables import all_items


@dataclass
class CatchUp:
    source: Client  # the source table's account
    table: str
    s3: S3Client  # the bucket's account
    bucket: str
    ahead: timedelta = timedelta(minutes=16)
    started: list[dict[str, Any]] = field(default_factory=list)  # the incremental exports' parameters
    changed: dict[str, Key] = field(default_factory=dict)  # the keys put, updated and deleted

    def snapshot(self) -> dict[Key, Item]:
        return {key_of(item): item for item in all_items(self.source, self.table)}

    def change(self) -> None:
        """One put, one update, one delete on the source."""
        items = sorted(self.snapshot())
        updated, deleted = items[0], items[1]
        self.source.put_item(TableName=self.table, Item={"pk": {"S": "new-customer"}, "sk": {"N": "999999"}})
        self.source.update_item(
            TableName=self.table,
            Key={"pk": {"S": updated[0]}, "sk": {"N": str(updated[1])}},
            UpdateExpression="SET note = :n",
            ExpressionAttributeValues={":n": {"S": "changed after the FULL export"}},
        )
        self.source.delete_item(TableName=self.table, Key={"pk": {"S": deleted[0]}, "sk": {"N": str(deleted[1])}})
        self.changed = {"put": ("new-customer", 999999), "updated": updated, "deleted": deleted}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> CatchUp:
        original_start, original_describe = SourceExports.start, SourceExports.describe
        now = datetime.now(UTC) + self.ahead
        written: dict[str, str] = {}

        def start(exports: SourceExports, params: dict[str, Any]) -> Any:
            if params["ExportType"] != "INCREMENTAL_EXPORT":
                return original_start(exports, params)
            window = params["IncrementalExportSpecification"]
            before = self.snapshot()
            self.change()
            writer = ChainWriter(self.s3, self.bucket, params["S3Prefix"], self.table)
            url = writer.incremental(before, self.snapshot(), window["ExportFromTime"], window["ExportToTime"])
            arn = f"{params['TableArn']}/export/incremental-{len(self.started)}"
            written[arn] = url.removeprefix(f"s3://{self.bucket}/")
            self.started.append(params)
            return {"ExportArn": arn, "ExportStatus": "IN_PROGRESS"}

        def describe(exports: SourceExports, arn: str) -> Any:
            if arn not in written:
                return original_describe(exports, arn)
            return {"ExportArn": arn, "ExportStatus": "COMPLETED", "ExportManifest": written[arn], "ItemCount": 3}

        monkeypatch.setattr(SourceExports, "now", lambda exports: now)
        monkeypatch.setattr(SourceExports, "latest_restorable", lambda exports, table: None)
        monkeypatch.setattr(SourceExports, "start", start)
        monkeypatch.setattr(SourceExports, "describe", describe)
        return self
