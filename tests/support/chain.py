"""Exports in DynamoDB's real layout, written by the tests themselves (moto writes neither manifests nor change
records), and the table they describe, computed beside them as the reference a restore is compared with item for item.

`History` is a table changing over time: inserts, updates and deletes in windows, every attribute type
(tests.support.tables.item). `ChainWriter` writes what DynamoDB would export of it:
- a FULL export: `<prefix>/AWSDynamoDB/<id>/manifest-summary.json`, `manifest-files.json` (one line per data file with
  its itemCount and the base64 MD5 of the object), `data/*.json.gz` with one {"Item": ...} per line;
- an INCREMENTAL export: the same manifests, its data files in the shared `<prefix>/AWSDynamoDB/data/` folder beside
  the other incremental exports' files, one {"Metadata", "Keys", "NewImage", "OldImage"} line per key changed in the
  window (its last state there; no NewImage for a delete, OldImage only with NEW_AND_OLD_IMAGES);
- and, when asked, the export workflow's ledger entry for it (the real ExportRecord model).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ddbkeeper.clock import iso, stamp
from ddbkeeper.export.models import ExportRecord, ExportWindow
from ddbkeeper.export_files import ExportLocation, ledger_folder
from mypy_boto3_s3 import S3Client

from tests.support.tables import item

Key = tuple[str, int]
Item = dict[str, Any]  # as boto3's client reads and writes items (binary as bytes)

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
KEY_ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}]
T0 = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)


def key_of(value: Item) -> Key:
    return value["pk"]["S"], int(value["sk"]["N"])


def keys_item(key: Key) -> Item:
    return {"pk": {"S": key[0]}, "sk": {"N": str(key[1])}}


def to_wire(value: Any) -> Any:
    """An item (or value) in the JSON form DynamoDB's exports and wire use: binary as base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {name: to_wire(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [to_wire(inner) for inner in value]
    return value


def ordered(items: Iterable[Item]) -> list[Item]:
    """Items in the order tests.support.tables.all_items reads them."""
    return sorted(items, key=key_of)


class History:
    """A table's items over time; `snapshot()` is the table at this moment, `change()` moves it on."""

    def __init__(self, items: int, seed: int = 11, pad: int = 20) -> None:
        self.rng = random.Random(seed)
        self.pad = pad
        self.next = 0
        self.items: dict[Key, Item] = {}
        for _ in range(items):
            self.insert()

    def insert(self) -> Key:
        value = item(self.next, self.rng, self.pad)
        self.next += 1
        self.items[key_of(value)] = value
        return key_of(value)

    def update(self, key: Key) -> None:
        value = dict(self.items[key])
        value["version"] = {"N": str(int(value.get("version", {"N": "0"})["N"]) + 1)}
        value["note"] = {"S": f"changed {self.rng.random():.6f}"}
        value.pop("optional", None)
        self.items[key] = value

    def delete(self, key: Key) -> None:
        del self.items[key]

    def some(self, count: int) -> list[Key]:
        return self.rng.sample(sorted(self.items), min(count, len(self.items)))

    def snapshot(self) -> dict[Key, Item]:
        return dict(self.items)

    def change(self, inserts: int, updates: int, deletes: int, touch: Iterable[Key] = ()) -> None:
        """One window's writes: some keys updated twice (only their last state is exported), `touch` updated too."""
        for key in touch:
            if key in self.items:
                self.update(key)
        for key in self.some(updates):
            self.update(key)
            if self.rng.random() < 0.3:
                self.update(key)
        touched = set(touch)
        for key in [key for key in self.some(deletes + len(touched)) if key not in touched][:deletes]:
            self.delete(key)
        for _ in range(inserts):
            self.insert()
        created = self.insert()  # created and deleted within the window: no line in the export
        self.delete(created)


def window_changes(before: dict[Key, Item], after: dict[Key, Item], view: str) -> list[dict[str, Any]]:
    """What an incremental export of the window holds: each changed key once, in its last state."""
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        line: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(1_700_000_000_000_000 + len(lines))}},
            "Keys": keys_item(key),
        }
        if new is not None:
            line["NewImage"] = new
        if old is not None and view == "NEW_AND_OLD_IMAGES":
            line["OldImage"] = old
        lines.append(to_wire(line))
    return lines


class ChainWriter:
    """Writes exports of one table in the real layout under s3://bucket/prefix/, and optionally their ledger entries."""

    def __init__(
        self, s3: S3Client, bucket: str, prefix: str, table: str, *, account: str = "123456789012", seed: int = 5
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.table = table
        self.table_arn = f"arn:aws:dynamodb:us-east-1:{account}:table/{table}"
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
            manifest.append(
                {
                    "itemCount": len(chunk),
                    "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),  # noqa: S324 - S3's checksum
                    "etag": hashlib.md5(body).hexdigest(),  # noqa: S324
                    "dataFileS3Key": key,
                }
            )
        return manifest

    def _write(self, summary: dict[str, Any], lines: list[dict[str, Any]], data_folder: str, files: int) -> str:
        export_id = f"{int(summary['_at'].timestamp() * 1000):014d}-{uuid.uuid4().hex[:8]}"
        folder = self._key(f"AWSDynamoDB/{export_id}/")
        manifest = self._data_files(lines, data_folder or f"{folder}data/", files)
        files_key = f"{folder}manifest-files.json"
        self._put(files_key, "".join(json.dumps(line) + "\n" for line in manifest).encode())
        del summary["_at"]
        body = {
            "version": "2023-08-01" if summary.get("exportType") == "INCREMENTAL_EXPORT" else "2020-06-30",
            "exportArn": f"{self.table_arn}/export/{export_id}",
            "startTime": "2026-11-01T00:00:00.000Z",
            "endTime": "2026-11-01T00:05:00.000Z",
            "tableArn": self.table_arn,
            "tableId": "12345a12-abcd-123a-ab12-1234abc12345",
            "s3Bucket": self.bucket,
            "s3Prefix": self.prefix or None,
            "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": 1234,
            "itemCount": len(lines),
            "outputFormat": "DYNAMODB_JSON",
            **summary,
        }
        self._put(f"{folder}manifest-summary.json", json.dumps(body, indent=2).encode())
        self._put(f"{folder}_started", b"")
        url = f"s3://{self.bucket}/{folder}manifest-summary.json"
        self.exports.append(url)
        return url

    def full(self, items: dict[Key, Item], at: datetime, files: int = 2) -> str:
        lines = [{"Item": to_wire(value)} for _, value in sorted(items.items())]
        self.rng.shuffle(lines)  # an export's files follow the partitions, not the keys
        return self._write({"_at": at, "exportTime": iso(at), "exportType": "FULL_EXPORT"}, lines, "", files)

    def incremental(
        self,
        before: dict[Key, Item],
        after: dict[Key, Item],
        start: datetime,
        end: datetime,
        *,
        view: str = "NEW_AND_OLD_IMAGES",
        files: int = 2,
    ) -> str:
        lines = window_changes(before, after, view)
        summary = {
            "_at": end,
            "exportFromTime": iso(start),
            "exportToTime": iso(end),
            "outputView": view,
            "exportType": "INCREMENTAL_EXPORT",
        }
        return self._write(summary, lines, self._key("AWSDynamoDB/data/"), files)

    def record(self, url: str, start: datetime | None, end: datetime, items: int = 0) -> str:
        """The export workflow's ledger entry for the export at `url` (the real model, the real key)."""
        key = url.removeprefix(f"s3://{self.bucket}/")
        folder = key.rsplit("/", 1)[0]
        export_id = folder.rsplit("/", 1)[-1]
        kind = "FULL" if start is None else "INCREMENTAL"
        record = ExportRecord(
            table=self.table,
            table_arn=self.table_arn,
            window=ExportWindow(export_type=kind, start=start, end=end),
            format="DYNAMODB_JSON",
            status="SUCCEEDED",
            export_type=kind,
            export_arn=f"{self.table_arn}/export/{export_id}",
            s3=f"s3://{self.bucket}/{self.prefix}/",
            data=f"s3://{self.bucket}/{folder}/data/",
            manifest=url,
            items=items,
        )
        location = ExportLocation(self.bucket, self.prefix)
        ledger_key = f"{ledger_folder(location.prefix, self.table)}{stamp(end)}.json"
        self._put(ledger_key, json.dumps(record.model_dump(mode="json")).encode())
        return f"s3://{self.bucket}/{ledger_key}"


def build_chain(
    writer: ChainWriter,
    history: History,
    windows: int,
    *,
    view: str = "NEW_AND_OLD_IMAGES",
    record: bool = True,
    step: timedelta = timedelta(hours=1),
    inserts: int = 6,
    updates: int = 5,
    deletes: int = 3,
) -> list[dict[Key, Item]]:
    """A FULL export at T0, then `windows` incremental exports of `step` each; one key changes in the first two
    windows. Returns the table at T0 and at each window's end (the references)."""
    snapshots = [history.snapshot()]
    url = writer.full(snapshots[0], T0)
    if record:
        writer.record(url, None, T0, items=len(snapshots[0]))
    twice = history.some(1)
    for n in range(windows):
        start, end = T0 + n * step, T0 + (n + 1) * step
        history.change(inserts, updates, deletes, touch=twice if n < 2 else ())
        snapshots.append(history.snapshot())
        url = writer.incremental(snapshots[-2], snapshots[-1], start, end, view=view)
        if record:
            writer.record(url, start, end)
    return snapshots
