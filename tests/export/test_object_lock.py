"""Immutable copies: an export written by the real export workflow into a bucket under S3 Object Lock cannot be
deleted (moto enforces the lock on versioned deletes); IAM gives no function what it would take to lift the lock
(tests/shared/test_iam.py)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from ddbkeeper.local.runtime import LocalRuntime

from tests.support import Client, run
from tests.support.tables import create_source

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_an_export_under_object_lock_cannot_be_deleted(
    runtime: LocalRuntime, dynamodb: Client, s3: Client, mode: str
) -> None:
    table, bucket = f"locked-{uuid.uuid4().hex[:6]}", f"vault-{uuid.uuid4().hex[:8]}"
    create_source(dynamodb, table, items=10, pad=0)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)  # as ExportObjectLockMode makes the bucket
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": 30}},
        },
    )

    exported = run(runtime, "export", {"table": table, "bucket": bucket, "enable_pitr": True})

    assert exported.succeeded, exported.cause
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    data = [v for v in versions if "/AWSDynamoDB/" in v["Key"]]
    ledger = [v for v in versions if "/ddbkeeper-ledger/" in v["Key"]]
    assert data and ledger, versions
    for version in ledger:  # written through S3's API by Record Export: the bucket's default retention holds it
        held = s3.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        assert held["ObjectLockMode"] == mode
    for version in data:
        # moto's ExportTableToPointInTime writes its data file into its S3 backend directly, where the bucket's
        # default retention is not applied (real S3 applies it to every object written): apply it as S3 would.
        held = s3.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        if "ObjectLockMode" not in held:
            until = s3.head_object(Bucket=bucket, Key=ledger[0]["Key"])["ObjectLockRetainUntilDate"]
            retention = {"Mode": mode, "RetainUntilDate": until}
            s3.put_object_retention(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], Retention=retention
            )
    for version in versions:
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        if mode == "COMPLIANCE":  # not even with the bypass (which no function's role may ask for in any mode)
            with pytest.raises(ClientError):
                s3.delete_object(
                    Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True
                )
    s3.delete_object(Bucket=bucket, Key=data[0]["Key"])  # a plain delete only hides it behind a delete marker
    kept = {(v["Key"], v["VersionId"]) for v in s3.list_object_versions(Bucket=bucket)["Versions"]}
    assert {(v["Key"], v["VersionId"]) for v in versions} <= kept
