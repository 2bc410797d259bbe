"""Reading exports in DynamoDB's real layout: manifests, keys resolved where the manifest was found, MD5 checked before
anything of a file is used, FULL and incremental lines; the ledger as a restore reads it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from ddbkeeper.errors import InvalidInput, TableNotFound, VerificationFailed
from ddbkeeper.export.models import ExportRecord
from ddbkeeper.export_files import (
    ExportLocation,
    changes,
    full_items,
    read_data,
    read_files,
    read_ledger,
    read_manifest,
    resolve,
)
from ddbkeeper.models import parse
from moto import mock_aws

from tests.support.chain import T0, ChainWriter, History, build_chain, key_of, keys_item, to_wire

BUCKET = "chain-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def copy_folder(s3: Any, source_prefix: str, bucket: str, prefix: str) -> None:
    """What replication or `aws s3 sync` does: every object, the manifests untouched."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=source_prefix):
        for obj in page.get("Contents", []):
            s3.copy_object(
                Bucket=bucket,
                Key=prefix + obj["Key"][len(source_prefix) :],
                CopySource={"Bucket": BUCKET, "Key": obj["Key"]},
            )


@pytest.mark.pure
@pytest.mark.parametrize(
    ("found", "prefix", "key", "resolved"),
    [
        ("p/AWSDynamoDB/1-a/manifest-summary.json", "p", "p/AWSDynamoDB/1-a/data/x.gz", "p/AWSDynamoDB/1-a/data/x.gz"),
        (
            "dr/copy/AWSDynamoDB/1-a/manifest-summary.json",
            "p/q",
            "p/q/AWSDynamoDB/data/x.gz",
            "dr/copy/AWSDynamoDB/data/x.gz",
        ),
        (
            "AWSDynamoDB/1-a/manifest-summary.json",
            "p",
            "p/AWSDynamoDB/1-a/manifest-files.json",
            "AWSDynamoDB/1-a/manifest-files.json",
        ),
        ("x/AWSDynamoDB/1-a/manifest-summary.json", "", "AWSDynamoDB/data/y.gz", "x/AWSDynamoDB/data/y.gz"),
    ],
)
def test_keys_resolve_beside_the_manifest_wherever_it_was_copied(
    found: str, prefix: str, key: str, resolved: str
) -> None:
    assert resolve(found, prefix, key, "f") == resolved


@pytest.mark.pure
@pytest.mark.parametrize("key", ["other/AWSDynamoDB/data/x.gz", "p/../secret", "p/AWSDynamoDB//x", "p/./x"])
def test_a_manifest_names_only_keys_under_its_own_prefix(key: str) -> None:
    with pytest.raises(InvalidInput, match="is not a key under the export's prefix"):
        resolve("p/AWSDynamoDB/1-a/manifest-summary.json", "p", key, "f")


def test_a_full_and_incremental_exports_read_back_as_written(s3: Any) -> None:
    writer = ChainWriter(s3, BUCKET, "exports/orders", "orders")
    history = History(30)
    snapshots = build_chain(writer, history, 2, record=False)
    full, first, second = (read_manifest(s3, url) for url in writer.exports)

    assert (full.export_type, full.end, full.item_count, full.table) == ("FULL_EXPORT", T0, 30, "orders")
    assert (first.from_time, first.to_time, first.output_view) == (T0, T0 + timedelta(hours=1), "NEW_AND_OLD_IMAGES")
    items = [item for file in read_files(s3, full) for item in full_items(read_data(s3, BUCKET, file), file.key)]
    assert sorted(items, key=str) == sorted((to_wire(v) for v in snapshots[0].values()), key=str)
    files = read_files(s3, second)
    assert all("/AWSDynamoDB/data/" in file.key for file in files)  # the shared folder: only the manifest tells
    lines = [change for file in files for change in changes(read_data(s3, BUCKET, file), file.key)]
    before, after = snapshots[1], snapshots[2]
    for change in lines:
        key = key_of(change.keys)
        assert change.keys == keys_item(key)
        assert change.new == (to_wire(after[key]) if key in after else None)
        assert change.old == (to_wire(before[key]) if key in before else None)
    assert len(lines) == second.item_count == sum(file.item_count for file in files)


def test_exports_copied_to_another_bucket_and_prefix_are_read_where_they_are(s3: Any) -> None:
    writer = ChainWriter(s3, BUCKET, "exports/orders", "orders")
    build_chain(writer, History(12), 1, record=False)
    s3.create_bucket(Bucket="dr-bucket")
    copy_folder(s3, "exports/orders/", "dr-bucket", "replica/")
    url = writer.exports[1].replace(f"s3://{BUCKET}/exports/orders/", "s3://dr-bucket/replica/")

    manifest = read_manifest(s3, url)

    assert manifest.files_key.startswith("replica/AWSDynamoDB/")
    assert all(file.key.startswith("replica/AWSDynamoDB/data/") for file in read_files(s3, manifest))


def test_a_data_file_whose_md5_differs_is_refused_before_any_line_is_read(s3: Any) -> None:
    writer = ChainWriter(s3, BUCKET, "p", "orders")
    writer.full(History(5).snapshot(), T0, files=1)
    manifest = read_manifest(s3, writer.exports[0])
    (file,) = read_files(s3, manifest)
    s3.put_object(Bucket=BUCKET, Key=file.key, Body=gzip.compress(b'{"Item": {"pk": {"S": "forged"}}}\n'))

    with pytest.raises(VerificationFailed, match=r"is not the manifest's .* nothing of it was applied"):
        read_data(s3, BUCKET, file)


def test_what_is_not_an_export_is_refused_naming_it(s3: Any) -> None:
    with pytest.raises(InvalidInput, match=r"field: expected .../AWSDynamoDB/<export id>/manifest-summary.json"):
        read_manifest(s3, f"s3://{BUCKET}/p/manifest.json", field="field")
    with pytest.raises(TableNotFound, match="no object"):
        read_manifest(s3, f"s3://{BUCKET}/p/AWSDynamoDB/1-a/manifest-summary.json")
    s3.put_object(Bucket=BUCKET, Key="p/AWSDynamoDB/1-a/manifest-summary.json", Body=b'{"exportArn": 1}')
    with pytest.raises(InvalidInput, match=r"is not a DynamoDB export's manifest-summary.json"):
        read_manifest(s3, f"s3://{BUCKET}/p/AWSDynamoDB/1-a/manifest-summary.json")


def test_a_manifest_whose_files_do_not_add_up_is_refused(s3: Any) -> None:
    writer = ChainWriter(s3, BUCKET, "p", "orders")
    writer.full(History(5).snapshot(), T0, files=1)
    manifest = read_manifest(s3, writer.exports[0])
    tampered = manifest.model_copy(update={"item_count": 6})
    with pytest.raises(VerificationFailed, match="its files hold 5 items, its summary says 6"):
        read_files(s3, tampered)


def test_the_ledger_reads_back_in_window_order_with_its_manifests(s3: Any) -> None:
    writer = ChainWriter(s3, BUCKET, "exports/orders", "orders")
    build_chain(writer, History(8), 3)

    entries = read_ledger(s3, ExportLocation(BUCKET, "exports/orders"), "orders")

    assert [entry.export_type for entry in entries] == ["FULL", "INCREMENTAL", "INCREMENTAL", "INCREMENTAL"]
    assert [entry.end for entry in entries] == [T0 + timedelta(hours=n) for n in range(4)]
    assert [entry.summary_url() for entry in entries] == writer.exports
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="exports/orders/ddbkeeper-ledger/"):
        for obj in page["Contents"]:  # what the export workflow itself reads back from its ledger
            record = json.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
            parsed = parse(ExportRecord, record).model_dump(mode="json")
            assert {key: parsed[key] for key in record} == record  # every field written is the model's, unchanged
