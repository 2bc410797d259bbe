"""The CLI as a user runs it: `ddbkeeper run backup --local` acting on a DynamoDB endpoint in another process."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.backup_names import own_backup_pattern
from ddbkeeper.cli import read_input
from ddbkeeper.errors import InvalidInput
from ddbkeeper.settings import SettingsRecords

from tests.support import ROOT, STACK_BUCKET, Client, cli, moto_server
from tests.support.chain import KEY_ATTRIBUTES, KEY_SCHEMA, T0, ChainWriter, History, build_chain, ordered
from tests.support.dynalite import Dynalite, dynalite_available
from tests.support.tables import KEYS, all_items, assert_identical, create_source

pytestmark = pytest.mark.endpoint


def test_run_local_creates_and_prunes_backups_on_the_named_endpoint(endpoint: str, remote: Client) -> None:
    remote.create_table(
        TableName="shop-orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    manual = remote.create_backup(TableName="shop-orders", BackupName="ddbkeeper-shop-orders-manual")["BackupDetails"]
    lookalike = remote.create_backup(TableName="shop-orders", BackupName="ddbkeeper-shop-orders-20250101T000000000Z")
    payload = json.dumps({"tables": ["shop-orders"], "retention": {"keep_last": 1}})

    outputs = []
    for _ in range(3):
        done = cli(endpoint, "run", "backup", "--local", "--json", "--input", payload)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))  # stdout holds the output JSON alone

    summaries = remote.list_backups(TableName="shop-orders")["BackupSummaries"]
    assert sorted(s["BackupName"] for s in summaries) == sorted(
        [
            outputs[-1]["tables"][0]["backup_name"],
            "ddbkeeper-shop-orders-manual",
            "ddbkeeper-shop-orders-20250101T000000000Z",  # named like ours, made by hand: no record, never deleted
        ]
    )
    assert {manual["BackupArn"], lookalike["BackupDetails"]["BackupArn"]} <= {s["BackupArn"] for s in summaries}
    assert outputs[1]["tables"][0]["deleted"] == [outputs[0]["tables"][0]["backup_name"]]


def test_a_backup_dry_run_leaves_the_server_as_it_was(endpoint: str, remote: Client) -> None:
    """Nothing created, nothing deleted, nothing recorded: only the report of what a real run would do."""
    remote.create_table(
        TableName="dry-orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    first = cli(endpoint, "run", "backup", "--local", "--json", "--input", json.dumps({"tables": ["dry-orders"]}))
    assert first.returncode == 0, first.stderr
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def state() -> tuple[object, ...]:
        buckets = [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
        objects = [
            (name, obj["Key"], obj["ETag"])
            for name in buckets
            for obj in s3.list_objects_v2(Bucket=name).get("Contents", [])
        ]
        return (
            remote.list_tables()["TableNames"],
            sorted((b["BackupArn"], b["BackupStatus"]) for b in remote.list_backups()["BackupSummaries"]),
            sorted(objects),
        )

    before = state()
    payload = {"tables": ["dry-orders"], "retention": {"keep_last": 1}, "dry_run": True}

    done = cli(endpoint, "run", "backup", "--local", "--json", "--input", json.dumps(payload))

    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)["tables"][0]
    assert (line["backup_status"], line["backup_arn"]) == ("PLANNED", None)
    assert line["would_delete"] == [json.loads(first.stdout)["tables"][0]["backup_name"]]
    assert state() == before


def test_run_local_export_then_restore_from_it_on_the_named_endpoint(endpoint: str, remote: Client) -> None:
    """`ddbkeeper run export --local` and `run restore --local` act wherever AWS_ENDPOINT_URL points."""
    create_source(remote, "cli-orders", items=45, pad=50, importable=True)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="cli-exports")
    export = {"table": "cli-orders", "bucket": "cli-exports", "enable_pitr": True}

    exported = cli(endpoint, "run", "export", "--local", "--json", "--input", json.dumps(export))

    assert exported.returncode == 0, exported.stderr
    report = json.loads(exported.stdout)
    assert (report["export_type"], report["items"]) == ("FULL", 45)
    target = {
        "table": "cli-orders-v2",
        "key_schema": KEYS["KeySchema"],
        "attribute_definitions": KEYS["AttributeDefinitions"][:2],
    }
    restore = {"source": {"export": {"export_arn": report["export_arn"]}}, "target": target}

    restored = cli(endpoint, "run", "restore", "--local", "--input", json.dumps(restore))

    assert restored.returncode == 0, restored.stderr
    assert "restore into cli-orders-v2 from export" in restored.stderr  # the readable report
    assert "MATCH (expected 45)" in restored.stderr
    assert assert_identical(remote, "cli-orders", remote, "cli-orders-v2") == 45


def test_run_local_restore_from_an_export_chain_shows_each_file_and_the_point(endpoint: str, remote: Client) -> None:
    """Exports in the real layout on the server (a FULL and three windows); restored to the middle of the chain."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="cli-chain")
    snapshots = build_chain(ChainWriter(s3, "cli-chain", "ddbkeeper/orders", "cli-chain-orders"), History(40), 3)
    restore = {
        "source": {
            "export_chain": {"table": "cli-chain-orders", "bucket": "cli-chain", "prefix": "ddbkeeper/orders"},
            "to": (T0 + timedelta(hours=2, minutes=10)).isoformat(),
        },
        "target": {"table": "cli-chain-0200", "key_schema": KEY_SCHEMA, "attribute_definitions": KEY_ATTRIBUTES},
    }

    done = cli(endpoint, "run", "restore", "--local", "--input", json.dumps(restore), COLUMNS="200")

    assert done.returncode == 0, done.stderr
    assert "→ Apply Export Files" in done.stderr  # one Map an export
    assert "export 1: 2 data files to apply" in done.stderr
    assert "export 3, file 2: " in done.stderr and "items applied (MD5 checked)" in done.stderr  # each file shown
    assert "6 data files applied (MD5 checked)" in done.stderr  # the FULL and two windows, two files each
    assert "2026-09-01T02:00:00Z (600 s before the time asked for)" in done.stderr
    assert "MATCH" in done.stderr
    assert all_items(remote, "cli-chain-0200") == ordered(snapshots[2].values())


def test_run_local_restore_exports_revert_and_repair_act_on_the_named_endpoint(endpoint: str, remote: Client) -> None:
    """Each of the other new sources as a user runs it: exports named by their manifests into a new table, the last
    window reverted in it, then a deleted item repaired from a backup (a dry run first, which writes nothing)."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="cli-sources")
    writer = ChainWriter(s3, "cli-sources", "tool/orders", "cli-src-orders")
    snapshots = build_chain(writer, History(30, seed=21), 2, record=False)
    keys = {"key_schema": KEY_SCHEMA, "attribute_definitions": KEY_ATTRIBUTES}

    def run(payload: dict[str, object]) -> str:
        done = cli(endpoint, "run", "restore", "--local", "--input", json.dumps(payload), COLUMNS="200")
        assert done.returncode == 0, done.stderr
        return done.stderr

    run({"source": {"exports": writer.exports}, "target": {"table": "cli-src-live", **keys}})
    assert all_items(remote, "cli-src-live") == ordered(snapshots[2].values())
    existing = {"target": {"table": "cli-src-live", "existing": True}, "confirm_apply": "cli-src-live"}
    said = run({"source": {"revert": writer.exports[2]}, **existing})
    assert "restore into cli-src-live from revert" in said
    assert all_items(remote, "cli-src-live") == ordered(snapshots[1].values())

    backup = remote.create_backup(TableName="cli-src-live", BackupName="before")["BackupDetails"]["BackupArn"]
    lost = all_items(remote, "cli-src-live")[3]
    remote.delete_item(TableName="cli-src-live", Key={"pk": lost["pk"], "sk": lost["sk"]})
    repair = {"source": {"backup_arn": backup}, **existing, "repair": {"keys": [{"pk": lost["pk"], "sk": lost["sk"]}]}}
    dry = run(repair | {"dry_run": True})
    assert "1 chosen: 1 added, 0 overwritten, 0 left" in dry
    assert lost not in all_items(remote, "cli-src-live")  # the dry run wrote nothing
    said = run(repair)
    assert "→ Drop Scratch Table" in said
    assert all_items(remote, "cli-src-live") == ordered(snapshots[1].values())
    assert [t for t in remote.list_tables()["TableNames"] if "-repair-" in t] == []


FORGED = {"ttl_attribute": "forged", "pitr": True, "tags": {"forged": "yes"}, "deletion_protection": True}


def record_key(backup: str) -> str:
    """Where Create Backup records a backup's settings in the stack's bucket (README: the backup workflow)."""
    _, _, _, region, account, resource = backup.split(":", 5)
    return f"ddbkeeper-settings/{account}/{region}/{resource.removeprefix('table/')}.json"


def restored_settings(remote: Client, table: str) -> dict[str, object]:
    described = remote.describe_table(TableName=table)["Table"]
    ttl = remote.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    return {
        "tags": {t["Key"]: t["Value"] for t in remote.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]},
        "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
        "deletion_protection": bool(described.get("DeletionProtectionEnabled")),
    }


def test_run_local_restore_ignores_a_forged_record_beside_the_backup(endpoint: str, remote: Client) -> None:
    """A record naming another backup, in the stack's bucket on the server: the restored table gets none of it."""
    create_source(remote, "cli-ledger", items=12, pad=0)
    arn = remote.describe_table(TableName="cli-ledger")["Table"]["TableArn"]
    remote.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "payments"}])
    backup = remote.create_backup(TableName="cli-ledger", BackupName="by-hand")["BackupDetails"]["BackupArn"]
    forged = {"backup_arn": "forged", "table": "cli-ledger", "table_arn": arn, "settings": FORGED}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.put_object(Bucket=STACK_BUCKET, Key=record_key(backup), Body=json.dumps(forged).encode())
    restore = {"source": {"backup_arn": backup}, "target": {"table": "cli-ledger-2"}}

    done = cli(endpoint, "run", "restore", "--local", "--json", "--input", json.dumps(restore))

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["settings_from"] == (
        "the source table as it is now (the record beside the backup names another backup: ignored)"
    )
    assert restored_settings(remote, "cli-ledger-2") == {
        "tags": {"team": "payments", "ddbkeeper:managed-by": "ddbkeeper-local"},
        "ttl": None,
        "deletion_protection": False,
    }
    assert assert_identical(remote, "cli-ledger", remote, "cli-ledger-2") == 12


def test_run_local_restore_of_a_backup_made_by_hand_needs_no_stack_bucket() -> None:
    """A server without the stack's bucket (another moto process): the restore goes on and says why it has no record."""
    with moto_server() as bare:
        remote = boto3.client("dynamodb", endpoint_url=bare, region_name="us-east-1")
        create_source(remote, "by-hand", items=7, pad=0)
        backup = remote.create_backup(TableName="by-hand", BackupName="manual")["BackupDetails"]["BackupArn"]
        restore = {"source": {"backup_arn": backup}, "target": {"table": "by-hand-2", "tags": {"owner": "ops"}}}

        done = cli(bare, "run", "restore", "--local", "--json", "--input", json.dumps(restore))

        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["settings_from"].startswith(f"settings record unreadable: GetObject s3://{STACK_BUCKET}/")
        assert "NoSuchBucket" in report["settings_from"]
        assert report["settings_from"].endswith("; the source table as it is now")
        assert report["verification"]["result"] == "MATCH"
        assert assert_identical(remote, "by-hand", remote, "by-hand-2") == 7
        assert restored_settings(remote, "by-hand-2")["tags"] == {
            "owner": "ops",
            "ddbkeeper:managed-by": "ddbkeeper-local",
        }
        buckets = boto3.client("s3", endpoint_url=bare, region_name="us-east-1").list_buckets()["Buckets"]
        assert STACK_BUCKET not in [bucket["Name"] for bucket in buckets]


def test_run_local_export_and_restore_name_what_a_backend_without_pitr_lacks(endpoint: str) -> None:
    """dynalite has no PITR, backup or export API: both workflows stop at their first step and say why."""
    if not dynalite_available(ROOT):
        pytest.fail(f"dynalite is not installed under {ROOT / 'node_modules'}: run `npm ci`")
    with Dynalite(ROOT) as dynalite:
        local = boto3.client("dynamodb", endpoint_url=dynalite.url, region_name="us-east-1")
        local.create_table(TableName="plain", BillingMode="PAY_PER_REQUEST", **KEYS)
        local.get_waiter("table_exists").wait(TableName="plain", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="plain-exports")
        export = json.dumps({"table": "plain", "bucket": "plain-exports", "enable_pitr": True})
        restore = json.dumps({"source": {"table": "plain", "point_in_time": "latest"}, "target": {"table": "plain-2"}})

        exported = cli(endpoint, "run", "export", "--local", "--input", export, AWS_ENDPOINT_URL_DYNAMODB=dynalite.url)
        restored = cli(
            endpoint, "run", "restore", "--local", "--input", restore, AWS_ENDPOINT_URL_DYNAMODB=dynalite.url
        )

        assert exported.returncode == 1
        assert "cannot read plain's point-in-time recovery status" in exported.stderr
        assert "UnknownOperationException" in exported.stderr
        assert restored.returncode == 1
        assert "DescribeContinuousBackups plain" in restored.stderr
        assert local.list_tables()["TableNames"] == ["plain"]


def test_run_local_copy_refuses_an_append_without_confirmation(endpoint: str, remote: Client) -> None:
    """`"mode": "append"` alone once overwrote a live table's items: now Plan Copy refuses it and nothing is written."""
    create_source(remote, "cli-staging", items=20, pad=50)
    create_source(remote, "cli-prod-orders", items=10, pad=50, seed=99)  # the same keys as the source's first ten
    before = all_items(remote, "cli-prod-orders")
    payload = {"source": {"table": "cli-staging"}, "target": {"table": "cli-prod-orders"}, "mode": "append"}

    done = cli(endpoint, "run", "copy", "--local", "--input", json.dumps(payload))

    assert done.returncode == 1
    assert "InvalidInput" in done.stderr
    assert "mode append needs confirm_append naming the target table" in done.stderr
    assert all_items(remote, "cli-prod-orders") == before


def test_run_local_copy_recreate_backs_the_old_target_up_first(endpoint: str, remote: Client) -> None:
    """A dry run names the backup and changes nothing; the real run takes it (recorded in the stack's bucket, named as
    retention recognises) before it drops the table, and the report names it."""
    create_source(remote, "cli-copy-source", items=25, pad=50)
    remote.create_table(TableName="cli-copy-staging", BillingMode="PAY_PER_REQUEST", **KEYS)
    remote.put_item(TableName="cli-copy-staging", Item={"pk": {"S": "stale"}, "sk": {"N": "1"}})
    payload = {
        "source": {"table": "cli-copy-source"},
        "target": {"table": "cli-copy-staging"},
        "mode": "recreate",
        "confirm_recreate": "cli-copy-staging",
    }

    wide = {"COLUMNS": "400"}  # the readable report on one line per fact
    planned = cli(endpoint, "run", "copy", "--local", "--input", json.dumps({**payload, "dry_run": True}), **wide)

    assert planned.returncode == 0, planned.stderr
    assert "dry run" in planned.stderr and "first back it up as ddbkeeper-cli-copy-staging-" in planned.stderr
    assert remote.list_backups(TableName="cli-copy-staging")["BackupSummaries"] == []
    assert [item["pk"]["S"] for item in all_items(remote, "cli-copy-staging")] == ["stale"]

    done = cli(endpoint, "run", "copy", "--local", "--input", json.dumps(payload), **wide)

    assert done.returncode == 0, done.stderr
    (backup,) = remote.list_backups(TableName="cli-copy-staging")["BackupSummaries"]
    assert own_backup_pattern("ddbkeeper", "cli-copy-staging").match(backup["BackupName"])
    assert f"backed up as {backup['BackupName']} (AVAILABLE; recorded at s3://{STACK_BUCKET}/" in done.stderr
    stack = SettingsRecords(Account(SessionFactory(), AccountAccess()), STACK_BUCKET)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        assert stack.record(backup["BackupArn"]) is not None  # retention's proof that ddbkeeper made it
    assert assert_identical(remote, "cli-copy-source", remote, "cli-copy-staging") == 25
    restored = remote.restore_table_from_backup(TargetTableName="cli-copy-before", BackupArn=backup["BackupArn"])
    assert restored["TableDescription"]["TableName"] == "cli-copy-before"
    assert [item["pk"]["S"] for item in all_items(remote, "cli-copy-before")] == ["stale"]


def test_run_local_bad_input_exits_non_zero_with_the_field(endpoint: str, remote: Client) -> None:
    before = remote.list_backups()["BackupSummaries"]

    done = cli(endpoint, "run", "backup", "--local", "--input", str(ROOT / "events" / "workflow-backup-invalid.json"))

    assert done.returncode == 1
    assert "InvalidInput" in done.stderr
    assert "retention.keep_last" in done.stderr
    assert "backup_name_prefx: unknown field" in done.stderr
    assert remote.list_backups()["BackupSummaries"] == before


def test_unreadable_input_is_a_usage_error(endpoint: str) -> None:
    done = cli(endpoint, "run", "backup", "--local", "--input", "{not json")
    assert done.returncode == 2
    assert "--input: not valid JSON" in done.stderr


def test_read_input_accepts_text_files_and_stdin(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"tables": ["a"]}')
    assert read_input(str(path)) == {"tables": ["a"]}
    assert read_input('{"x": 1}') == {"x": 1}

    class Stdin:
        def read(self) -> str:
            return "[1]"

    assert read_input("-", Stdin()) == [1]  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="expected JSON text, a file or -"):
        read_input("no-such-file.json")


def test_run_without_local_finds_the_state_machine_in_the_stack_outputs() -> None:
    """The deployed path: the stack's output names the state machine; the CLI starts and follows the execution."""
    from ddbkeeper.cli import run_deployed
    from ddbkeeper.cli.progress import ExecutionProgress
    from moto import mock_aws
    from rich.console import Console

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        definition = {
            "StartAt": "Report",
            "States": {"Report": {"Type": "Pass", "Parameters": {"echo.$": "$"}, "End": True}},
        }
        arn = boto3.client("stepfunctions").create_state_machine(
            name="ddbkeeper-backup", definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"BackupStateMachineArn": {"Value": arn}},
        }
        boto3.client("cloudformation").create_stack(StackName="ddbkeeper-test", TemplateBody=json.dumps(template))
        console = Console(stderr=True, quiet=True)

        result = run_deployed("ddbkeeper-test", "backup", {"tables": ["orders"]}, ExecutionProgress(console), console)

        assert result.succeeded
        assert result.output == {"echo": {"tables": ["orders"]}}
        with pytest.raises(InvalidInput, match="stack ddbkeeper-test has no output CopyStateMachineArn"):
            run_deployed("ddbkeeper-test", "copy", {}, ExecutionProgress(console), console)


def test_progress_tells_where_a_long_job_stands_until_it_is_done() -> None:
    from ddbkeeper.cli.progress import ExecutionProgress
    from rich.console import Console

    console = Console(record=True, width=200)
    progress = ExecutionProgress(console)
    for output in (
        {"status": "IN_PROGRESS", "polls": 2, "wait_seconds": 20},
        {"status": "COMPLETED", "polls": 3, "wait_seconds": 40},
        {"pending": 2, "polls": 1, "wait_seconds": 5, "summary": "t still lacks stream, tags"},
        {"pending": 0, "polls": 2, "wait_seconds": 0, "summary": "t has every setting"},
    ):
        progress({"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": json.dumps(output)}})

    assert console.export_text().splitlines() == [
        "  IN_PROGRESS (check 2); next look in 20 s",
        "  t still lacks stream, tags (check 1); next look in 5 s",
    ]


def test_bracketed_text_in_an_input_and_its_report_prints_as_text(endpoint: str, remote: Client) -> None:
    """rich reads [...] as markup: a prefix of "[/x]" crashed the report of a successful export."""
    create_source(remote, "bracket-orders", items=3, pad=0)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bracket-exports")
    payload = {"table": "bracket-orders", "bucket": "bracket-exports", "prefix": "x/[/x]/[bold]", "enable_pitr": True}

    done = cli(endpoint, "run", "export", "--local", "--input", json.dumps(payload), COLUMNS="300")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "x/[/x]/[bold]" in done.stderr  # printed as written, in the report's S3 folders


def test_the_copy_report_names_the_pre_drop_backup_and_the_append_check() -> None:
    from ddbkeeper.cli.report_view import copy_notes, copy_table, show_result
    from ddbkeeper.executions import ExecutionResult
    from rich.console import Console

    report = json.loads((ROOT / "events" / "copy_report.json").read_text())
    figures = {"items": 5, "bytes": 0, "read_units": 0, "write_units": 5, "throttles": 0, "retried_items": 0}
    segment = {"segment": 0, **figures, "pages": 1, "invocations": 1, "seconds": 1.0, "credential_refreshes": 0}
    totals = {**figures, "pages": 1, "invocations": 1, "credential_refreshes": 0, "segments": 1, "segment_seconds": 1}
    backup = {
        "name": "ddbkeeper-orders-20261122T030000123Z",
        "arn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01",
        "status": "AVAILABLE",
        "record": "s3://stack/ddbkeeper-settings/123456789012/us-east-1/orders/backup/01.json",
    }
    recreate = {"status": "SUCCEEDED", "source": "a", "target": "orders", "mode": "recreate", "totals": totals}
    recreate |= {"verification": {"verify": "count", "items": 5}, "finalized": {}, "segments": [segment]}
    appended = recreate | {"mode": "append", "finalized": {"skipped": "append: left as they are"}}
    appended["verification"] = {"verify": "count", "items": 5, "append": {"checked": 5, "missing": 0, "different": 0}}
    console = Console(record=True, width=300)

    show_result(console, ExecutionResult("arn", "SUCCEEDED", recreate | {"pre_drop_backup": backup}, None, None, 1.0))
    console.print(copy_table(appended))
    show_result(
        console,
        ExecutionResult(
            "arn", "SUCCEEDED", {"dry_run": True, "segments": [], "actions": ["drop table orders"]}, None, None, 1
        ),
    )

    text = " ".join(console.export_text().split())  # a title wraps at its table's width
    assert "verify count (5 items match)" in text
    assert (
        "before the drop, the old table was backed up as ddbkeeper-orders-20261122T030000123Z (AVAILABLE; recorded at "
        "s3://stack/ddbkeeper-settings/123456789012/us-east-1/orders/backup/01.json)"
    ) in text
    assert "verify count (5 source items read back from the target as written)" in text
    assert copy_notes(appended) == ["append: left as they are"]
    assert copy_notes(report) == []  # a report from before the pre-drop backup reads as it did
    assert "dry run: nothing was changed" in text  # a dry run's plan is no report: no table, no crash
