"""A restore's count check against a naive boto3 count (Table.scan, len(Items)), on dynalite, in the same run.

Verify Restore counts the new table with a parallel Scan of Select=COUNT (4 segments, as the restore workflow does):
no item crosses the wire. A script counts by scanning every item through the resource API. Prints, for both, items
counted per CPU-second of this process, wall time, and response bytes received; dynalite reads the same items for both
and its CPU is not counted. Size: BENCH_ITEMS (default 20000) items of about 1 KiB.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import boto3
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.tables import TableSide, summarize

from bench.copy import ITEMS, ROOT, cpu, seed
from tests.support.dynalite import Dynalite


def naive_count(endpoint: str, table: str, received: list[int]) -> int:
    """What a script does to check a restore: scan every item and count them."""
    resource = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    _count_bytes(resource.meta.client, received)
    params: dict[str, Any] = {}
    count = 0
    for _ in range(10**6):
        page = resource.Table(table).scan(**params)
        count += len(page["Items"])
        if "LastEvaluatedKey" not in page:
            return count
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise RuntimeError("the scan did not end")


def ddbkeeper_count(endpoint: str, table: str, received: list[int]) -> int:
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    side = TableSide(Account(SessionFactory(), AccountAccess()), table)
    _count_bytes(side.wire.client, received)
    return summarize(side, segments=4, checksum=False).items


def _count_bytes(client: Any, received: list[int]) -> None:
    """Append the size of every Scan response the client receives to `received`."""
    client.meta.events.register(
        "after-call.dynamodb.Scan", lambda http_response, **_: received.append(len(http_response.content))
    )


def main() -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with Dynalite(ROOT) as dynalite:
        client = boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1")
        seed(client, "restored", ITEMS)
        naive_received: list[int] = []
        ours_received: list[int] = []
        naive_cpu, naive_wall, naive_items = cpu(lambda: naive_count(dynalite.url, "restored", naive_received))
        ours_cpu, ours_wall, ours_items = cpu(lambda: ddbkeeper_count(dynalite.url, "restored", ours_received))
    if naive_items != ITEMS or ours_items != ITEMS:
        print(f"miscount: naive {naive_items}, ddbkeeper {ours_items}, expected {ITEMS}", file=sys.stderr)
        return 1
    print(f"count check of a restored table of {ITEMS} items (~1 KiB) on dynalite, same run")
    for label, used, wall, received in (
        ("naive boto3 (Table.scan, len(Items))", naive_cpu, naive_wall, naive_received),
        ("ddbkeeper (Select=COUNT, 4 segments)", ours_cpu, ours_wall, ours_received),
    ):
        print(
            f"  {label}: {ITEMS / used:9.0f} items/CPU-s, {wall:5.1f} s, "
            f"{sum(received) / 1024**2:6.1f} MiB received in {len(received)} pages"
        )
    print(
        f"  CPU-seconds: {naive_cpu / ours_cpu:.1f}x fewer, wall: {naive_wall / ours_wall:.1f}x shorter with ddbkeeper"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
