"""Applying an export chain (a FULL export and incremental windows, in DynamoDB's real layout) to a table: the restore's
apply path against a naive script applying the same files, on dynalite (tables) and a moto server (the bucket).

The naive script is what people write to replay exports: read each manifest, gunzip each data file, json.loads each
line, decode it with boto3's TypeDeserializer (binary values base64-decoded first) and write through the resource API's
batch_writer (put_item, delete_item). The apply path is ddbkeeper.apply.ExportApplier as Apply File runs it
(engine-level figures: the workflow around it adds a few steps per run, not per item); it also checks every data file's
MD5 against its manifest, which the naive script does not.

Prints:
1. items applied per CPU-second of this process for both (dynalite's and moto's own CPU is the same for both);
2. behind a capacity-limited front (bench/capacity_front.py): the share of the table's write capacity each used, the
   share of items re-sent, throttled requests;
and checks that both tables hold exactly the table at the chain's end (exit 1 otherwise).
Sizes: BENCH_ITEMS (default 20000) items of about 1 KiB in the FULL export, BENCH_WINDOWS (default 4) windows each
changing about a tenth of the table; BENCH_WCU (default 300) for the front.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import sys
from datetime import timedelta
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from ddbkeeper.apply import ApplyProgress, ApplyTuning, ExportApplier
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.export_files import read_manifest, split_url
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import canonical

from bench.capacity_front import CapacityFront
from bench.copy import ITEMS, ROOT, WCU, cpu
from tests.support import moto_server
from tests.support.chain import KEY_ATTRIBUTES, KEY_SCHEMA, T0, ChainWriter, Item, Key, key_of
from tests.support.dynalite import Dynalite

WINDOWS = int(os.environ.get("BENCH_WINDOWS", "4"))
BUCKET = "bench-chain"


def item(n: int, rng: random.Random, version: int = 0) -> Item:
    """About 1 KiB (one write unit), keyed as the chain helper keys (pk, sk)."""
    return {
        "pk": {"S": f"customer-{n % 997:04d}"},
        "sk": {"N": str(n)},
        "cents": {"N": str(rng.randint(0, 10**7))},  # as DynamoDB normalises numbers: no trailing zeros
        "status": {"S": rng.choice(["NEW", "PAID", "SHIPPED", "RETURNED"])},
        "flags": {"SS": ["gift", "priority"][: rng.randint(1, 2)]},
        "blob": {"B": bytes(rng.randrange(256) for _ in range(48))},
        "lines": {
            "L": [
                {"M": {"sku": {"S": f"sku-{rng.randint(0, 999)}"}, "qty": {"N": str(rng.randint(1, 9))}}}
                for _ in range(4)
            ]
        },
        "version": {"N": str(version)},
        "note": {"S": "x" * 560},
    }


def write_chain(s3: Any, items: int, prefix: str) -> tuple[list[str], dict[Key, Item], int]:
    """The chain's manifests, the table at its end, and how many lines its exports hold in all."""
    rng = random.Random(1)
    table = {key_of(value): value for value in (item(n, rng) for n in range(items))}
    writer = ChainWriter(s3, BUCKET, prefix, "orders")
    writer.full(table, T0, files=4)
    lines = len(table)
    next_n = items
    for window in range(WINDOWS):
        before = dict(table)
        keys = rng.sample(sorted(table), max(1, items // 10))
        for key in keys[: len(keys) * 3 // 5]:
            table[key] = item(key[1], rng, version=window + 1)
        for key in keys[len(keys) * 3 // 5 : len(keys) * 4 // 5]:
            del table[key]
        for _ in range(len(keys) // 5):
            fresh = item(next_n, rng)
            table[key_of(fresh)] = fresh
            next_n += 1
        start = T0 + window * timedelta(hours=1)
        writer.incremental(before, table, start, start + timedelta(hours=1), files=2)
        lines += sum(1 for key in set(before) | set(table) if before.get(key) != table.get(key))
    return writer.exports, table, lines


def _binary(value: Any) -> Any:
    """Export JSON carries binary as base64 text; boto3's deserializer wants bytes."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value:
            return {"B": base64.b64decode(value["B"])}
        if len(value) == 1 and "BS" in value:
            return {"BS": [base64.b64decode(v) for v in value["BS"]]}
        return {k: _binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_binary(v) for v in value]
    return value


def naive_apply(s3: Any, endpoint: str, manifests: list[str], table: str) -> int:
    """What a script replaying exports does: decode every line into Python types, write with batch_writer."""
    resource = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    target = resource.Table(table)
    deserializer = TypeDeserializer()

    def decode(image: dict[str, Any]) -> dict[str, Any]:
        return {name: deserializer.deserialize(_binary(value)) for name, value in image.items()}

    applied = 0
    for url in manifests:
        bucket, key = split_url(url, "manifest")
        summary = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        listing = s3.get_object(Bucket=bucket, Key=summary["manifestFilesS3Key"])["Body"].read()
        with target.batch_writer() as writer:
            for line in listing.splitlines():
                data_key = json.loads(line)["dataFileS3Key"]
                body = gzip.decompress(s3.get_object(Bucket=bucket, Key=data_key)["Body"].read())
                for record_line in body.splitlines():
                    record = json.loads(record_line)
                    if "Item" in record:
                        writer.put_item(Item=decode(record["Item"]))
                    elif "NewImage" in record:
                        writer.put_item(Item=decode(record["NewImage"]))
                    else:
                        writer.delete_item(Key=decode(record["Keys"]))
                    applied += 1
    return applied


def ddbkeeper_apply(s3: Any, endpoint: str, manifests: list[str], table: str) -> ApplyProgress:
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    target = TableSide(Account(SessionFactory(), AccountAccess()), table)
    exports = [read_manifest(s3, url) for url in manifests]
    applier = ExportApplier(target, s3, ["pk", "sk"], tuning=ApplyTuning())
    progress = ApplyProgress()
    for _ in range(10**6):
        progress = applier.run(exports, progress, lambda: 3600.0)
        if progress.done:
            return progress
    raise RuntimeError("the apply did not end")


def fresh(client: Any, stem: str) -> str:
    name = f"{stem}-{random.randrange(16**6):06x}"
    client.create_table(
        TableName=name, KeySchema=KEY_SCHEMA, AttributeDefinitions=KEY_ATTRIBUTES, BillingMode="PAY_PER_REQUEST"
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def holds(client: Any, table: str, expected: dict[Key, Item]) -> bool:
    """The table holds exactly the expected items; sets compare as sets (a set's order is the writer's hash order)."""
    found: dict[Key, Item] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        found.update({key_of(value): canonical(value) for value in page["Items"]})
    return found == {key: canonical(value) for key, value in expected.items()}


def main() -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = sys.stdout
    with Dynalite(ROOT) as dynalite, moto_server() as bucket_url:
        os.environ["AWS_ENDPOINT_URL_S3"] = bucket_url
        s3 = boto3.client("s3", endpoint_url=bucket_url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        manifests, final, lines = write_chain(s3, ITEMS, "bench/orders")
        front_items = min(ITEMS, int(WCU * 10))
        front_manifests, front_final, front_lines = write_chain(s3, front_items, "bench/front")
        client = boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1")

        naive_table, ours_table = fresh(client, "naive"), fresh(client, "ours")
        naive_cpu, naive_wall, _ = cpu(lambda: naive_apply(s3, dynalite.url, manifests, naive_table))
        ours_cpu, ours_wall, progress = cpu(lambda: ddbkeeper_apply(s3, dynalite.url, manifests, ours_table))
        if not (holds(client, naive_table, final) and holds(client, ours_table, final)):
            print("a table is not the chain's end item for item", file=sys.stderr)
            return 1
        print(
            f"apply of a FULL export of {ITEMS} items (~1 KiB) and {WINDOWS} windows ({lines} lines in all) on "
            "dynalite, files in a moto bucket, one thread each, same run",
            file=out,
        )
        print(f"  naive boto3 (TypeDeserializer + batch_writer): {lines / naive_cpu:8.0f} items/CPU-s "
              f"({naive_wall:.1f} s)", file=out)  # fmt: skip
        print(f"  ddbkeeper apply path (wire form, MD5 checked):  {lines / ours_cpu:8.0f} items/CPU-s "
              f"({ours_wall:.1f} s, {progress.write_units:.0f} write units)", file=out)  # fmt: skip
        print(f"  CPU-seconds per item: {naive_cpu / ours_cpu:.1f}x fewer with ddbkeeper", file=out)

        with CapacityFront(dynalite.url, write_units_per_second=WCU) as front:
            tables = fresh(client, "front-ours"), fresh(client, "front-naive")
            ddbkeeper_apply(s3, front.url, front_manifests, tables[0])
            ours = front.stats()
            front.reset_stats()
            naive_apply(s3, front.url, front_manifests, tables[1])
            naive = front.stats()
        if not all(holds(client, table, front_final) for table in tables):
            print("behind the front, a table is not the chain's end item for item", file=sys.stderr)
            return 1
        print(f"behind a {WCU:.0f} WCU/s front, a chain of {front_items} items ({front_lines} lines):", file=out)
        for label, stats in (("ddbkeeper", ours), ("naive", naive)):
            print(
                f"  {label:9s}: capacity used {stats.utilisation:6.1%}, items re-sent {stats.resent_share:6.1%}, "
                f"throttled requests {stats.throttled_requests}, {stats.seconds:.1f} s",
                file=out,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
