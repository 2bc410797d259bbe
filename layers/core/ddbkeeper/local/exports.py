"""Exports in DynamoDB's real layout, written where moto would write its own: what the embedded runtime's demo and the
tests use, since moto writes neither manifests nor change records.

`ExportWriter` writes what DynamoDB would export of a table given as its states over time:
- a FULL export: `<prefix>/AWSDynamoDB/<id>/manifest-summary.json`, `manifest-files.json` (one line per data file with
  its itemCount and the base64 MD5 of the object), `data/*.json.gz` with one {"Item": ...} per line;
- an INCREMENTAL export: the same manifests, its data files in the shared `<prefix>/AWSDynamoDB/data/` folder beside
  the other incremental exports' files, one {"Metadata", "Keys", "NewImage", "OldImage"} line per key changed in the
  window (its last state there; no NewImage for a delete, OldImage only with NEW_AND_OLD_IMAGES);
- and, when asked, the export workflow's ledger entry for it.
Items are given as boto3's client reads and writes them (binary as bytes) and written in the export's JSON form.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ddbkeeper.clock import iso, stamp
from ddbkeeper.export_files import ExportLocation, ledger_folder
from ddbkeeper.wire import to_wire

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Item = dict[str, Any]  # as boto3's client reads and writes items (binary as bytes)
Table = Mapping[Any, Item]  # a table's items by key (any hashable, sortable as text), at one moment


def window_changes(before: Table, after: Table, view: str, key_names: Sequence[str]) -> list[dict[str, Any]]:
    """What an incremental export of the window holds: each changed key once, in its last state (a key created and
    deleted inside the window is not there)."""
    lines: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        image = new if new is not None else old
        assert image is not None
        line: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(1_700_000_000_000_000 + len(lines))}},
            "Keys": {name: image[name] for name in key_names},
        }
        if new is not None:
            line["NewImage"] = new
        if old is not None and view == "NEW_AND_OLD_IMAGES":
            line["OldImage"] = old
        lines.append(to_wire(line))
    return lines


class ExportWriter:
    """Writes exports of one table in the real layout under s3://bucket/prefix/, and optionally their ledger entries."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        prefix: str,
        table: str,
        *,
        key_names: Sequence[str] = ("pk", "sk"),
        account: str = "123456789012",
        region: str = "us-east-1",
        seed: int = 5,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.table = table
        self.key_names = list(key_names)
        self.table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
        self.rng = random.Random(seed)
        self.exports: list[str] = []  # the manifest-summary URLs written, in order

    def _key(self, rest: str) -> str:
        return f"{self.prefix}/{rest}" if self.prefix else rest

    def _put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def _data_files(self, lines: list[dict[str, Any]], folder: str, files: int) -> list[dict[str, Any]]:
        """Lines spread over `files` gzipped files (some may be empty, as for an empty partition); manifest lines."""
        manifest = []
        for part in range(files):
            chunk = lines[part::files]
            body = gzip.compress("".join(json.dumps(line) + "\n" for line in chunk).encode())
            key = f"{folder}{uuid.uuid4().hex[:26]}.json.gz"
            self._put(key, body)
            digest = hashlib.md5(body, usedforsecurity=False)  # S3's and the manifest's checksum, not a secret
            manifest.append(
                {
                    "itemCount": len(chunk),
                    "md5Checksum": base64.b64encode(digest.digest()).decode(),
                    "etag": digest.hexdigest(),
                    "dataFileS3Key": key,
                }
            )
        return manifest

    def _write(self, at: datetime, summary: dict[str, Any], lines: list[dict[str, Any]], data: str, files: int) -> str:
        export_id = f"{int(at.timestamp() * 1000):014d}-{uuid.uuid4().hex[:8]}"
        folder = self._key(f"AWSDynamoDB/{export_id}/")
        manifest = self._data_files(lines, data or f"{folder}data/", files)
        files_key = f"{folder}manifest-files.json"
        self._put(files_key, "".join(json.dumps(line) + "\n" for line in manifest).encode())
        incremental = summary.get("exportType") == "INCREMENTAL_EXPORT"
        body = {
            "version": "2023-08-01" if incremental else "2020-06-30",
            "exportArn": f"{self.table_arn}/export/{export_id}",
            "startTime": iso(at),
            "endTime": iso(at),
            "tableArn": self.table_arn,
            "tableId": "12345a12-abcd-123a-ab12-1234abc12345",
            "s3Bucket": self.bucket,
            "s3Prefix": self.prefix or None,
            "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": sum(len(json.dumps(line)) for line in lines),
            "itemCount": len(lines),
            "outputFormat": "DYNAMODB_JSON",
            **summary,
        }
        self._put(f"{folder}manifest-summary.json", json.dumps(body, indent=2).encode())
        self._put(f"{folder}_started", b"")
        url = f"s3://{self.bucket}/{folder}manifest-summary.json"
        self.exports.append(url)
        return url

    def full(self, items: Table, at: datetime, files: int = 2) -> str:
        """A FULL export of the table `items` at `at`; its manifest-summary URL."""
        lines = [{"Item": to_wire(value)} for value in items.values()]
        self.rng.shuffle(lines)  # an export's files follow the partitions, not the keys
        return self._write(at, {"exportTime": iso(at), "exportType": "FULL_EXPORT"}, lines, "", files)

    def incremental(
        self,
        before: Table,
        after: Table,
        start: datetime,
        end: datetime,
        *,
        view: str = "NEW_AND_OLD_IMAGES",
        files: int = 2,
    ) -> str:
        """An INCREMENTAL export of the window [start, end) in which the table went from `before` to `after`."""
        lines = window_changes(before, after, view, self.key_names)
        summary = {
            "exportFromTime": iso(start),
            "exportToTime": iso(end),
            "outputView": view,
            "exportType": "INCREMENTAL_EXPORT",
        }
        return self._write(end, summary, lines, self._key("AWSDynamoDB/data/"), files)

    def record(self, url: str, start: datetime | None, end: datetime, items: int = 0) -> str:
        """The export workflow's ledger entry for the export at `url`, as Record Export writes it; where it is."""
        key = url.removeprefix(f"s3://{self.bucket}/")
        folder = key.rsplit("/", 1)[0]
        kind = "FULL" if start is None else "INCREMENTAL"
        window = {"export_type": kind, "end": iso(end), "start": iso(start), "reason": "the real layout", "more": False}
        record = {
            "table": self.table,
            "table_arn": self.table_arn,
            "window": window,
            "format": "DYNAMODB_JSON",
            "status": "SUCCEEDED",
            "export_type": kind,
            "export_arn": f"{self.table_arn}/export/{folder.rsplit('/', 1)[-1]}",
            "s3": f"s3://{self.bucket}/{self.prefix}/",
            "data": f"s3://{self.bucket}/{folder}/data/",
            "manifest": url,
            "items": items,
        }
        ledger_key = f"{ledger_folder(ExportLocation(self.bucket, self.prefix).prefix, self.table)}{stamp(end)}.json"
        self._put(ledger_key, json.dumps(record, indent=2).encode())
        return f"s3://{self.bucket}/{ledger_key}"
