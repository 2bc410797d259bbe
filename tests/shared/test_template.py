"""template.yaml and the ASL files agree with each other and with the conventions the design card sets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ddbkeeper.errors import InvalidInput
from ddbkeeper.local.template import StackTemplate

from tests.support import ROOT

TEMPLATE = StackTemplate(ROOT / "template.yaml")
MACHINES = TEMPLATE.state_machines(lambda logical_id: f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}")
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# Tasks that must fail at themselves (no Catch) so that a redrive resumes them from their last checkpoint: a Distributed
# Map child's, and the restore's loop over the exports it applies.
REDRIVABLE = {"Copy Segment", "Apply Exports"}
# Actions AWS does not scope to a resource: the only ones allowed on "*".
UNSCOPED_ACTIONS = {
    "dynamodb:ListTables",
    "dynamodb:ListBackups",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from states(processor)
        for branch in state.get("Branches", []):
            yield from states(branch)


@pytest.fixture(params=sorted(MACHINES), ids=str)
def machine(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, dict[str, Any]]:
    spec = MACHINES[request.param]
    text = spec.definition_path.read_text()
    return json.loads(text), text, spec.substitutions


def test_every_placeholder_has_a_substitution(machine: tuple[dict[str, Any], str, dict[str, Any]]) -> None:
    _, text, substitutions = machine
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(substitutions)


def test_every_task_has_timeout_lambda_retrier_and_catch(machine: tuple[dict[str, Any], str, dict[str, Any]]) -> None:
    definition, _, _ = machine
    for name, state in states(definition):
        if state["Type"] != "Task":
            continue
        assert state.get("TimeoutSeconds"), name
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert retried >= LAMBDA_ERRORS, name
        if name in REDRIVABLE:
            assert "Catch" not in state, name
            continue
        assert state.get("Catch"), name
        for catcher in state["Catch"]:
            assert catcher["ResultPath"] == "$.error", name


def test_every_choice_has_a_default(machine: tuple[dict[str, Any], str, dict[str, Any]]) -> None:
    definition, _, _ = machine
    for name, state in states(definition):
        if state["Type"] == "Choice":
            assert "Default" in state, name


def test_every_next_names_a_state(machine: tuple[dict[str, Any], str, dict[str, Any]]) -> None:
    definition, _, _ = machine

    def check(scope: dict[str, Any]) -> None:
        names = set(scope["States"])
        for state in scope["States"].values():
            targets = [state.get("Next"), state.get("Default")]
            targets += [choice.get("Next") for choice in state.get("Choices", [])]
            targets += [catcher["Next"] for catcher in state.get("Catch", [])]
            assert {t for t in targets if t} <= names
            if state.get("ItemProcessor"):
                check(state["ItemProcessor"])

    check(definition)


def function_policies() -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in TEMPLATE.resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for declared in resource["Properties"].get("Policies", []):
            policy = declared["Fn::If"][1] if "Fn::If" in declared else declared
            for statement in policy.get("Statement", []):
                yield logical_id, statement


def test_no_wildcard_resource_where_an_arn_will_do() -> None:
    for logical_id, statement in function_policies():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(action.endswith(":*") for action in actions), logical_id
        if statement.get("Resource") == "*":
            assert set(actions) <= UNSCOPED_ACTIONS, (logical_id, actions)


def test_only_the_retention_function_may_delete_backups() -> None:
    deleters = {
        logical_id
        for logical_id, statement in function_policies()
        if statement["Effect"] == "Allow" and "dynamodb:DeleteBackup" in statement["Action"]
    }
    assert deleters == {"PruneBackupsFunction"}
    deny = TEMPLATE.resources["DenyBackupDeletionPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert (deny["Effect"], deny["Action"]) == ("Deny", "dynamodb:DeleteBackup")


def test_functions_resolve_for_the_local_runtime() -> None:
    functions = TEMPLATE.functions()
    assert {spec.code_uri.name for spec in functions.values()} == {
        path.name for path in (ROOT / "functions").iterdir() if path.is_dir()
    }
    for spec in functions.values():
        assert (spec.code_uri / "app.py").is_file()
        assert spec.environment["POWERTOOLS_SERVICE_NAME"] == "ddbkeeper"
    assert functions["PruneBackupsFunction"].timeout == 600
    assert functions["PruneBackupsFunction"].environment["DELETE_BACKUP_RATE"] == "2"
    assert MACHINES["backup"].substitutions["CreateBackupFunctionArn"].endswith(":function:CreateBackupFunction")


def test_template_resolution_errors_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Parameters: {P: {Type: String, Default: d}}\n"
        "Resources:\n"
        "  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: f/, Handler: app.h, Environment: {Variables: {A: !Sub '${P}-${AWS::Region}', "
        "B: !GetAtt Topic.Arn}}}\n"
        "  Topic: {Type: AWS::SNS::Topic}\n"
    )
    with pytest.raises(InvalidInput, match=r"F\.Environment\.B: the local runtime cannot resolve !GetAtt Topic\.Arn"):
        StackTemplate(path).functions()
    with pytest.raises(InvalidInput, match="not parameters"):
        StackTemplate(path, {"Nope": "1"})
    assert StackTemplate(path, {"P": "x"}).resolve({"Fn::Sub": "${P}-${AWS::Region}"}, "here") == "x-us-east-1"


def test_lists_join_as_cloudformation_joins_them() -> None:
    regions = {"Fn::Join": [",", [{"Ref": "AWS::Region"}, {"Fn::Join": [",", {"Ref": "AllowedRegions"}]}]]}
    assert TEMPLATE.resolve(regions, "here") == "us-east-1,"
    assert (
        StackTemplate(ROOT / "template.yaml", {"AllowedRegions": "eu-west-1,eu-central-1"}).resolve(regions, "here")
        == "us-east-1,eu-west-1,eu-central-1"
    )


def test_the_export_bucket_is_private_encrypted_versioned_tls_only_and_ages_out() -> None:
    props = TEMPLATE.resources["ExportBucket"]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert encryption["Fn::If"][0] == "HasExportKmsKey"  # SSE-KMS with the stack's key, else SSE-S3
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [
        {"StorageClass": {"Ref": "ExportColderStorageClass"}, "TransitionInDays": {"Ref": "ExportTransitionDays"}}
    ]
    assert rule["ExpirationInDays"] == {"Ref": "ExportExpirationDays"}
    # Small objects (ledger entries, settings records) never go to Glacier, where GetObject would fail.
    assert props["LifecycleConfiguration"]["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    statements = TEMPLATE.resources["ExportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    tls = next(s for s in statements if isinstance(s, dict) and s.get("Sid") == "TlsOnly")
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_schedules_export_hourly_and_weekly_when_a_table_is_named() -> None:
    inputs = {}
    for name in ("IncrementalExportSchedule", "FullExportSchedule"):
        schedule = TEMPLATE.resources[name]
        assert schedule["Condition"] == "HasExportTable"
        assert schedule["Properties"]["Target"]["Arn"] == {"Ref": "ExportStateMachine"}
        inputs[name] = json.loads(
            TEMPLATE.resolve(schedule["Properties"]["Target"]["Input"], name).replace('""', '"orders"')
        )
    assert inputs == {
        "IncrementalExportSchedule": {"table": "orders", "export_type": "AUTO"},
        "FullExportSchedule": {"table": "orders", "export_type": "FULL"},
    }
    assert TEMPLATE.parameter("IncrementalExportExpression") == "rate(1 hour)"


def test_every_workflow_notifies_the_failure_topic() -> None:
    pattern = TEMPLATE.resources["ExecutionFailedRule"]["Properties"]["EventPattern"]
    machines = {ref["Ref"] for ref in pattern["detail"]["stateMachineArn"]}
    assert machines == {
        logical_id
        for logical_id, resource in TEMPLATE.resources.items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def test_create_backup_may_write_only_the_settings_records_and_plan_restore_reads_them() -> None:
    functions = TEMPLATE.functions()
    for logical_id in ("CreateBackupFunction", "PlanRestoreFunction"):
        assert (
            functions[logical_id].environment["SETTINGS_BUCKET"]
            == functions["PrepareExportFunction"].environment["EXPORT_BUCKET"]
        )
    writes = [
        statement["Resource"]
        for logical_id, statement in function_policies()
        if logical_id == "CreateBackupFunction" and statement["Action"] == "s3:PutObject"
    ]
    assert writes == [{"Fn::Sub": "${ExportBucket.Arn}/ddbkeeper-settings/*"}]
