"""statemachines/audit.asl.json on the embedded runtime: every table judged, the counts the alarms watch."""

from __future__ import annotations

import uuid

import pytest
from ddbkeeper.local.runtime import LocalRuntime

from tests.support import Client, load_event, run
from tests.support.tables import create_source

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("on_runtime")]


def test_the_audit_judges_the_selected_tables_and_counts_the_tagged_ones_at_risk(
    runtime: LocalRuntime, dynamodb: Client
) -> None:
    suffix = uuid.uuid4().hex[:6]
    good, bare = f"audit-good-{suffix}", f"audit-bare-{suffix}"
    create_source(dynamodb, good, items=2, pad=0)
    dynamodb.update_continuous_backups(
        TableName=good, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    backed_up = run(runtime, "backup", {"tables": [good]})
    assert backed_up.succeeded, backed_up.cause
    create_source(dynamodb, bare, items=2, pad=0, Tags=[{"Key": "backup", "Value": "daily"}])
    payload = load_event("workflow-audit-all.json") | {"selector": {"name_prefix": "audit-"}}

    result = run(runtime, "audit", payload)

    assert result.succeeded, result.cause
    verdicts = {line["table"]: line["verdict"] for line in result.output["tables"] if line["table"].endswith(suffix)}
    assert verdicts == {good: "protected", bare: "unprotected"}
    assert result.output["counts"]["tagged_at_risk"] >= 1
    assert "tagged for protection and not protected" in result.output["summary"]
