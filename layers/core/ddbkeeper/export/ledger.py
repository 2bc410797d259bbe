"""The ledger: the record of a table's completed exports, the chain's memory.

It is a folder of small JSON objects next to the exports, one per completed export:
``s3://<bucket>/<prefix>/ddbkeeper-ledger/<table>/<window end>.json``. Entries are written once and never changed, so
two runs never race on a shared document, and the newest entry (the greatest key) is where the next incremental export
starts.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ddbkeeper.aws import translate_errors
from ddbkeeper.clock import stamp
from ddbkeeper.errors import InvalidInput
from ddbkeeper.export.models import ExportRecord, LedgerEntry
from ddbkeeper.export_files import ExportLocation, ledger_folder
from ddbkeeper.models import parse

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ExportLedger:
    """A table's ledger, as write-once objects under the export prefix (read and written with the stack's access)."""

    def __init__(self, s3: S3Client, location: ExportLocation, table: str) -> None:
        self.s3 = s3
        self.location = location
        self.folder = ledger_folder(location.prefix, table)

    def last(self, table_arn: str) -> LedgerEntry | None:
        """The newest entry for this table (keys sort by window end), or None before the first export."""
        with translate_errors("ListObjectsV2", self.location.url(self.folder)):
            try:
                pages = self.s3.get_paginator("list_objects_v2").paginate(Prefix=self.folder, **self.location.params())
                keys = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".json")]
            except self.s3.exceptions.NoSuchBucket:
                raise InvalidInput(f"bucket: {self.location.bucket} does not exist") from None
        for key in sorted(keys, reverse=True):
            entry = self._read(key)
            if entry.table_arn == table_arn:
                return entry
        return None

    def record(self, record: ExportRecord) -> str:
        """Write the export's entry; returns where it is (s3://...)."""
        key = f"{self.folder}{stamp(record.window.end)}.json"
        with translate_errors("PutObject", self.location.url(key)):
            self.s3.put_object(
                Key=key,
                Body=json.dumps(record.model_dump(mode="json"), indent=2).encode(),
                ContentType="application/json",
                **self.location.params(),
            )
        return self.location.url(key)

    def _read(self, key: str) -> LedgerEntry:
        with translate_errors("GetObject", self.location.url(key)):
            body = self.s3.get_object(Key=key, **self.location.params())["Body"].read()
        return parse(LedgerEntry, json.loads(body), root=self.location.url(key))
