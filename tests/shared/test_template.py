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
# Map child's, and the restore's loop over the exports it applies (a repair's scratch table is dropped by a Catch).
REDRIVABLE = {
    "Copy Segment",
    "Copy Listed Segment",
    "Verify Segment",
    "Verify Listed Segment",
    "List Export Files",
    "Apply File",
    "Apply Scratch File",
}
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


COMPENSATIONS = {"Drop Scratch After Failure"}


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
            # A compensation that fails keeps the failure it cleans up after as the execution's error.
            assert catcher["ResultPath"] == ("$.cleanup_error" if name in COMPENSATIONS else "$.error"), name


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
    rule, checkpoints = props["LifecycleConfiguration"]["Rules"]
    # A copy's checkpoints are overwritten every few seconds: their old versions go after a day.
    assert (checkpoints["Prefix"], checkpoints["NoncurrentVersionExpiration"]) == (
        "ddbkeeper-copies/",
        {"NoncurrentDays": 1},
    )
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


# --- alarms, dashboard, Object Lock, schedules (issue 12) ------------------------------------------------------------

STATE_MACHINES = {
    logical_id for logical_id, r in TEMPLATE.resources.items() if r["Type"] == "AWS::Serverless::StateMachine"
}
ALARMS = {
    logical_id: r["Properties"] for logical_id, r in TEMPLATE.resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"
}
CODE = "".join(
    path.read_text()
    for path in [*(ROOT / "layers" / "core" / "ddbkeeper").rglob("*.py"), *ROOT.glob("functions/*/app.py")]
)


def test_every_workflow_alarms_on_failed_or_timed_out_executions_and_every_alarm_notifies_the_topic() -> None:
    watched = set()
    for props in ALARMS.values():
        assert props["AlarmActions"] == [{"Ref": "FailureTopic"}]
        assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")  # the topic policy's ArnLike
        for metric in props.get("Metrics", []):
            if "MetricStat" in metric and metric["MetricStat"]["Metric"]["Namespace"] == "AWS/States":
                stat = metric["MetricStat"]["Metric"]
                watched.add((stat["MetricName"], stat["Dimensions"][0]["Value"]["Ref"]))
    assert watched == {
        (name, machine) for name in ("ExecutionsFailed", "ExecutionsTimedOut") for machine in STATE_MACHINES
    }
    statements = TEMPLATE.resources["FailureTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (alarms,) = [s for s in statements if s.get("Sid") == "ThisStacksAlarmsPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:${AWS::StackName}-*")


@pytest.mark.parametrize(
    ("alarm", "metric", "fires_when"),
    [
        ("BackupAgeAlarm", "TablesWithStaleBackup", ("GreaterThanThreshold", 0)),
        ("ProtectionAtRiskAlarm", "TaggedTablesAtRisk", ("GreaterThanThreshold", 0)),
        ("AuditUnreadableAlarm", "TablesUnreadable", ("GreaterThanThreshold", 0)),
        ("DrillFailedAlarm", "DrillSucceeded", ("LessThanThreshold", 1)),
        ("CopyThrottlingAlarm", "CopyThrottles", ("GreaterThanThreshold", {"Ref": "CopyThrottleAlarmThreshold"})),
    ],
)
def test_the_service_alarms_watch_metrics_the_code_publishes(
    alarm: str, metric: str, fires_when: tuple[Any, Any]
) -> None:
    props = ALARMS[alarm]
    assert (props["Namespace"], props["MetricName"]) == ("ddbkeeper", metric)
    assert f'"{metric}"' in CODE  # published by a handler (Powertools) under that name
    # Powertools adds the service dimension: without it the alarm would watch a metric nobody publishes.
    assert props["Dimensions"] == [{"Name": "service", "Value": "ddbkeeper"}]
    variables = TEMPLATE.body["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables["POWERTOOLS_SERVICE_NAME"], variables["POWERTOOLS_METRICS_NAMESPACE"]) == (
        "ddbkeeper",
        "ddbkeeper",
    )
    assert (props["ComparisonOperator"], props["Threshold"]) == fires_when
    assert props["TreatMissingData"] == "notBreaching"


def test_the_dashboard_shows_every_workflow_every_service_metric_and_every_alarm() -> None:
    body = TEMPLATE.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown = {tuple(metric[:2]) for w in widgets if w["type"] == "metric" for metric in w["properties"]["metrics"]}
    for name in ("DrillSucceeded", "RestoreSeconds", "RecoveryPointAgeSeconds", "CopyThrottles", "BackupsCreated"):
        assert ("ddbkeeper", name) in shown
    assert {m for m in re.findall(r'"MetricName": "(\w+)"', json.dumps(ALARMS))} <= {name for _, name in shown} | {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }
    assert set(re.findall(r"\$\{(\w+)StateMachine\}", body)) == {m.removesuffix("StateMachine") for m in STATE_MACHINES}
    assert set(re.findall(r"\$\{(\w+Alarm)\.Arn\}", body)) == set(ALARMS)


def test_object_lock_is_opt_in_and_locks_every_version_by_default() -> None:
    props = TEMPLATE.resources["ExportBucket"]["Properties"]
    assert props["ObjectLockEnabled"] == {"Fn::If": ["HasObjectLock", True, {"Ref": "AWS::NoValue"}]}
    condition, locked, unlocked = props["ObjectLockConfiguration"]["Fn::If"]
    assert (condition, unlocked) == ("HasObjectLock", {"Ref": "AWS::NoValue"})
    assert locked == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {
            "DefaultRetention": {"Mode": {"Ref": "ExportObjectLockMode"}, "Days": {"Ref": "ExportObjectLockDays"}}
        },
    }
    assert TEMPLATE.parameter("ExportObjectLockMode") == ""  # off unless asked for
    assert TEMPLATE.body["Parameters"]["ExportObjectLockMode"]["AllowedValues"] == ["", "GOVERNANCE", "COMPLIANCE"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}  # Object Lock needs it


def branches(value: Any, truths: dict[str, bool]) -> Any:
    """A value with its Fn::If resolved for the given conditions (the local template reader does not evaluate them)."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            return branches(when_true if truths[condition] else when_false, truths)
        return {key: branches(item, truths) for key, item in value.items()}
    if isinstance(value, list):
        return [branches(item, truths) for item in value]
    return value


@pytest.mark.parametrize(
    ("parameters", "truths", "expected"),
    [
        (
            {"DrillTableNames": "orders,customers"},
            {"HasDrillTables": True, "HasDrillSelector": False, "HasDrillTagValue": False},
            {"tables": ["orders", "customers"], "selector": None},
        ),
        (
            {"DrillSelectorTagKey": "backup", "DrillSelectorTagValue": "daily"},
            {"HasDrillTables": False, "HasDrillSelector": True, "HasDrillTagValue": True},
            {"tables": None, "selector": {"tag_key": "backup", "tag_value": "daily"}},
        ),
    ],
)
def test_the_drill_schedule_starts_drills_with_an_input_the_drill_accepts(
    parameters: dict[str, str], truths: dict[str, bool], expected: dict[str, Any]
) -> None:
    from ddbkeeper.drill.models import DrillRequest
    from ddbkeeper.models import parse

    schedule = TEMPLATE.resources["DrillSchedule"]
    assert schedule["Condition"] == "HasDrillSchedule"
    assert TEMPLATE.body["Conditions"]["HasDrillSchedule"] == {
        "Fn::Or": [{"Fn::Condition": "HasDrillTables"}, {"Fn::Condition": "HasDrillSelector"}]
    }
    target = schedule["Properties"]["Target"]
    assert target["Arn"] == {"Ref": "DrillStateMachine"}
    template = StackTemplate(ROOT / "template.yaml", parameters)
    payload = json.loads(template.resolve(branches(target["Input"], truths), "DrillSchedule"))
    assert payload == expected
    parse(DrillRequest, payload)


def test_the_audit_runs_daily_with_an_input_the_audit_accepts() -> None:
    from ddbkeeper.audit.models import AuditRequest
    from ddbkeeper.models import parse

    schedule = TEMPLATE.resources["AuditSchedule"]["Properties"]
    assert TEMPLATE.parameter("AuditScheduleExpression") == "rate(1 day)"
    assert schedule["Target"]["Arn"] == {"Ref": "AuditStateMachine"}
    payload = json.loads(TEMPLATE.resolve(schedule["Target"]["Input"], "AuditSchedule"))
    assert payload == {"max_backup_age_hours": 26, "protect_tag_key": "backup"}
    parse(AuditRequest, payload)


def test_the_copys_maps_over_segments_in_s3_run_the_same_children() -> None:
    """Copy Segments and Verify Segments each have a twin for a segments' list in S3 (ItemReader): the children are the
    same states, named apart (state names are unique in a machine), `listed` added to their input; each returns only
    its segment's number (its result is in S3) and the Map keeps none of them in the state."""
    spec = MACHINES["copy"]
    machine = json.loads(spec.definition_path.read_text())["States"]
    twins = (
        ("Copy Segments", "Copy Segments From S3", "Segment Copied", "$.checkpoint"),
        ("Verify Segments", "Verify Segments From S3", "Segment Tallied", "$.tally"),
    )
    for inline, listed, final, result in twins:
        children = json.loads(json.dumps(machine[listed]["ItemProcessor"]).replace("Listed Segment", "Segment"))
        assert children["States"][final].pop("OutputPath") == f"{result}.segment"
        expected = machine[inline]["ItemProcessor"]
        assert expected["States"][final].pop("OutputPath") == result
        assert children == expected, listed
        assert machine[listed]["ItemSelector"] == {**machine[inline]["ItemSelector"], "listed": True}
        assert "ItemsPath" not in machine[listed] and machine[inline]["ItemsPath"].startswith("$.plan.")
        assert machine[listed]["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
        assert machine[listed]["ResultPath"] is None
        assert machine[listed]["Next"] == machine[inline]["Next"]
