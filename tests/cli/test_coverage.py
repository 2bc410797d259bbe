"""`ddbkeeper audit` and `ddbkeeper points` against a moto server in another process, with tables in every state."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from ddbkeeper.clock import iso

from tests.support import STACK_BUCKET, Client, cli
from tests.support.chain import KEY_ATTRIBUTES, KEY_SCHEMA, T0, ChainWriter, History, build_chain, ordered
from tests.support.tables import all_items, create_source

pytestmark = pytest.mark.endpoint

STAMP = "20261124T030000123Z"


def table(
    remote: Client, name: str, *, pitr: bool = False, protect: bool = False, tags: dict[str, str] | None = None
) -> str:
    create_source(remote, name, items=6, pad=0, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    if pitr:
        remote.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    if protect:
        remote.update_table(TableName=name, DeletionProtectionEnabled=True)
    return str(remote.describe_table(TableName=name)["Table"]["TableArn"])


def ledger(s3: Any, name: str, arn: str, windows: list[tuple[str, datetime | None, datetime]]) -> None:
    """Ledger entries as Record Export writes them (<prefix>/ddbkeeper-ledger/<table>/<end>.json)."""
    for n, (kind, start, end) in enumerate(windows):
        entry = {
            "table": name,
            "table_arn": arn,
            "status": "SUCCEEDED",
            "export_type": kind,
            "export_arn": f"{arn}/export/0179000000000{n}-abcdef",
            "window": {"export_type": kind, "start": iso(start), "end": iso(end)},
            "items": 6,
        }
        key = f"ddbkeeper/{name}/ddbkeeper-ledger/{name}/{end:%Y%m%dT%H%M%SZ}.json"
        s3.put_object(Bucket=STACK_BUCKET, Key=key, Body=json.dumps(entry).encode())


def drilled(s3: Any, arn: str, status: str) -> None:
    """A drill's record, as Drill Report writes it (ddbkeeper-drills/<account>/<region>/<table>/<stamp>.json)."""
    _, _, _, region, account, resource = arn.split(":", 5)
    line = {"table": resource.split("/")[1], "status": status, "drilled_at": "2026-11-23T05:02:00Z", "execution": "d"}
    if status == "FAILED":
        line |= {"error": "VerificationFailed", "cause": "6 of 6 sampled items differ"}
    key = f"ddbkeeper-drills/{account}/{region}/{resource.split('/')[1]}/{STAMP}.json"
    s3.put_object(Bucket=STACK_BUCKET, Key=key, Body=json.dumps(line).encode())


def audit(endpoint: str, *args: str) -> dict[str, dict[str, Any]]:
    done = cli(endpoint, "audit", "--json", "--bucket", STACK_BUCKET, *args)
    assert done.returncode == 0, done.stderr
    return {line["table"]: line for line in json.loads(done.stdout)}


def test_the_audit_judges_every_table_and_says_why(endpoint: str, remote: Client) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    now = datetime.now(UTC).replace(microsecond=0)
    good = table(remote, "cov-good", pitr=True, protect=True)
    remote.create_backup(TableName="cov-good", BackupName=f"ddbkeeper-cov-good-{STAMP}")
    ledger(
        s3, "cov-good", good, [("FULL", None, now - timedelta(hours=2)), ("INCREMENTAL", now - timedelta(hours=2), now)]
    )
    drilled(s3, good, "PASSED")
    table(remote, "cov-no-pitr")
    remote.create_backup(TableName="cov-no-pitr", BackupName=f"ddbkeeper-cov-no-pitr-{STAMP}")
    table(remote, "cov-bare")
    gap = table(remote, "cov-gap", pitr=True, tags={"backup": "daily"})
    remote.create_backup(TableName="cov-gap", BackupName=f"ddbkeeper-cov-gap-{STAMP}")
    hours = [now - timedelta(hours=h) for h in (6, 5, 3, 2)]
    ledger(
        s3,
        "cov-gap",
        gap,
        [("FULL", None, hours[0]), ("INCREMENTAL", hours[0], hours[1]), ("INCREMENTAL", hours[2], hours[3])],
    )
    drilled_badly = table(remote, "cov-drill-failed", pitr=True)
    remote.create_backup(TableName="cov-drill-failed", BackupName=f"ddbkeeper-cov-drill-failed-{STAMP}")
    drilled(s3, drilled_badly, "FAILED")

    lines = audit(endpoint, "--prefix", "cov-")

    verdicts = {name: line["verdict"] for name, line in lines.items()}
    assert verdicts == {
        "cov-good": "protected",
        "cov-no-pitr": "at risk",
        "cov-bare": "unprotected",
        "cov-gap": "at risk",
        "cov-drill-failed": "at risk",
    }
    assert lines["cov-good"]["reasons"] == [] and lines["cov-good"]["notes"] == []
    assert (lines["cov-good"]["last_drill"], lines["cov-good"]["chain_end"]) == ("PASSED", iso(now))
    assert lines["cov-no-pitr"]["reasons"] == ["point-in-time recovery is off: nothing covers the time between backups"]
    assert lines["cov-bare"]["reasons"] == ["no way back: point-in-time recovery off, no backup, no export"]
    (gap_reason,) = lines["cov-gap"]["reasons"]
    assert gap_reason.startswith(f"the export chain has a gap: gap from {iso(hours[1])} to {iso(hours[2])}")
    assert lines["cov-gap"]["chain_end"] == iso(hours[1])  # the newest point reachable across no gap
    assert lines["cov-gap"]["tagged_for_protection"] is True
    assert "the last drill (2026-11-23T05:02:00Z) failed: VerificationFailed" in lines["cov-drill-failed"]["reasons"][0]
    assert "deletion protection is off" in lines["cov-gap"]["notes"]

    time.sleep(1.5)  # the backup is now older than the schedule below promises
    stale = audit(endpoint, "--table", "cov-good", "--max-backup-age-hours", "0.0003")["cov-good"]

    assert stale["verdict"] == "at risk"
    assert "past the schedule's 0.0003 h" in stale["reasons"][0]

    readable = cli(endpoint, "audit", "--bucket", STACK_BUCKET, "--prefix", "cov-", COLUMNS="250")
    assert readable.returncode == 0, readable.stderr
    assert "1 protected, 3 at risk, 1 unprotected" in readable.stdout


def test_every_recovery_point_comes_with_a_restore_input_that_works(endpoint: str, remote: Client) -> None:
    table(remote, "pts-orders", pitr=True)
    remote.create_backup(TableName="pts-orders", BackupName=f"ddbkeeper-pts-orders-{STAMP}")
    remote.create_backup(TableName="pts-orders", BackupName="before-migration")
    exported = cli(endpoint, "run", "export", "--local", "--json", "--input", json.dumps({"table": "pts-orders"}))
    assert exported.returncode == 0, exported.stderr

    done = cli(endpoint, "points", "pts-orders", "--json", "--bucket", STACK_BUCKET, "--target", "pts-back")

    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)
    assert [p["at"] for p in points] == sorted((p["at"] for p in points), reverse=True)
    kinds = sorted(p["kind"] for p in points)
    assert kinds[:3] == ["backup", "backup", "export"] and set(kinds[3:]) == {"pitr"}
    assert any("(ddbkeeper)" in p["description"] for p in points)
    for point in points:
        payload = {**point["restore_input"], "dry_run": True}
        planned = cli(endpoint, "run", "restore", "--local", "--json", "--input", json.dumps(payload))
        assert planned.returncode == 0, (point, planned.stderr)
        assert json.loads(planned.stdout)["dry_run"] is True
    assert "pts-back" not in remote.list_tables()["TableNames"]


def test_each_window_of_the_export_chain_is_a_point_and_its_input_restores_that_window(
    endpoint: str, remote: Client
) -> None:
    """A chain in DynamoDB's real layout (a FULL export, three windows, then one after a gap): every window end up to
    the gap comes with the export-chain input that restores exactly that window; the one past the gap says why not."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    table(remote, "pts-chain")
    writer = ChainWriter(s3, STACK_BUCKET, "ddbkeeper/pts-chain", "pts-chain")
    history = History(20, seed=31)
    snapshots = build_chain(writer, history, 3)
    before = history.snapshot()
    history.change(2, 2, 1)
    late = writer.incremental(before, history.snapshot(), T0 + timedelta(hours=4), T0 + timedelta(hours=5))
    writer.record(late, T0 + timedelta(hours=4), T0 + timedelta(hours=5))

    done = cli(endpoint, "points", "pts-chain", "--json", "--bucket", STACK_BUCKET, "--target", "pts-chain-back")

    assert done.returncode == 0, done.stderr
    exports = [p for p in json.loads(done.stdout) if p["kind"] == "export"]
    assert [p["at"] for p in exports] == [iso(T0 + timedelta(hours=h)) for h in (5, 3, 2, 1, 0)]
    assert exports[0]["restore_input"] is None
    assert exports[0]["note"] == f"not reachable: a gap in the chain from {iso(T0 + timedelta(hours=3))} to " + iso(
        T0 + timedelta(hours=4)
    )
    assert "export_arn" in exports[-1]["restore_input"]["source"]["export"]  # the FULL export on its own
    for point in exports[1:4]:
        payload = {**point["restore_input"], "dry_run": True}
        planned = cli(endpoint, "run", "restore", "--local", "--json", "--input", json.dumps(payload))
        assert planned.returncode == 0, (point, planned.stderr)
    middle = exports[2]["restore_input"]
    restored = cli(endpoint, "run", "restore", "--local", "--json", "--input", json.dumps(middle))
    assert restored.returncode == 0, restored.stderr
    assert all_items(remote, "pts-chain-back") == ordered(snapshots[2].values())


def test_a_dropped_tables_export_chain_is_still_a_way_back(endpoint: str, remote: Client) -> None:
    """A dropped table is when its chain matters most (PITR is gone with it, the chain goes back further): every
    window is listed, through the chain (it reads only the bucket), and asks for the keys no record holds."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    writer = ChainWriter(s3, STACK_BUCKET, "ddbkeeper/pts-dropped", "pts-dropped")
    snapshots = build_chain(writer, History(20, seed=37), 2, record=True)  # the table itself never was, or is gone

    done = cli(endpoint, "points", "pts-dropped", "--json", "--bucket", STACK_BUCKET, "--target", "pts-dropped-back")

    assert done.returncode == 0, done.stderr
    exports = [p for p in json.loads(done.stdout) if p["kind"] == "export"]
    assert [p["at"] for p in exports] == [iso(T0 + timedelta(hours=h)) for h in (2, 1, 0)]
    chain = {"table": "pts-dropped", "bucket": STACK_BUCKET, "prefix": "ddbkeeper/pts-dropped"}
    for point in exports:
        assert point["restore_input"] == {
            "source": {"export_chain": chain, "to": point["at"]},
            "target": {"table": "pts-dropped-back"},
        }
        assert "add target.key_schema and target.attribute_definitions" in point["note"]
    keys = {"key_schema": KEY_SCHEMA, "attribute_definitions": KEY_ATTRIBUTES}
    for point in exports:
        payload = point["restore_input"] | {"target": point["restore_input"]["target"] | keys, "dry_run": True}
        planned = cli(endpoint, "run", "restore", "--local", "--json", "--input", json.dumps(payload))
        assert planned.returncode == 0, (point, planned.stderr)
    middle = exports[1]["restore_input"] | {"target": exports[1]["restore_input"]["target"] | keys}
    restored = cli(endpoint, "run", "restore", "--local", "--json", "--input", json.dumps(middle))
    assert restored.returncode == 0, restored.stderr
    assert all_items(remote, "pts-dropped-back") == ordered(snapshots[1].values())

    readable = cli(endpoint, "points", "pts-dropped", "--bucket", STACK_BUCKET, COLUMNS="400")
    assert readable.returncode == 0, readable.stderr
    assert readable.stdout.count("add target.key_schema") == len(exports)


def test_the_ledger_under_an_empty_prefix_in_another_owners_checked_bucket(endpoint: str, remote: Client) -> None:
    """The ledger is read by the one reader the restore uses: an empty --export-prefix is the bucket's root (not
    "/ddbkeeper-ledger/..."), and the bucket's owner goes with every read and into the restore input."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="pts-flat-exports")
    table(remote, "pts-flat")
    writer = ChainWriter(s3, "pts-flat-exports", "", "pts-flat")
    build_chain(writer, History(10, seed=41), 1, record=True)
    owner = "123456789012"  # moto's account: the bucket's owner

    done = cli(
        endpoint,
        "points",
        "pts-flat",
        "--json",
        "--bucket",
        STACK_BUCKET,
        "--export-bucket",
        "pts-flat-exports",
        "--export-prefix",
        "",
        "--export-bucket-owner",
        owner,
    )

    assert done.returncode == 0, done.stderr
    exports = [p for p in json.loads(done.stdout) if p["kind"] == "export"]
    assert [p["at"] for p in exports] == [iso(T0 + timedelta(hours=1)), iso(T0)]
    chain = {"table": "pts-flat", "bucket": "pts-flat-exports", "prefix": "", "bucket_owner": owner}
    assert exports[0]["restore_input"]["source"] == {"export_chain": chain, "to": exports[0]["at"]}


def test_a_backup_is_ddbkeepers_by_the_stacks_naming_rule(endpoint: str, remote: Client) -> None:
    """The catalog tells ddbkeeper's backups by the rule the audit and retention use
    (<BackupNamePrefix>-<table>-<stamp>, --backup-prefix), not by a name that merely starts with "ddbkeeper-"."""
    table(remote, "pts-named")
    remote.create_backup(TableName="pts-named", BackupName=f"nightly-pts-named-{STAMP}")
    remote.create_backup(TableName="pts-named", BackupName="ddbkeeper-by-hand")

    def made(*args: str) -> set[str]:
        done = cli(endpoint, "points", "pts-named", "--json", "--bucket", STACK_BUCKET, *args)
        assert done.returncode == 0, done.stderr
        return {p["description"] for p in json.loads(done.stdout) if p["kind"] == "backup"}

    assert made() == {f"backup nightly-pts-named-{STAMP} (user)", "backup ddbkeeper-by-hand (user)"}
    assert made("--backup-prefix", "nightly") == {
        f"backup nightly-pts-named-{STAMP} (ddbkeeper)",
        "backup ddbkeeper-by-hand (user)",
    }


def test_the_audit_reads_another_account_through_its_role(endpoint: str) -> None:
    """--role-arn: the tables of the account the role is in (moto maps assumed-role credentials to that account)."""
    role = "arn:aws:iam::222222222222:role/ddbkeeper-backup"
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    keys = sts.assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    other = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    table(other, "elsewhere-orders", pitr=True)

    lines = audit(endpoint, "--role-arn", role, "--region", "us-east-1")

    assert list(lines) == ["elsewhere-orders"]  # that account's tables, and only those
    assert lines["elsewhere-orders"]["reasons"] == ["no ddbkeeper backup"]


def test_a_drill_run_from_the_cli_is_what_the_audit_reads_as_the_last_drill(endpoint: str, remote: Client) -> None:
    """run drill --local records each table's result in the stack's bucket; the audit reads it back."""
    table(remote, "drilled-orders", pitr=True, protect=True)
    remote.create_backup(TableName="drilled-orders", BackupName=f"ddbkeeper-drilled-orders-{STAMP}")

    done = cli(
        endpoint, "run", "drill", "--local", "--input", json.dumps({"tables": ["drilled-orders"]}), COLUMNS="250"
    )

    assert done.returncode == 0, done.stderr
    assert "restore drill: 1 of 1 tables restored, verified and cleaned up" in done.stderr
    assert [n for n in remote.list_tables()["TableNames"] if n.startswith("ddbkeeper-drill-")] == []
    line = audit(endpoint, "--table", "drilled-orders")["drilled-orders"]
    assert (line["last_drill"], line["verdict"], line["notes"]) == ("PASSED", "protected", [])
