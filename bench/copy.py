"""The copy as users run it: `ddbkeeper run copy --local` in a subprocess, against dynalite behind fronts that give the
target a write capacity (bench/capacity_front.py) and a round trip, beside a naive boto3 copy (Table.scan +
batch_writer) on the same data in the same run.

Prints, for 1, 4 and 8 segments (BENCH_SEGMENTS) and for the naive copy:
1. behind a BENCH_WCU write units/s front: the share of its capacity used from the first write to the last, the items
   re-sent per item copied, the wall time;
2. under `max_write_units` at half the front's capacity: the rate held against the cap (from the first write to the
   last), throttled requests and items re-sent;
3. whole-process CPU: the CLI's (every process it is: start-up, the embedded runtime, orchestration, polling, the
   copy) for an empty table, and per item beyond that (marginal); the naive script's the same way; each the median of
   BENCH_RUNS (default 3) runs; and the wall time of both copies where no capacity bounds them;
4. one segment, a front that adds 80 ms to every data call on the target (a far region; the source nearby), then on
   both, and no capacity limit: the items/s kept of the same copy's with no delay.
Then the engine alone (one segment in this process, no CLI): items per CPU-second against the naive copy, labelled so.
Sizes: BENCH_ITEMS (default 6000) items of about 1 KiB; BENCH_WCU (default 200); BENCH_PARTS runs some parts only
(capacity,cap,cpu,far,engine). dynalite's and the fronts' CPU is the
same work for every copy and is not counted.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.copy.engine import CopyTuning, SegmentCopier
from ddbkeeper.copy.models import SegmentCheckpoint
from ddbkeeper.tables import TableSide

from bench.capacity_front import CapacityFront, FrontStats
from tests.support.dynalite import Dynalite

ROOT = Path(__file__).resolve().parents[1]
ITEMS = int(os.environ.get("BENCH_ITEMS", "6000"))
WCU = float(os.environ.get("BENCH_WCU", "200"))
SEGMENTS = [int(n) for n in os.environ.get("BENCH_SEGMENTS", "1,4,8").split(",")]
PARTS = set(os.environ.get("BENCH_PARTS", "capacity,cap,cpu,far,engine").split(","))  # to run a part alone
RUNS = int(os.environ.get("BENCH_RUNS", "3"))  # runs of each short measurement (CPU, far); the median is printed
FAR = 0.08  # seconds added to every data call: a table in a far region
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
    """The engine alone: one segment in this process (no CLI, no workflow)."""
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


# -- as users run it -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One copy in its own process, seen from outside: its CPU, its wall time, and what the front saw."""

    cpu_seconds: float
    wall_seconds: float
    front: FrontStats
    report: dict[str, Any]

    def items_per_second(self) -> float:
        return self.front.items_written / self.front.seconds if self.front.seconds else 0.0


def in_process_of_its_own(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `command`; the CPU-seconds it used (user + system, every thread), its wall time and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - this project's own CLI and this benchmark's own script
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:5])} failed ({done.returncode}): {done.stderr[-2000:]}")
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent, wall, done.stdout


def cli_copy(front: CapacityFront, source: str, target: str, **request: Any) -> Run:
    """`ddbkeeper run copy --local` as a user runs it, against the front (AWS_ENDPOINT_URL_DYNAMODB)."""
    front.reset_stats()
    payload = {"source": {"table": source}, "target": {"table": target}, **request}
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": front.url}
    command = [
        sys.executable,
        "-m",
        "ddbkeeper.cli",
        "run",
        "copy",
        "--local",
        "--json",
        "--input",
        json.dumps(payload),
    ]
    spent, wall, out = in_process_of_its_own(command, env)
    return Run(spent, wall, front.stats(), json.loads(out))


def script_copy(front: CapacityFront, source: str, target: str) -> Run:
    """The naive copy in a process of its own, so that its CPU counts the same way (start-up and all)."""
    front.reset_stats()
    code = f"from bench.copy import naive_copy; naive_copy({front.url!r}, {source!r}, {target!r})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    spent, wall, _ = in_process_of_its_own([sys.executable, "-c", code], env)
    return Run(spent, wall, front.stats(), {})


def as_users_run_it(dynalite: Dynalite, client: Any, out: Any) -> int:
    create(client, "bench-empty")
    print(
        f"\n`ddbkeeper run copy --local` in a subprocess vs a naive boto3 script, {ITEMS} items of ~1 KiB, same run",
        file=out,
    )

    def check(run_target: str) -> None:
        copied = count(client, run_target)
        if copied != ITEMS:
            raise RuntimeError(f"{run_target}: {copied} items copied, expected {ITEMS}")

    if "capacity" in PARTS:
        capacity_used(dynalite, client, check, out)
    if "cap" in PARTS:
        cap_held(dynalite, check, out)
    if "cpu" in PARTS:
        cpu_cost(dynalite, client, out)
    if "far" in PARTS:
        one_round_trip_away(dynalite, client, check, out)
    return 0


def capacity_used(dynalite: Dynalite, client: Any, check: Callable[[str], None], out: Any) -> None:
    """1. Capacity used, items re-sent."""
    source = "bench-source"
    print(f"behind a {WCU:.0f} WCU/s front (write capacity used from the first write to the last):", file=out)
    runs: dict[str, Run] = {}
    with CapacityFront(dynalite.url, write_units_per_second=WCU) as front:
        for segments in SEGMENTS:
            target = f"cap-{segments}-{uuid.uuid4().hex[:6]}"
            runs[f"ddbkeeper, {segments} segment{'s' if segments > 1 else ''}"] = cli_copy(
                front, source, target, segments=segments
            )
            check(target)
        target = fresh(client, "cap-naive")
        runs["naive boto3"] = script_copy(front, source, target)
        check(target)
    for label, run in runs.items():
        print(
            f"  {label:22s}: capacity used {run.front.utilisation:6.1%}, items re-sent {run.front.resent_share:6.1%}, "
            f"throttled requests {run.front.throttled_requests:4d}, wall {run.wall_seconds:5.1f} s",
            file=out,
        )


def cap_held(dynalite: Dynalite, check: Callable[[str], None], out: Any) -> None:
    """2. A cap held, while segments finish at different times."""
    source = "bench-source"
    cap = WCU / 2
    print(
        f"max_write_units={cap:.0f} behind the {WCU:.0f} WCU/s front (rate from the first write to the last):", file=out
    )
    with CapacityFront(dynalite.url, write_units_per_second=WCU) as front:
        for segments in SEGMENTS:
            target = f"capped-{segments}-{uuid.uuid4().hex[:6]}"
            run = cli_copy(front, source, target, segments=segments, max_write_units=cap)
            check(target)
            rate = run.front.units_consumed / run.front.seconds if run.front.seconds else 0.0
            seconds = [s["seconds"] for s in run.report["segments"]]
            print(
                f"  {segments} segment{'s' if segments > 1 else ' '}: held {rate:6.1f} units/s "
                f"({rate / cap:6.1%} of the cap), throttled requests {run.front.throttled_requests}, "
                f"items re-sent {run.front.items_rejected}, ended after {min(seconds):.0f}-{max(seconds):.0f} s",
                file=out,
            )


def cpu_cost(dynalite: Dynalite, client: Any, out: Any) -> None:
    """3. Whole-process CPU: the fixed cost of a copy (an empty table) and the cost per item beyond it, each the median
    of RUNS runs (the per-item figure is a difference of two totals: one run's noise moves it by half); and the wall
    time of the copy where no capacity bounds it."""
    source, empty = "bench-source", "bench-empty"

    def median(copy: Callable[[], Run]) -> tuple[float, float]:
        runs = [copy() for _ in range(RUNS)]
        return statistics.median(r.cpu_seconds for r in runs), statistics.median(r.wall_seconds for r in runs)

    with CapacityFront(dynalite.url) as front:
        ours_empty, _ = median(lambda: cli_copy(front, empty, f"empty-{uuid.uuid4().hex[:6]}"))
        naive_empty, _ = median(lambda: script_copy(front, empty, fresh(client, "empty-naive")))
        ours_full, ours_wall = median(lambda: cli_copy(front, source, f"full-{uuid.uuid4().hex[:6]}"))
        naive_full, naive_wall = median(lambda: script_copy(front, source, fresh(client, "full-naive")))
    ours = (ours_full - ours_empty) / ITEMS
    naive = (naive_full - naive_empty) / ITEMS
    print(f"whole-process CPU (every thread; dynalite's not counted; the median of {RUNS} runs):", file=out)
    print(f"  an empty table:  ddbkeeper {ours_empty:5.2f} CPU-s in all, naive {naive_empty:5.2f}", file=out)
    print(
        f"  per item beyond: ddbkeeper {ours * 1e6:6.0f} CPU-us, naive {naive * 1e6:6.0f} CPU-us: "
        f"{naive / ours if ours > 0 else float('inf'):.1f}x cheaper (default segments, verify count)",
        file=out,
    )
    print(
        f"  wall time with no capacity limit, start-up and verify included: ddbkeeper {ours_wall:5.1f} s, "
        f"naive {naive_wall:5.1f} s",
        file=out,
    )


def one_round_trip_away(dynalite: Dynalite, client: Any, check: Callable[[str], None], out: Any) -> None:
    """4. One segment, a table one round trip away: the share of its no-delay items/s it keeps, with the target far
    (the source nearby), and with both far. A ddbkeeper copy of this table lasts about a second: its figures are the
    median of RUNS runs; the naive copy's last long enough to stand on one."""
    source = "bench-source"
    print(
        f"one segment, {FAR * 1000:.0f} ms added to every data call on the far tables "
        f"(items/s from the first write to the last; ddbkeeper: the median of {RUNS} runs):",
        file=out,
    )

    def items_per_second(front: CapacityFront, copy: str) -> float:
        if copy == "cli":
            target = f"far-{uuid.uuid4().hex[:6]}"
            run = cli_copy(front, source, target, segments=1, verify="none")
        else:
            target = fresh(client, "far-naive")
            run = script_copy(front, source, target)
        check(target)
        return run.items_per_second()

    for label, copy in (("ddbkeeper, 1 segment", "cli"), ("naive boto3", "naive")):
        rates = {}
        for far, delay, near in (
            ("no delay", 0.0, frozenset()),
            ("target far", FAR, frozenset({source})),
            ("both far", FAR, frozenset()),
        ):
            with CapacityFront(dynalite.url, delay_seconds=delay, near_tables=near) as front:
                runs = RUNS if copy == "cli" else 1
                rates[far] = statistics.median(items_per_second(front, copy) for _ in range(runs))
        near_rate = rates["no delay"]
        print(
            f"  {label:22s}: {near_rate:6.0f} items/s with no delay; target far {rates['target far']:6.0f}, "
            f"kept {rates['target far'] / near_rate:6.1%}; both far {rates['both far']:6.0f}, "
            f"kept {rates['both far'] / near_rate:6.1%}",
            file=out,
        )


# -- the engine alone ------------------------------------------------------------------------------------------------


def engine_only(dynalite: Dynalite, client: Any, out: Any) -> int:
    naive_target, ours_target = fresh(client, "naive"), fresh(client, "ours")
    naive_cpu, naive_wall, _ = cpu(lambda: naive_copy(dynalite.url, "bench-source", naive_target))
    ours_cpu, ours_wall, _ = cpu(lambda: ddbkeeper_copy(dynalite.url, "bench-source", ours_target))
    copied = {target: count(client, target) for target in (naive_target, ours_target)}
    if set(copied.values()) != {ITEMS}:
        print(f"a copy lost items: {copied}, expected {ITEMS} each", file=sys.stderr)
        return 1
    print(f"\nengine only (one segment in this process, no CLI, no workflow), {ITEMS} items, same run:", file=out)
    print(
        f"  naive boto3 (Table.scan + batch_writer): {ITEMS / naive_cpu:8.0f} items/CPU-s ({naive_wall:.1f} s)",
        file=out,
    )
    print(
        f"  ddbkeeper engine (wire form):            {ITEMS / ours_cpu:8.0f} items/CPU-s ({ours_wall:.1f} s)",
        file=out,
    )
    print(f"  CPU-seconds per item: {naive_cpu / ours_cpu:.1f}x fewer with the engine", file=out)
    return 0


def main() -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = sys.stdout
    with Dynalite(ROOT) as dynalite:
        client = boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1")
        seed(client, "bench-source", ITEMS)
        try:
            code = as_users_run_it(dynalite, client, out)
            if not code and "engine" in PARTS:
                code = engine_only(dynalite, client, out)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
