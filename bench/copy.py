"""The copy engine against a naive boto3 copy (Table.scan + batch_writer), on dynalite, in the same run.

Prints:
1. items per CPU-second of this process for both (dynalite's own CPU is the same work for both and not counted);
2. behind a capacity-limited front (bench/capacity_front.py: a write-unit token bucket answering with partial
   UnprocessedItems and throttling errors as DynamoDB does): the share of the target's write capacity each copy used
   and the share of items it had to re-send;
3. with max_write_units below the front's capacity: the rate the copy held against the cap, and throttles.
Sizes: BENCH_ITEMS (default 20000) items of about 1 KiB; BENCH_WCU (default 300) for the front.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.copy.engine import CopyTuning, SegmentCopier
from ddbkeeper.copy.models import SegmentCheckpoint
from ddbkeeper.tables import TableSide

from bench.capacity_front import CapacityFront
from tests.support.dynalite import Dynalite

ROOT = Path(__file__).resolve().parents[1]
ITEMS = int(os.environ.get("BENCH_ITEMS", "20000"))
WCU = float(os.environ.get("BENCH_WCU", "300"))
KEYS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def item(n: int, rng: random.Random) -> dict[str, Any]:
    """About 1 KiB (one write unit) with the attribute types a real table holds."""
    return {
        "pk": {"S": f"order-{n:08d}"},
        "customer": {"S": f"customer-{rng.randint(0, 9999):05d}"},
        "amount": {"N": f"{rng.randint(0, 10**7) / 100:.2f}"},
        "status": {"S": rng.choice(["NEW", "PAID", "SHIPPED", "RETURNED"])},
        "flags": {"SS": ["gift", "priority"][: rng.randint(1, 2)]},
        "blob": {"B": bytes(rng.randrange(256) for _ in range(48))},
        "lines": {
            "L": [
                {"M": {"sku": {"S": f"sku-{rng.randint(0, 999)}"}, "qty": {"N": str(rng.randint(1, 9))}}}
                for _ in range(4)
            ]
        },
        "note": {"S": "x" * 560},
    }


def create(client: Any, table: str) -> None:
    """dynalite turns a new table ACTIVE on a timer; writes before then are refused."""
    client.create_table(TableName=table, **KEYS)
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def seed(client: Any, table: str, items: int) -> None:
    create(client, table)
    rng = random.Random(1)
    for start in range(0, items, 25):
        batch = [{"PutRequest": {"Item": item(n, rng)}} for n in range(start, min(start + 25, items))]
        client.batch_write_item(RequestItems={table: batch})


def naive_copy(endpoint: str, source: str, target: str) -> None:
    """What most scripts do: the resource API, every item decoded into Python types and encoded again."""
    dynamodb = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    source_table, target_table = dynamodb.Table(source), dynamodb.Table(target)
    params: dict[str, Any] = {}
    with target_table.batch_writer() as writer:
        for _ in range(10**6):
            page = source_table.scan(**params)
            for entry in page["Items"]:
                writer.put_item(Item=entry)
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def ddbkeeper_copy(endpoint: str, source: str, target: str, write_cap: float | None = None) -> SegmentCheckpoint:
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    account = Account(SessionFactory(), AccountAccess())
    copier = SegmentCopier(
        TableSide(account, source), TableSide(account, target), write_cap=write_cap, tuning=CopyTuning()
    )
    return copier.run(SegmentCheckpoint(segment=0, total_segments=1), lambda: 3600.0)


def cpu(action: Callable[[], Any]) -> tuple[float, float, Any]:
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    result = action()
    return time.process_time() - started_cpu, time.perf_counter() - started_wall, result


def fresh(client: Any, stem: str) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    create(client, name)
    return name


def count(client: Any, table: str) -> int:
    total, params = 0, {}
    for _ in range(10**6):
        page = client.scan(TableName=table, Select="COUNT", **params)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        params = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    raise RuntimeError("the scan did not end")


def main() -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = sys.stdout
    with Dynalite(ROOT) as dynalite:
        client = boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1")
        seed(client, "bench-source", ITEMS)

        naive_target, ours_target = fresh(client, "naive"), fresh(client, "ours")
        naive_cpu, naive_wall, _ = cpu(lambda: naive_copy(dynalite.url, "bench-source", naive_target))
        ours_cpu, ours_wall, _ = cpu(lambda: ddbkeeper_copy(dynalite.url, "bench-source", ours_target))
        copied = {target: count(client, target) for target in (naive_target, ours_target)}
        if set(copied.values()) != {ITEMS}:
            print(f"a copy lost items: {copied}, expected {ITEMS} each", file=sys.stderr)
            return 1
        print(f"copy of {ITEMS} items (~1 KiB) on dynalite, one thread each, same run", file=out)
        print(
            f"  naive boto3 (Table.scan + batch_writer): {ITEMS / naive_cpu:8.0f} items/CPU-s ({naive_wall:.1f} s)",
            file=out,
        )
        print(
            f"  ddbkeeper (wire form):                   {ITEMS / ours_cpu:8.0f} items/CPU-s ({ours_wall:.1f} s)",
            file=out,
        )
        print(f"  CPU-seconds per item: {naive_cpu / ours_cpu:.1f}x fewer with ddbkeeper", file=out)

        items_front = min(ITEMS, int(WCU * 12))
        seed(client, "bench-front", items_front)
        with CapacityFront(dynalite.url, write_units_per_second=WCU) as front:
            ddbkeeper_copy(front.url, "bench-front", fresh(client, "front-ours"))
            ours = front.stats()
            front.reset_stats()
            naive_copy(front.url, "bench-front", fresh(client, "front-naive"))
            naive = front.stats()
            front.reset_stats()
            cap = WCU / 2
            capped = ddbkeeper_copy(front.url, "bench-front", fresh(client, "front-capped"), write_cap=cap)
            held = front.stats()
        print(f"behind a {WCU:.0f} WCU/s front, {items_front} items:", file=out)
        for label, stats in (("ddbkeeper", ours), ("naive", naive)):
            print(
                f"  {label:9s}: capacity used {stats.utilisation:6.1%}, items re-sent {stats.resent_share:6.1%}, "
                f"throttled requests {stats.throttled_requests}, {stats.seconds:.1f} s",
                file=out,
            )
        rate = held.units_consumed / held.seconds if held.seconds else 0.0
        print(
            f"  max_write_units={cap:.0f}: held {rate:.0f} units/s ({rate / cap - 1:+.1%} of the cap), "
            f"throttled requests {held.throttled_requests}, items re-sent {held.items_rejected}, "
            f"engine throttle events {capped.throttles}",
            file=out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
