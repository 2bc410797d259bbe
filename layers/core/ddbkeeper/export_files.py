"""Where DynamoDB exports live in S3: what both the export workflow (which writes them) and the restore workflow (which
imports them) need to know about their layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Required, TypedDict

from ddbkeeper.aws import translate_errors
from ddbkeeper.errors import InvalidInput

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
