"""Backup + retention on the embedded runtime against a naive boto3 script, on the same moto server in the same run.

Prints, for N tables with K older backups each: the DynamoDB calls each approach made (by operation) and the wall time
of each, as a ratio. The workflow pays for idempotency (a ListBackups before CreateBackup), table resolution, the
settings record beside each backup (four reads of the table and one PutObject) and orchestration; the figures show what
that costs. Wall time on moto says nothing about AWS: read it as overhead only.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path

import boto3
from ddbkeeper.cli import handler_output
from ddbkeeper.cli.demo import _create_table, _point_handlers_at
from ddbkeeper.local.runtime import LocalRuntime
from moto.dynamodb.responses import DynamoHandler
from rich.console import Console

TABLES = int(os.environ.get("BENCH_TABLES", "20"))
OLD_BACKUPS = int(os.environ.get("BENCH_OLD_BACKUPS", "5"))
KEEP = 2

calls: collections.Counter[str] = collections.Counter()
_original = DynamoHandler.call_action


def _counting(self: DynamoHandler) -> object:
    calls[self._get_action()] += 1
    return _original(self)


def naive(client: object, tables: list[str]) -> None:
    """What people write first: back up every table, then delete all but the newest KEEP of its backups."""
    for table in tables:
        client.create_backup(TableName=table, BackupName=f"naive-{table}-{time.time_ns()}")  # type: ignore[attr-defined]
        summaries = client.list_backups(TableName=table)["BackupSummaries"]  # type: ignore[attr-defined]
        own = sorted(
            (s for s in summaries if s["BackupName"].startswith("naive-")), key=lambda s: s["BackupCreationDateTime"]
        )
        for summary in own[:-KEEP]:
            client.delete_backup(BackupArn=summary["BackupArn"])  # type: ignore[attr-defined]


def main() -> int:
    DynamoHandler.call_action = _counting  # type: ignore[method-assign]
    console = Console(stderr=True)
    with handler_output(console, verbose=False), LocalRuntime(Path(__file__).resolve().parents[1]) as runtime:
        _point_handlers_at(runtime.endpoint)
        # As deployed: the stack's bucket exists, and Create Backup records each table's settings in it.
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=os.environ["SETTINGS_BUCKET"])
        client = boto3.client("dynamodb", region_name="us-east-1")
        workflow_tables = [f"wf-{n:03d}" for n in range(TABLES)]
        naive_tables = [f"nv-{n:03d}" for n in range(TABLES)]
        for table in workflow_tables + naive_tables:
            _create_table(client, table, {}, items=0)
        for table in workflow_tables:
            for k in range(OLD_BACKUPS):
                client.create_backup(TableName=table, BackupName=f"ddbkeeper-{table}-2026010{k}T000000000Z")
        for table in naive_tables:
            for k in range(OLD_BACKUPS):
                client.create_backup(TableName=table, BackupName=f"naive-{table}-{k}")

        calls.clear()
        started = time.perf_counter()
        result = runtime.run("backup", {"tables": workflow_tables, "retention": {"keep_last": KEEP}})
        workflow_seconds = time.perf_counter() - started
        workflow_calls = dict(calls)
        assert result.succeeded, result.cause

        calls.clear()
        started = time.perf_counter()
        naive(client, naive_tables)
        naive_seconds = time.perf_counter() - started
        naive_calls = dict(calls)

    out = sys.__stdout__
    assert out is not None
    print(f"backup + retention, {TABLES} tables, {OLD_BACKUPS} older backups each, keep_last={KEEP}", file=out)
    print(
        f"  ddbkeeper workflow: {workflow_seconds:6.2f} s  calls {sum(workflow_calls.values()):4d}  {workflow_calls}",
        file=out,
    )
    print(
        f"  naive boto3 loop:   {naive_seconds:6.2f} s  calls {sum(naive_calls.values()):4d}  {naive_calls}", file=out
    )
    ratio = workflow_seconds / naive_seconds
    print(
        f"  wall-time ratio workflow/naive: {ratio:.1f}x (DeleteBackup paced at 2/s per branch: 10/s over 5)", file=out
    )
    per_table = sum(workflow_calls.values()) / TABLES, sum(naive_calls.values()) / TABLES
    print(f"  calls per table: workflow {per_table[0]:.1f}, naive {per_table[1]:.1f}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
