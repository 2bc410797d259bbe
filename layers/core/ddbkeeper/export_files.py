"""Where DynamoDB exports live in S3 and what they hold: what both the export workflow (which writes them and records
them in its ledger) and the restore workflow (which reads them back) need to know about their layout.

A real export folder `<prefix>/AWSDynamoDB/<export id>/` holds manifest-summary.json (what the export is) and
manifest-files.json (one JSON line per data file: dataFileS3Key, itemCount, md5Checksum); an incremental export's data
files may sit in a shared `<prefix>/AWSDynamoDB/data/` folder, so only its manifest says which files are its own. FULL
data lines are {"Item": ...}; incremental ones {"Metadata", "Keys", "NewImage", "OldImage"}, no NewImage for a delete.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Required, TypedDict

import orjson

from ddbkeeper.aws import translate_errors
from ddbkeeper.clock import as_utc, iso
from ddbkeeper.errors import InvalidInput, TableNotFound, VerificationFailed
from ddbkeeper.models import Count, StepModel, parse
from ddbkeeper.wire import WireItem, fewer_collections

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class BucketParams(TypedDict, total=False):
    """The arguments every call on the bucket carries, typed so that they unpack into any S3 call's keywords."""

    Bucket: Required[str]
    ExpectedBucketOwner: str


@dataclass(frozen=True)
class ExportLocation:
    bucket: str
    prefix: str
    owner: str | None = None

    def params(self) -> BucketParams:
        """ExpectedBucketOwner: never read or write in a bucket someone else has taken over."""
        params: BucketParams = {"Bucket": self.bucket}
        if self.owner:
            params["ExpectedBucketOwner"] = self.owner
        return params

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


def data_folder(s3: S3Client, location: ExportLocation, manifest: str | None = None) -> str:
    """An export's `AWSDynamoDB/<export id>/data/` folder: beside its manifest when DynamoDB names one, else the single
    such folder under its prefix (more than one is ambiguous)."""
    if manifest:
        return manifest.rsplit("/", 1)[0] + "/data/"
    folders: set[str] = set()
    prefix = f"{location.prefix}/" if location.prefix else ""
    where = location.url(prefix)
    with translate_errors("ListObjectsV2", where):
        pages = s3.get_paginator("list_objects_v2").paginate(Prefix=prefix, **location.params())
        for page in pages:
            for obj in page.get("Contents", []):
                head, found, _ = obj["Key"].partition("/data/")
                if found and "/AWSDynamoDB/" in f"/{head}":
                    folders.add(head + "/data/")
    if len(folders) != 1:
        what = "no export data" if not folders else f"{len(folders)} exports ({', '.join(sorted(folders))})"
        raise InvalidInput(f"prefix: {where} holds {what}; name the folder of one export")
    return folders.pop()


# --- the export's own description: its manifests (DynamoDB writes them; moto does not) ------------------------------

SUMMARY = "manifest-summary.json"
LEDGER_FOLDER = "ddbkeeper-ledger"  # <prefix>/ddbkeeper-ledger/<table>/<window end>.json: the export workflow's record
ExportKind = Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"]
Images = Literal["NEW_AND_OLD_IMAGES", "NEW_IMAGE"]


def split_url(url: str, field: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key); anything else is InvalidInput naming `field`."""
    bucket, slash, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not slash or not key:
        raise InvalidInput(f"{field}: expected s3://bucket/key, got {url!r}")
    return bucket, key


class ExportManifest(StepModel):
    """One export as its manifest-summary.json describes it, and where that summary was found (`url`).

    Keys the manifests name (`manifestFilesS3Key`, every `dataFileS3Key`) are where DynamoDB wrote them, under the
    `s3Bucket` and `s3Prefix` of the export; they are resolved against the folder the summary was found in, so a copy of
    the exports in another bucket or under another prefix (a DR account's bucket) is read where it is.
    """

    url: str  # s3://bucket/.../AWSDynamoDB/<export id>/manifest-summary.json, as found
    export_arn: str
    table_arn: str
    export_type: ExportKind
    export_time: datetime | None = None  # FULL: the snapshot's moment
    from_time: datetime | None = None  # INCREMENTAL: the window [from, to)
    to_time: datetime | None = None
    output_view: Images | None = None  # INCREMENTAL: NEW_AND_OLD_IMAGES or NEW_IMAGE
    item_count: Count
    prefix: str = ""  # the s3Prefix the export was written under (its keys start with it)
    files_key: str  # manifest-files.json, resolved

    @property
    def bucket(self) -> str:
        return split_url(self.url, "manifest")[0]

    @property
    def end(self) -> datetime:
        """The moment the table is at once this export is applied (a FULL export's time, an incremental's end)."""
        moment = self.export_time if self.export_type == "FULL_EXPORT" else self.to_time
        assert moment is not None  # read_manifest saw to it
        return moment

    @property
    def full(self) -> bool:
        return self.export_type == "FULL_EXPORT"

    @property
    def table(self) -> str:
        return self.table_arn.rsplit("/", 1)[-1]

    def describe(self) -> str:
        if self.full:
            return f"FULL export of {self.table} at {iso(self.export_time)}"
        return f"INCREMENTAL export of {self.table} from {iso(self.from_time)} to {iso(self.to_time)}"


class DataFile(StepModel):
    """One line of manifest-files.json: a data file of the export (its key resolved), what it holds, its MD5."""

    key: str
    item_count: Count
    md5: str  # base64 of the object's MD5, as the manifest gives it


def resolve(found: str, prefix: str, key: str, field: str) -> str:
    """A key a manifest names (under the export's original `prefix`) as it lies beside the summary `found`.

    `found` ends AWSDynamoDB/<id>/manifest-summary.json; the folder holding AWSDynamoDB/ is where the export's prefix
    was. A key outside the original prefix, or with a . or .. segment, is refused: a manifest only names its own files.
    """
    root = found[: found.rfind("AWSDynamoDB/")]
    original = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    if not key.startswith(original) or any(part in ("", ".", "..") for part in key[len(original) :].split("/")):
        raise InvalidInput(f"{field}: {key!r} is not a key under the export's prefix {original or '(none)'!r}")
    return root + key[len(original) :]


def read_manifest(s3: S3Client, url: str, owner: str | None = None, field: str = "manifest") -> ExportManifest:
    """The export whose manifest-summary.json is at `url`; refused (naming `field`) when it is not one."""
    bucket, key = split_url(url, field)
    parts = key.split("/")
    if len(parts) < 3 or parts[-1] != SUMMARY or parts[-3] != "AWSDynamoDB":
        raise InvalidInput(f"{field}: expected .../AWSDynamoDB/<export id>/{SUMMARY}, got {url!r}")
    body = _get(s3, ExportLocation(bucket, "", owner), key, field)
    try:
        summary = orjson.loads(body)
        kind = summary.get("exportType", "FULL_EXPORT")
        fields: dict[str, Any] = {
            "url": url,
            "export_arn": summary["exportArn"],
            "table_arn": summary["tableArn"],
            "export_type": kind,
            "item_count": summary.get("itemCount") or 0,
            "prefix": summary.get("s3Prefix") or "",
            "files_key": resolve(key, summary.get("s3Prefix") or "", summary["manifestFilesS3Key"], field),
        }
        if summary.get("outputFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
            raise InvalidInput(f"{field}: {url} is {summary['outputFormat']}; only DYNAMODB_JSON exports are read")
        if kind == "INCREMENTAL_EXPORT":
            view = summary.get("outputView") or "NEW_AND_OLD_IMAGES"
            fields |= {
                "from_time": as_utc(summary["exportFromTime"]),
                "to_time": as_utc(summary["exportToTime"]),
                "output_view": "NEW_IMAGE" if view.startswith("NEW_IMAGE") else view,
            }
        else:
            fields["export_time"] = as_utc(summary["exportTime"])
        return parse(ExportManifest, fields, root=field)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"{field}: {url} is not a DynamoDB export's {SUMMARY} ({error!r})") from None


def read_files(s3: S3Client, manifest: ExportManifest, owner: str | None = None) -> list[DataFile]:
    """The export's data files, in the order its manifest-files.json lists them, keys resolved beside the summary."""
    bucket, found = split_url(manifest.url, "manifest")
    where = f"s3://{bucket}/{manifest.files_key}"
    body = _get(s3, ExportLocation(bucket, "", owner), manifest.files_key, where)
    files = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
            files.append(
                DataFile(
                    key=resolve(found, manifest.prefix, entry["dataFileS3Key"], f"{where} line {number}"),
                    item_count=entry.get("itemCount") or 0,
                    md5=entry["md5Checksum"],
                )
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            if isinstance(error, InvalidInput):
                raise
            raise InvalidInput(f"{where} line {number}: not a manifest-files line ({error!r})") from None
    listed = sum(file.item_count for file in files)
    if listed != manifest.item_count:
        raise VerificationFailed(
            f"{where}: its files hold {listed} items, its summary says {manifest.item_count}; the export is incomplete"
        )
    return files


def read_data(s3: S3Client, bucket: str, file: DataFile, owner: str | None = None) -> bytes:
    """A data file's lines: its MD5 checked against the manifest before anything of it is used, then gunzipped."""
    body = _get(s3, ExportLocation(bucket, "", owner), file.key, f"s3://{bucket}/{file.key}")
    digest = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    if digest != file.md5:
        raise VerificationFailed(
            f"s3://{bucket}/{file.key}: MD5 {digest} is not the manifest's {file.md5}; the file is damaged or was "
            "replaced, and nothing of it was applied"
        )
    return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body


class Change(NamedTuple):
    """One line of an incremental export: a key's last state in the window (no new image: deleted)."""

    keys: WireItem
    new: WireItem | None
    old: WireItem | None


def full_items(data: bytes, where: str) -> list[WireItem]:
    """A FULL export's data file: one {"Item": ...} per line, in wire form."""
    items = []
    with fewer_collections():
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(orjson.loads(line)["Item"])
                except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                    raise InvalidInput(f"{where} line {number}: not a FULL export's line ({error!r})") from None
    return items


def changes(data: bytes, where: str) -> list[Change]:
    """An incremental export's data file: {"Metadata", "Keys", "NewImage"?, "OldImage"?} per line."""
    found = []
    with fewer_collections():
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    record = orjson.loads(line)
                    found.append(Change(record["Keys"], record.get("NewImage"), record.get("OldImage")))
                except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                    raise InvalidInput(f"{where} line {number}: not an incremental export's line ({error!r})") from None
    return found


def _get(s3: S3Client, location: ExportLocation, key: str, what: str) -> bytes:
    with translate_errors("GetObject", location.url(key)):
        try:
            body: bytes = s3.get_object(Key=key, **location.params())["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise TableNotFound(f"{what}: no object s3://{location.bucket}/{key}") from None
        except s3.exceptions.NoSuchBucket:
            raise TableNotFound(f"{what}: no bucket {location.bucket}") from None
    return body


# --- the export workflow's ledger, as a restore reads it -------------------------------------------------------------


class ChainEntry(StepModel):
    """A ledger entry as the chain needs it: which export, of which window, and where its manifest is."""

    table_arn: str
    export_type: Literal["FULL", "INCREMENTAL"]
    start: datetime | None = None
    end: datetime
    export_arn: str
    data: str | None = None  # its AWSDynamoDB/<id>/data/ folder (s3://...)
    manifest: str | None = None  # its manifest-summary.json (s3://...), when DescribeExport named one
    items: Count = 0  # what the export holds (a FULL export's items, an incremental's changes)

    def summary_url(self) -> str | None:
        """Where its manifest-summary.json is: recorded, else beside the data folder DynamoDB names."""
        if self.manifest:
            return self.manifest
        if self.data and self.data.endswith("/data/"):
            return self.data.removesuffix("data/") + SUMMARY
        return None


def ledger_folder(prefix: str, table: str) -> str:
    return f"{prefix}/{LEDGER_FOLDER}/{table}/" if prefix else f"{LEDGER_FOLDER}/{table}/"


def read_ledger(s3: S3Client, location: ExportLocation, table: str) -> list[ChainEntry]:
    """Every SUCCEEDED entry of a table's ledger, oldest window end first."""
    folder = ledger_folder(location.prefix, table)
    with translate_errors("ListObjectsV2", location.url(folder)):
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Prefix=folder, **location.params())
            keys = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        except s3.exceptions.NoSuchBucket:
            raise InvalidInput(f"bucket: {location.bucket} does not exist") from None
    entries = []
    for key in sorted(keys):
        body = orjson.loads(_get(s3, location, key, location.url(key)))
        if not isinstance(body, dict) or body.get("status") != "SUCCEEDED":
            continue
        window = body.get("window") or {}
        body |= {"start": window.get("start"), "end": window.get("end")}
        entries.append(parse(ChainEntry, body, root=location.url(key)))
    return sorted(entries, key=lambda entry: entry.end)
