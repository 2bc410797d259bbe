"""Hostile and careless input, as a user (or an attacker) types it: `ddbkeeper run WORKFLOW --local` in its own
process against a separate moto server. Every input is refused with the right exit code, naming the field, with no
traceback, and nothing on the server changes.

Most are refused by the workflow's own request model before the embedded runtime starts (a second each); the rest
(marked RUNTIME) pass the model and are refused by the first step, against the server's real tables.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import Client, cli
from tests.support.tables import create_source

pytestmark = pytest.mark.endpoint

ORDERS_BACKUP = "orders-backup-arn"  # replaced by the real ARN the world fixture makes
OTHER_ROLE = "arn:aws:iam::222222222222:role/ddbkeeper-backup"
BIG = "x" * 300_000  # over Step Functions' 256 KiB input
PROVISIONED = {"billing_mode": "PROVISIONED"}
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
CHAIN = {"table": "orders", "bucket": "exports", "prefix": "p"}  # no ledger there: no export recorded
MANIFEST = "s3://exports/p/AWSDynamoDB/01-a/manifest-summary.json"  # no such object
EXISTING = {"table": "orders", "existing": True}
REPAIR = {"keys": [{"pk": {"S": "customer-001"}, "sk": {"N": "1"}}]}
KEYED = {
    "key_schema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "attribute_definitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


@dataclass(frozen=True)
class Case:
    payload: Any
    names: str  # what the message must say: the field and what was wrong
    runtime: bool = False  # refused by the first step rather than by the CLI's model check
    exit: int = 1


def RUNTIME(payload: Any, names: str) -> Case:
    return Case(payload, names, runtime=True)


BACKUP = [
    Case([1], "input: expected a JSON object, got list"),
    Case({}, "give tables (a list of names) and/or selector"),
    Case({"tables": []}, "tables: List should have at least 1 item"),
    Case({"tables": ["x"]}, "tables.0: String should have at least 3 characters"),
    Case({"tables": ["o" * 300]}, "tables.0: String should have at most 255 characters"),
    Case({"tables": ["bad name!"]}, "tables.0: expected a string matching"),
    Case({"tables": ["orders"], "colour": "red"}, "colour: unknown field"),
    Case({"tables": ["orders"], "retention": {}}, "retention: give at least one of keep_last"),
    Case({"tables": ["orders"], "retention": {"keep_last": -1}}, "retention.keep_last: Input should be greater"),
    Case({"tables": ["orders"], "retention": {"keep_last": "7"}}, "retention.keep_last: Input should be a valid"),
    Case({"tables": ["orders"], "retention": {"keep_last": 1, "max_deletions": 5000}}, "retention.max_deletions"),
    Case({"tables": ["orders"], "dry_run": "yes"}, "dry_run: Input should be a valid boolean"),
    Case({"tables": ["orders"], "role_arn": "arn:aws:iam::1:user/me"}, "role_arn: expected a string matching"),
    Case({"tables": ["orders"], "external_id": "abc"}, "external_id needs role_arn"),
    Case({"tables": ["orders"], "region": "mars"}, "region: expected a string matching"),
    Case({"selector": {"tag_value": "daily"}}, "selector: give name_prefix and/or tag_key"),
    Case({"selector": {"tag_key": "aws:cloudformation:stack-name"}}, "selector.tag_key: tag keys starting with aws:"),
    Case({"tables": ["orders"], "backup_name_prefix": "[bold]x"}, "backup_name_prefix: expected a string matching"),
    Case({"tables": ["orders"], "role_arn": OTHER_ROLE, "retention": {"keep_last": 1}}, "retention_role_arn"),
    Case({"tables": ["orders"], "pad": BIG}, "input: 300,"),
    RUNTIME({"tables": ["orders"], "backup_name_prefix": "manual", "retention": {"keep_last": 1}}, "'manual' is not"),
    RUNTIME({"tables": ["orders"], "region": "eu-west-9"}, "region: 'eu-west-9' is not a region this stack acts in"),
    RUNTIME({"selector": {"name_prefix": "nothing-is-called-this-"}}, "matched no table"),
]

COPY = [
    Case([], "input: expected a JSON object, got list"),
    Case({}, "source: Field required"),
    Case({"source": {"table": "orders"}}, "target: Field required"),
    Case({"source": {"table": "orders"}, "target": {"table": "x"}}, "target.table: String should have at least 3"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "mode": "overwrite"}, "mode: Input should be"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "mode": "recreate"}, "confirm_recreate"),
    Case(
        {"source": {"table": "orders"}, "target": {"table": "t-1"}, "confirm_recreate": "t-1"},
        "confirm_recreate goes with mode recreate",
    ),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "segments": 0}, "segments"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "segments": 10_001}, "segments"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "segments": "many"}, "segments"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "max_write_units": -5}, "max_write_units"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "verify": "md5"}, "verify: Input should be"),
    Case(
        {
            "source": {"table": "orders"},
            "target": {"table": "t-1"},
            "target_overrides": {"billing_mode": "PROVISIONED"},
        },
        "billing_mode PROVISIONED needs read_capacity and write_capacity",
    ),
    Case(
        {"source": {"table": "orders"}, "target": {"table": "t-1"}, "target_overrides": {"tags": {"aws:x": "y"}}},
        "tag keys starting with aws: are reserved",
    ),
    Case(
        {"source": {"table": "orders"}, "target": {"table": "t-1"}, "target_overrides": {"drop_indexes": ["x"]}},
        "target_overrides.drop_indexes.0",
    ),
    Case({"source": {"table": "orders", "external_id": "abc"}, "target": {"table": "t-1"}}, "external_id needs role"),
    Case({"source": {"table": "orders", "region": "mars"}, "target": {"table": "t-1"}}, "source.region"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "dry_run": "no"}, "dry_run"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}, "pad": BIG}, "input: 300,"),
    Case({"source": {"table": "orders"}, "target": {"table": "copy-target"}, "mode": "append"}, "confirm_append"),
    Case(
        {"source": {"table": "orders"}, "target": {"table": "t-1"}, "resume": [{"segment": "x"}], "mode": "append"},
        "resume.0",
    ),
    RUNTIME(
        {
            "source": {"table": "orders"},
            "target": {"table": "copy-target"},
            "mode": "append",
            "confirm_append": "other",
        },
        "confirm_append",
    ),
    RUNTIME({"source": {"table": "orders"}, "target": {"table": "t-1", "region": "eu-west-9"}}, "target.region"),
    RUNTIME({"source": {"table": "missing-table"}, "target": {"table": "t-1"}}, "source.table: missing-table does not"),
    RUNTIME({"source": {"table": "orders"}, "target": {"table": "orders"}}, "a copy never writes to its source"),
    RUNTIME({"source": {"table": "orders"}, "target": {"table": "copy-target"}}, "copy-target exists"),
    RUNTIME(
        {"source": {"table": "orders"}, "target": {"table": "t-1"}, "target_overrides": {"drop_indexes": ["nope"]}},
        "target_overrides.drop_indexes: the source has no index nope",
    ),
]

EXPORT = [
    Case([], "input: expected a JSON object, got list"),
    Case({}, "table: Field required"),
    Case({"table": "x"}, "table: String should have at least 3"),
    Case({"table": "orders", "export_type": "DIFFERENTIAL"}, "export_type: Input should be"),
    Case({"table": "orders", "format": "CSV"}, "format: Input should be"),
    Case(
        {"table": "orders", "export_time": "2026-11-22T03:00:00"}, "export_time: expected an ISO time with a time zone"
    ),
    Case({"table": "orders", "export_time": "yesterday"}, "export_time"),
    Case({"table": "orders", "view_type": "OLD_IMAGE"}, "view_type: Input should be"),
    Case({"table": "orders", "bucket": "Bad_Bucket"}, "bucket: expected a string matching"),
    Case({"table": "orders", "prefix": "../../etc"}, "prefix: expected a key prefix without . or .. segments"),
    Case({"table": "orders", "prefix": "ddbkeeper-settings/x"}, "prefix: ddbkeeper-settings/ is reserved"),
    Case({"table": "orders", "prefix": "/abs"}, "prefix: expected a string matching"),
    Case({"table": "orders", "bucket_owner": "123"}, "bucket_owner: expected a string matching"),
    Case({"table": "orders", "external_id": "abc"}, "external_id needs role_arn"),
    Case({"table": "orders", "region": "mars"}, "region: expected a string matching"),
    Case({"table": "orders", "kms_key_id": ""}, "kms_key_id: String should have at least 1 character"),
    Case({"table": "orders", "enable_pitr": "true"}, "enable_pitr: Input should be a valid boolean"),
    Case({"table": "orders", "colour": "red"}, "colour: unknown field"),
    Case({"table": "orders", "pad": BIG}, "input: 300,"),
    RUNTIME({"table": "missing-table", "bucket": "exports"}, "table: missing-table does not exist"),
    RUNTIME({"table": "nopitr", "bucket": "exports"}, "enable_pitr: nopitr has point-in-time recovery off"),
    RUNTIME({"table": "orders", "bucket": "no-such-bucket-here"}, "bucket: no-such-bucket-here does not exist"),
    RUNTIME({"table": "orders", "bucket": "exports", "region": "eu-west-9"}, "region: 'eu-west-9' is not a region"),
]

RESTORE = [
    Case([], "input: expected a JSON object, got list"),
    Case({}, "source: Field required"),
    Case({"source": {}, "target": {"table": "t-1"}}, "give exactly one of backup_arn, table with point_in_time"),
    Case({"source": {"backup_arn": "arn:nope"}, "target": {"table": "t-1"}}, "source.backup_arn: expected a string"),
    Case({"source": {"table": "orders", "point_in_time": "yesterday"}, "target": {"table": "t-1"}}, "point_in_time"),
    Case({"source": {"table": "orders"}, "target": {"table": "t-1"}}, "table and point_in_time go together"),
    Case({"source": {"export": {}}, "target": {"table": "t-1"}}, "give export_arn, or bucket and prefix"),
    Case({"source": {"export": {"export_arn": "x"}}, "target": {"table": "t-1"}}, "export_arn: expected a string"),
    Case({"source": {"table": "orders", "point_in_time": "latest"}}, "target: Field required"),
    Case({"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "x!"}}, "target.table"),
    Case(
        {
            "source": {"table": "orders", "point_in_time": "latest"},
            "target": {"table": "t-1", "key_schema": [{"AttributeName": "id", "KeyType": "HASH"}]},
        },
        "only an import from an export can change the keys",
    ),
    Case(
        {"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "t-1", "billing_mode": "X"}},
        "target.billing_mode",
    ),
    Case(
        {"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "t-1", "tags": {"aws:x": "1"}}},
        "tag keys starting with aws: are reserved",
    ),
    Case(
        {"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "t-1"}, "verify": "checksum"},
        "verify: Input should be",
    ),
    Case(
        {"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "t-1"}, "colour": 1},
        "colour: unknown field",
    ),
    Case(
        {"source": {"table": "orders", "point_in_time": "latest", "region": "mars"}, "target": {"table": "t-1"}},
        "source.region",
    ),
    Case(
        {"source": {"export": {"bucket": "exports", "prefix": "../x"}}, "target": {"table": "t-1"}},
        "source.export.prefix: expected a key prefix without . or .. segments",
    ),
    Case(
        {"source": {"export": {"bucket": "exports", "prefix": "a", "compression": "LZ4"}}, "target": {"table": "t-1"}},
        "source.export.compression",
    ),
    Case({"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "t-1"}, "pad": BIG}, "input:"),
    Case(
        {
            "source": {"export_chain": {"table": "orders", "bucket": "exports", "prefix": "p"}},
            "target": {"table": "t-1"},
        },
        "export_chain and to go together",
    ),
    Case(
        {"source": {"export_chain": CHAIN, "to": "yesterday"}, "target": {"table": "t-1"}},
        "source.to: expected 'latest' or an ISO time with a time zone",
    ),
    Case(
        {"source": {"export_chain": CHAIN | {"prefix": "../x"}, "to": "latest"}, "target": {"table": "t-1"}},
        "source.export_chain.prefix: expected a key prefix without . or .. segments",
    ),
    Case(
        {"source": {"exports": ["s3://exports/AWSDynamoDB/1/data/x.json.gz"]}, "target": {"table": "t-1", **KEYED}},
        "source.exports.0: expected a string matching",
    ),
    Case({"source": {"exports": [MANIFEST]}, "target": {"table": "t-1"}}, "an import needs target.key_schema"),
    Case(
        {"source": {"exports": [MANIFEST, MANIFEST]}, "target": {"table": "t-1", **KEYED}}, "exports: each export once"
    ),
    Case(
        {"source": {"backup_arn": ORDERS_BACKUP, "bucket_owner": "111111111111"}, "target": {"table": "t-1"}},
        "bucket_owner goes with exports",
    ),
    Case(
        {"source": {"backup_arn": ORDERS_BACKUP}, "target": {"table": "t-1"}, "max_write_units": 100.0},
        "max_write_units: only exports applied item by item",
    ),
    Case(
        {"source": {"exports": [MANIFEST]}, "target": {"table": "t-1", **KEYED}, "max_write_units": 0},
        "max_write_units: Input should be greater than 0",
    ),
    Case(
        {"source": {"revert": MANIFEST}, "target": {"table": "orders", "existing": True}},
        "target.existing needs confirm_apply naming the target table",
    ),
    Case({"source": {"revert": MANIFEST}, "target": {"table": "orders"}}, "source.revert: a window is undone in a"),
    Case(
        {
            "source": {"backup_arn": ORDERS_BACKUP},
            "target": {"table": "orders", "existing": True},
            "confirm_apply": "orders",
        },
        "target.existing: only exports applied item by item",
    ),
    Case(
        {"source": {"revert": MANIFEST}, "target": {"table": "orders", "existing": True}, "confirm_apply": "order"},
        "confirm_apply: names order, the target table is orders",
    ),
    Case(
        {"source": {"backup_arn": ORDERS_BACKUP}, "target": EXISTING, "confirm_apply": "orders", "repair": {}},
        "repair: give exactly one of keys, partition or filter",
    ),
    Case(
        {"source": {"exports": [MANIFEST]}, "target": EXISTING, "confirm_apply": "orders", "repair": REPAIR},
        "repair: items are repaired from a backup, a point in time or the export chain",
    ),
    RUNTIME({"source": {"backup_arn": ORDERS_BACKUP}, "target": {"table": "orders"}}, "target.table: orders exists"),
    RUNTIME(
        {
            "source": {"backup_arn": ORDERS_BACKUP},
            "target": {"table": "t-8", "existing": True},
            "confirm_apply": "t-8",
            "repair": REPAIR,
        },
        "target.table: t-8 does not exist; a repair writes into a table that exists",
    ),
    RUNTIME(
        {"source": {"revert": MANIFEST}, "target": {"table": "t-9", "existing": True}, "confirm_apply": "t-9"},
        "target.table: t-9 does not exist; target.existing applies to a table that exists",
    ),
    RUNTIME(
        {"source": {"revert": MANIFEST}, "target": {"table": "orders", "existing": True}, "confirm_apply": "orders"},
        "source.revert: no object s3://exports/p/AWSDynamoDB/01-a/manifest-summary.json",
    ),
    RUNTIME(
        {"source": {"export_chain": CHAIN, "to": "latest"}, "target": {"table": "t-1", **KEYED}},
        "source.to: the ledger records no FULL export",
    ),
    RUNTIME(
        {"source": {"exports": [MANIFEST]}, "target": {"table": "t-1", **KEYED}},
        "source.exports[0]: no object s3://exports/p/AWSDynamoDB/01-a/manifest-summary.json",
    ),
    RUNTIME(
        {"source": {"table": "nopitr", "point_in_time": "latest"}, "target": {"table": "t-1"}},
        "source.table: nopitr has point-in-time recovery off",
    ),
    RUNTIME(
        {"source": {"table": "orders", "point_in_time": "latest"}, "target": {"table": "t-1", "region": "eu-west-9"}},
        "target.region: 'eu-west-9' is not a region this stack acts in",
    ),
]

CASES = {"backup": BACKUP, "copy": COPY, "export": EXPORT, "restore": RESTORE}


@pytest.fixture(scope="module")
def world(endpoint: str) -> str:
    """The server's tables: orders (PITR on, a backup), nopitr, copy-target (exists), a bucket; the backup's ARN."""
    remote = boto3.client("dynamodb", endpoint_url=endpoint, **KEYS)  # module scope: before the test's credentials
    boto3.client("s3", endpoint_url=endpoint, **KEYS).create_bucket(Bucket="exports")
    for name in ("orders", "nopitr", "copy-target"):
        create_source(remote, name, items=10, pad=0)
    remote.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return str(remote.create_backup(TableName="orders", BackupName="manual")["BackupDetails"]["BackupArn"])


def snapshot(endpoint: str) -> dict[str, Any]:
    """Everything a refused input could have touched: tables and their items, PITR, backups, every bucket's objects."""
    dynamodb: Client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    tables = {}
    for name in dynamodb.list_tables()["TableNames"]:
        pitr = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        items = dynamodb.scan(TableName=name, Select="COUNT")["Count"]
        tables[name] = (items, pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"])
    objects = {
        bucket["Name"]: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []))
        for bucket in s3.list_buckets()["Buckets"]
    }
    backups = sorted(b["BackupArn"] for b in dynamodb.list_backups()["BackupSummaries"])
    return {"tables": tables, "objects": objects, "backups": backups}


@pytest.mark.parametrize("workflow", sorted(CASES))
def test_hostile_input_is_refused_naming_the_field_and_nothing_changes(
    workflow: str, endpoint: str, world: str, tmp_path: Path
) -> None:
    cases = CASES[workflow]
    assert len(cases) >= 20
    before = snapshot(endpoint)

    def refuse(case: Case) -> str | None:
        payload = json.loads(json.dumps(case.payload).replace(ORDERS_BACKUP, world))
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=tmp_path, delete=False) as file:
            json.dump(payload, file)  # a file: a 300 KB input is longer than a command-line argument may be
        done = cli(endpoint, "run", workflow, "--local", "--input", file.name, COLUMNS="400")
        said = done.stderr.replace("\n", " ")
        wrong = []
        if done.returncode != case.exit:
            wrong.append(f"exit {done.returncode}, expected {case.exit}")
        if case.names not in said.replace("  ", " "):
            wrong.append(f"does not say {case.names!r}")
        if "Traceback" in done.stderr:
            wrong.append("printed a traceback")
        if not case.runtime and "→" in done.stderr:
            wrong.append("started the runtime for an input its model refuses")
        return f"{str(case.payload)[:100]}: {'; '.join(wrong)}\n{done.stderr[-600:]}" if wrong else None

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [problem for problem in pool.map(refuse, cases) if problem]

    assert problems == []
    assert snapshot(endpoint) == before


def test_each_table_lists_model_and_first_step_refusals() -> None:
    """Both kinds per workflow: refusals the CLI makes itself, and refusals only the first step can make."""
    kinds: Callable[[list[Case]], set[bool]] = lambda cases: {case.runtime for case in cases}  # noqa: E731
    assert all(kinds(cases) == {True, False} for cases in CASES.values())
