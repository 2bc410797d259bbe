"""Least privilege that holds without the code: who may destroy or change what, read off template.yaml and the roles.

Tables the stack creates carry the tag ddbkeeper:managed-by=<stack name>; a function may drop, write or change a
table only when it carries that tag, unless a template parameter (default: none) names the table for that purpose.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

import pytest
from ddbkeeper.local.template import StackTemplate, read_cfn

from tests.support import ROOT

pytestmark = pytest.mark.pure

TEMPLATE = StackTemplate(ROOT / "template.yaml")
MANAGED = {"StringEquals": {"aws:ResourceTag/ddbkeeper:managed-by": {"Ref": "AWS::StackName"}}}
SCRATCH_TAGGED = {"Null": {"aws:ResourceTag/ddbkeeper:scratch": "false"}}  # a repair's scratch table, no other
MARKS_NEW = {"StringEquals": {"aws:RequestTag/ddbkeeper:managed-by": {"Ref": "AWS::StackName"}}}
# The drill's scratch tables: named <DrillTablePrefix>-..., tagged ddbkeeper:drill=<stack> (and managed-by) once the
# drill proved it restored them, deleted only when so tagged.
SCRATCH = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${DrillTablePrefix}-*"}
DRILL_MARK = {
    "StringEquals": {
        "aws:RequestTag/ddbkeeper:drill": {"Ref": "AWS::StackName"},
        "aws:RequestTag/ddbkeeper:managed-by": {"Ref": "AWS::StackName"},
    }
}
DRILLS = {"StringEquals": {"aws:ResourceTag/ddbkeeper:drill": {"Ref": "AWS::StackName"}}}
DRILL_FUNCTIONS = {
    "PlanDrillFunction",
    "StartScratchRestoreFunction",
    "CheckScratchRestoreFunction",
    "VerifyScratchTableFunction",
    "DeleteScratchTableFunction",
    "DrillReportFunction",
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(resources: dict[str, Any]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """(resource, the template condition guarding the statement or None, statement) for every policy statement."""
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        for declared in props.get("Policies", []):
            guard, policy = (declared["Fn::If"][0], declared["Fn::If"][1]) if "Fn::If" in declared else (None, declared)
            for statement in policy.get("PolicyDocument", policy).get("Statement", []):
                for branch_guard, branch in _branches(guard, statement):
                    yield logical_id, branch_guard, branch


def _branches(guard: str | None, statement: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """A statement, or the branches of a statement-level !If that are statements (not AWS::NoValue)."""
    if "Fn::If" not in statement:
        yield guard, statement
        return
    condition, when_true, when_false = statement["Fn::If"]
    for branch_guard, branch in ((condition, when_true), (f"not {condition}", when_false)):
        if isinstance(branch, dict) and "Effect" in branch:
            yield branch_guard, branch


def grants(action: str, resources: dict[str, Any] | None = None) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [
        (logical_id, guard, statement)
        for logical_id, guard, statement in statements(resources or TEMPLATE.resources)
        if statement["Effect"] == "Allow" and action in _listed(statement["Action"])
    ]


def who(action: str) -> set[str]:
    return {logical_id for logical_id, _, _ in grants(action)}


def test_only_prepare_target_drops_tables_and_only_its_own_or_those_a_parameter_names() -> None:
    """Besides the scratch tables (a drill's, next test; a repair's, carrying the stack's tag and a scratch tag), only
    Prepare Target drops tables."""
    repair_scratch = {"DropScratchFunction", "CleanUpScratchFunction"}
    assert who("dynamodb:DeleteTable") == {"PrepareTargetFunction", "DeleteScratchTableFunction", *repair_scratch}
    for logical_id, guard, statement in grants("dynamodb:DeleteTable"):
        if logical_id in repair_scratch:
            assert (guard, statement.get("Condition")) == (None, MANAGED | SCRATCH_TAGGED), statement
        if logical_id in ("DeleteScratchTableFunction", *repair_scratch):
            continue
        assert statement.get("Condition") == MANAGED or (
            guard == "HasRecreatePattern" and "${RecreateTableNamePattern}" in statement["Resource"]["Fn::Sub"]
        ), statement
    assert TEMPLATE.parameter("RecreateTableNamePattern") == ""  # by default no table the stack did not create
    # The backup taken before a drop: allowed exactly where the drop is.
    drops = [
        (g, s["Resource"], s.get("Condition"))
        for f, g, s in grants("dynamodb:DeleteTable")
        if f == "PrepareTargetFunction"
    ]
    backups = [
        (g, s["Resource"], s.get("Condition"))
        for f, g, s in grants("dynamodb:CreateBackup")
        if f == "PrepareTargetFunction"
    ]
    assert drops == backups


def allows(statement: dict[str, Any], action: str, table: str, tags: dict[str, str], stack: str = "ddbkeeper") -> bool:
    """Whether an Allow statement lets `action` act on `table` carrying `tags` (IAM's evaluation of the parts these
    statements use: the table-name pattern and StringEquals on aws:ResourceTag), with the template's defaults."""
    if statement["Effect"] != "Allow" or action not in _listed(statement["Action"]):
        return False
    names = [TEMPLATE.resolve(r, "test") for r in _listed(statement["Resource"])]
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
    if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in names):
        return False
    for key, wanted in statement.get("Condition", {}).get("StringEquals", {}).items():
        tag = key.removeprefix("aws:ResourceTag/")
        value = stack if wanted == {"Ref": "AWS::StackName"} else wanted
        if tags.get(tag) != value:
            return False
    return True


def test_the_drill_deletes_only_scratch_tables_tagged_as_its_own() -> None:
    """The drill cannot delete an untagged table: not a scratch-named one it did not tag, not a table of another
    name however tagged. It tags only scratch-named tables, and only with its own tags."""
    ((_, guard, delete),) = [(f, g, s) for f, g, s in grants("dynamodb:DeleteTable") if f in DRILL_FUNCTIONS]
    assert guard is None and (delete["Resource"], delete["Condition"]) == (SCRATCH, DRILLS)
    scratch = "ddbkeeper-drill-orders-20261123t050000250z"
    assert allows(delete, "dynamodb:DeleteTable", scratch, {"ddbkeeper:drill": "ddbkeeper"})
    assert not allows(delete, "dynamodb:DeleteTable", scratch, {})
    assert not allows(delete, "dynamodb:DeleteTable", scratch, {"ddbkeeper:managed-by": "ddbkeeper"})
    assert not allows(delete, "dynamodb:DeleteTable", scratch, {"ddbkeeper:drill": "another-stack"})
    assert not allows(delete, "dynamodb:DeleteTable", "orders", {"ddbkeeper:drill": "ddbkeeper"})
    drill_taggers = [(f, s) for f, _, s in grants("dynamodb:TagResource") if f in DRILL_FUNCTIONS]
    assert {f for f, _ in drill_taggers} == {
        "StartScratchRestoreFunction",  # an export chain's scratch table, tagged as it is created
        "CheckScratchRestoreFunction",
        "DeleteScratchTableFunction",
    }
    assert all((s["Resource"], s["Condition"]) == (SCRATCH, DRILL_MARK) for _, s in drill_taggers)
    # Whatever else the drill functions may do to tables stays on scratch tables, or only reads.
    writes = ("dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive", "dynamodb:UpdateContinuousBackups")
    assert not [f for action in writes for f, _, _ in grants(action) if f in DRILL_FUNCTIONS]


def test_every_table_the_stack_creates_is_marked_as_its_own() -> None:
    """A chain's new table (a restore's, a drill's scratch table) is marked at birth; the drill's scratch tables carry
    the drill's own tag too, and only scratch-named tables may be created so."""
    assert who("dynamodb:CreateTable") == {
        "PrepareTargetFunction",
        "StartRestoreFunction",
        "StartScratchRestoreFunction",
    }
    for logical_id, _, statement in grants("dynamodb:CreateTable"):
        if logical_id == "StartScratchRestoreFunction":
            assert (statement["Resource"], statement["Condition"]) == (SCRATCH, DRILL_MARK)
            continue
        assert statement["Condition"] == MARKS_NEW


def test_the_drill_applies_exports_only_to_scratch_tables_tagged_as_its_own() -> None:
    """An export chain drill writes its exports with BatchWriteItem into the scratch table it created and tagged: not
    into a scratch-named table it did not tag, not into a table of another name however tagged."""
    ((_, guard, write),) = [
        (f, g, s) for f, g, s in grants("dynamodb:BatchWriteItem") if f == "CheckScratchRestoreFunction"
    ]
    assert guard is None and (write["Resource"], write["Condition"]) == (SCRATCH, DRILLS)
    scratch = "ddbkeeper-drill-orders-20261123t050000250z"
    assert allows(write, "dynamodb:BatchWriteItem", scratch, {"ddbkeeper:drill": "ddbkeeper"})
    assert not allows(write, "dynamodb:BatchWriteItem", scratch, {})
    assert not allows(write, "dynamodb:BatchWriteItem", scratch, {"ddbkeeper:managed-by": "ddbkeeper"})
    assert not allows(write, "dynamodb:BatchWriteItem", "orders", {"ddbkeeper:drill": "ddbkeeper"})


def test_the_drill_reads_only_the_ledger_and_the_exports_and_writes_only_its_records() -> None:
    """Plan Drill reads the ledger and the manifests, Check Scratch Restore the manifests and data files: GetObject
    under those folders, ListBucket only for those prefixes; no drill function writes the bucket but Drill Report's
    records."""
    ledger = {"Fn::Sub": "${ExportBucket.Arn}/*/ddbkeeper-ledger/*"}
    exports = {"Fn::Sub": "${ExportBucket.Arn}/*/AWSDynamoDB/*"}
    for action in ("s3:GetObject", "s3:ListBucket"):
        assert {f for f, _, _ in grants(action) if f in DRILL_FUNCTIONS} == {
            "PlanDrillFunction",
            "CheckScratchRestoreFunction",
        }
    for logical_id, guard, statement in grants("s3:GetObject"):
        if logical_id in DRILL_FUNCTIONS:
            assert (guard, statement["Resource"]) == (None, [ledger, exports])
    for logical_id, guard, statement in grants("s3:ListBucket"):
        if logical_id in DRILL_FUNCTIONS:
            assert statement["Resource"] == {"Fn::GetAtt": ["ExportBucket", "Arn"]}
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            assert (guard, prefixes) == (None, ["*/ddbkeeper-ledger/*", "*/AWSDynamoDB/*"])
    writers = {f for f, _, _ in grants("s3:PutObject") if f in DRILL_FUNCTIONS}
    assert writers == {"DrillReportFunction"}


def test_copies_write_only_tables_the_stack_created_or_a_parameter_names() -> None:
    writers = {
        "CopySegmentFunction",
        "StartRestoreFunction",
        "ApplyFileFunction",
        "RepairItemsFunction",
        "StartScratchRestoreFunction",
        "CheckScratchRestoreFunction",
        "CopyByExportFunction",  # an export copy's catch-up, into the table its import made
    }
    assert who("dynamodb:BatchWriteItem") == writers
    for logical_id, guard, statement in grants("dynamodb:BatchWriteItem"):
        if logical_id == "StartScratchRestoreFunction":
            assert_scratch_target(statement)
        elif logical_id == "CheckScratchRestoreFunction":  # an export chain drill: its own tagged scratch table
            assert (guard, statement["Resource"], statement["Condition"]) == (None, SCRATCH, DRILLS)
        elif logical_id in ("ApplyFileFunction", "RepairItemsFunction"):
            # The table the restore created (tagged at birth), or an existing one the parameter names.
            assert statement.get("Condition") == MANAGED or guard == "HasApplyPattern", statement
        elif logical_id == "CopySegmentFunction":
            assert statement.get("Condition") == MANAGED or guard == "HasAppendPattern", statement
        elif logical_id == "CopyByExportFunction":  # only a table the stack created (tagged once imported)
            assert (guard, statement.get("Condition")) == (None, MANAGED), statement
        else:
            assert_restore_target(statement)
    assert TEMPLATE.parameter("AppendTableNamePattern") == ""


def test_exports_go_into_an_existing_table_only_when_a_parameter_names_it() -> None:
    """target.existing writes a table the stack did not create: only those ApplyTableNamePattern names (default
    none), and only by BatchWriteItem; the restore never changes such a table's settings."""
    assert TEMPLATE.parameter("ApplyTableNamePattern") == ""
    pattern = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/${ApplyTableNamePattern}"}
    named = {(f, str(s["Action"])) for f, g, s in grants("dynamodb:BatchWriteItem") if g == "HasApplyPattern"}
    assert named == {
        # exports applied or reverted (a revert reads the live items first)
        ("ApplyFileFunction", "['dynamodb:BatchWriteItem', 'dynamodb:BatchGetItem']"),
        ("RepairItemsFunction", "['dynamodb:BatchWriteItem', 'dynamodb:PutItem']"),  # items repaired
    }
    for _, guard, statement in grants("dynamodb:BatchWriteItem"):
        if guard == "HasApplyPattern":
            assert statement["Resource"] == pattern
    for action in ("dynamodb:UpdateTable", "dynamodb:TagResource", "dynamodb:UpdateContinuousBackups"):
        assert all(g != "HasApplyPattern" for _, g, _ in grants(action))


def assert_restore_target(statement: dict[str, Any]) -> None:
    """DynamoDB checks a restore's write permissions on its target, a table that does not exist yet and so carries no
    tag: those are scoped by name alone (RestoreTableNamePattern), and only for Start Restore."""
    assert statement["Sid"] == "RestoresWriteTheNewTableWithTheCallersPermissions"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/${RestoreTableNamePattern}"
    }


def assert_scratch_target(statement: dict[str, Any]) -> None:
    """The same for a drill's restore: its target is a scratch table, by name alone (it carries no tag yet)."""
    assert statement["Sid"] == "RestoresWriteTheScratchTableWithTheCallersPermissions"
    assert statement["Resource"] == SCRATCH


@pytest.mark.parametrize(
    "action", ["dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive", "dynamodb:DeleteItem", "dynamodb:PutItem"]
)
def test_tables_are_changed_only_when_the_stack_made_them(action: str) -> None:
    for logical_id, guard, statement in grants(action):
        if logical_id == "StartRestoreFunction":
            assert_restore_target(statement)
            continue
        if logical_id == "RepairItemsFunction" and guard == "HasApplyPattern":
            continue  # a repair's conditional puts into the live tables the parameter names (default none)
        if logical_id == "StartScratchRestoreFunction":
            assert_scratch_target(statement)
            continue
        assert statement.get("Condition") == MANAGED, (logical_id, statement)


def test_pitr_may_be_switched_only_on_tables_the_stack_made_except_that_an_export_turns_it_on() -> None:
    for logical_id, _, statement in grants("dynamodb:UpdateContinuousBackups"):
        if logical_id == "PrepareExportFunction":
            continue  # enable_pitr: the export workflow only ever turns PITR on (documented in README)
        assert statement.get("Condition") == MANAGED, (logical_id, statement)


def test_a_restored_table_is_marked_before_anything_else_changes_it() -> None:
    taggers = [(f, s.get("Condition")) for f, _, s in grants("dynamodb:TagResource")]
    assert ("FinalizeRestoreFunction", MARKS_NEW) in taggers
    # A repair's clean-up marks an untagged scratch table (its RestoreSummary proves it restored it) as a scratch table.
    marks_scratch = {"StringEquals": MARKS_NEW["StringEquals"], "Null": {"aws:RequestTag/ddbkeeper:scratch": "false"}}
    assert ("CleanUpScratchFunction", marks_scratch) in taggers
    allowed = (MARKS_NEW, MANAGED, marks_scratch)
    assert all(condition in allowed for f, condition in taggers if f not in DRILL_FUNCTIONS), taggers
    assert all(condition == DRILL_MARK for f, condition in taggers if f in DRILL_FUNCTIONS), taggers


def test_only_the_retention_function_may_delete_backups_and_only_backups_it_can_prove_it_made() -> None:
    assert who("dynamodb:DeleteBackup") == {"PruneBackupsFunction"}
    reads = [s["Resource"] for f, _, s in grants("s3:GetObject") if f == "PruneBackupsFunction"]
    assert reads == [{"Fn::Sub": "${ExportBucket.Arn}/ddbkeeper-settings/*"}]
    deny = TEMPLATE.resources["DenyBackupDeletionPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert (deny["Effect"], deny["Action"]) == ("Deny", "dynamodb:DeleteBackup")


RECORD_WRITERS = ("CreateBackupFunction", "PrepareTargetFunction")


def test_nobody_but_the_functions_that_take_backups_writes_settings_records() -> None:
    """A record is retention's proof that ddbkeeper made a backup, so only the functions that take backups write them:
    Create Backup, and Prepare Target for the backup a copy's recreate takes of the target before dropping it (named
    and recorded like the backup workflow's own, so retention keeps it by its rules and may prune it later)."""
    records = {"Fn::Sub": "${ExportBucket.Arn}/ddbkeeper-settings/*"}
    writers = [(f, s["Resource"]) for f, _, s in grants("s3:PutObject") if f in RECORD_WRITERS]
    assert writers == [(function, records) for function in RECORD_WRITERS]
    policy = TEMPLATE.resources["ExportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [
        s
        for s in policy
        if isinstance(s, dict) and s.get("Sid") == "OnlyTheFunctionsThatTakeBackupsWriteSettingsRecords"
    ]
    assert deny["Effect"] == "Deny" and "s3:PutObject" in deny["Action"]
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": [{"Fn::GetAtt": [f"{f}Role", "Arn"]} for f in RECORD_WRITERS]}
    }
    for function in RECORD_WRITERS:  # and both find their records where retention and restores look
        assert TEMPLATE.resources[function]["Properties"]["Environment"]["Variables"]["SETTINGS_BUCKET"] == {
            "Ref": "ExportBucket"
        }
    # Every other function's writes into the bucket stop short of the records (exports, ledger).
    for logical_id, _, statement in grants("s3:PutObject"):
        if logical_id not in RECORD_WRITERS:
            assert "ddbkeeper-settings" not in str(statement["Resource"]), logical_id


def test_other_accounts_reach_only_their_own_prefix_of_the_export_bucket() -> None:
    policy = TEMPLATE.resources["ExportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = [s["Fn::If"][1] for s in policy if isinstance(s, dict) and "Fn::If" in s]
    objects, listing = allowed
    assert objects["Resource"] == {"Fn::Sub": "${ExportBucket.Arn}/${!aws:PrincipalAccount}/*"}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "${aws:PrincipalAccount}/*"}}


def test_an_append_is_verified_by_reading_back_and_never_changes_anything() -> None:
    """Verify Segment reads the target item by item after an append (BatchGetItem); reads are all it may do."""
    (statement,) = [s for f, _, s in grants("dynamodb:BatchGetItem") if f == "VerifySegmentFunction"]
    assert set(statement["Action"]) == {"dynamodb:Scan", "dynamodb:BatchGetItem"}
    roles = read_cfn(ROOT / "roles" / "cross-account-roles.yaml")["Resources"]
    assert [s["Sid"] for _, _, s in grants("dynamodb:BatchGetItem", roles)] == ["Read"]  # reads, on either side
    # A recreate in that account backs the target up before the drop: on the target side only, where it may drop.
    assert [(g, s["Sid"]) for _, g, s in grants("dynamodb:CreateBackup", roles)] == [
        ("not IsSource", "ChangeOnlyTablesTheStackCreated"),
        ("HasRecreatePattern", "AndTheTablesTheRecreateParameterNames"),
    ]


PROTECTION = read_cfn(ROOT / "roles" / "protection-role.yaml")


def test_each_protection_role_has_one_duty_and_one_trusted_set() -> None:
    roles = {name: r for name, r in PROTECTION["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    trusted = {
        name: role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"]["Ref"]
        for name, role in roles.items()
    }
    assert trusted == {
        "BackupRole": "BackupTrustedRoleArns",
        "RetentionRole": "RetentionTrustedRoleArn",
        "ExportRole": "ExportTrustedRoleArns",
        "RestoreRole": "RestoreTrustedRoleArns",
    }
    assert who_in(roles, "dynamodb:DeleteBackup") == {"RetentionRole"}
    assert who_in(roles, "dynamodb:DeleteTable") == set()
    # An export chain restored into another account: the table is created with the stack's tag or not at all.
    assert who_in(roles, "dynamodb:CreateTable") == {"RestoreRole"}
    creates = [s for s in roles["RestoreRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
               if "dynamodb:CreateTable" in str(s["Action"])]  # fmt: skip
    assert [s.get("Condition") for s in creates] == [
        {"StringEquals": {"aws:RequestTag/ddbkeeper:managed-by": {"Ref": "StackName"}}}
    ]
    assert who_in(roles, "dynamodb:CreateBackup") == {"BackupRole"}
    for _, _, statement in grants("dynamodb:UpdateTable", roles):
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceTag/ddbkeeper:managed-by": {"Ref": "StackName"}}
        }
    for role in roles.values():
        condition = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
        assert condition == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def who_in(resources: dict[str, Any], action: str) -> set[str]:
    return {logical_id for logical_id, _, _ in grants(action, resources)}


def test_the_stack_names_each_dutys_roles_for_the_protection_template() -> None:
    outputs = TEMPLATE.body["Outputs"]
    assert outputs["RetentionFunctionRoleArn"]["Value"] == {"Fn::GetAtt": ["PruneBackupsFunctionRole", "Arn"]}
    assert "ProtectionFunctionRoleArns" not in outputs
    backup = outputs["BackupFunctionRoleArns"]["Value"]["Fn::Join"][1]
    assert {ref["Fn::GetAtt"][0] for ref in backup} == {
        "ResolveTablesFunctionRole",
        "CreateBackupFunctionRole",
        "CheckBackupFunctionRole",
    }


def test_retention_parameters_that_keep_nothing_are_refused_at_deploy() -> None:
    (assertion,) = TEMPLATE.body["Rules"]["RetentionKeepsSomething"]["Assertions"]
    zeros = assertion["Assert"]["Fn::Not"][0]["Fn::And"]
    assert {item["Fn::Equals"][0]["Ref"] for item in zeros} == {
        "RetentionKeepLast",
        "RetentionDaily",
        "RetentionWeekly",
        "RetentionMonthly",
        "RetentionYearly",
        "RetentionMaxAgeDays",
    }


def test_the_failure_topic_is_encrypted_and_the_export_bucket_logs_access() -> None:
    assert TEMPLATE.resources["FailureTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    logging = TEMPLATE.resources["ExportBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogBucket"}


def test_the_copy_target_role_in_another_account_changes_only_tables_the_stack_created() -> None:
    roles = read_cfn(ROOT / "roles" / "cross-account-roles.yaml")["Resources"]
    managed = {"StringEquals": {"aws:ResourceTag/ddbkeeper:managed-by": {"Ref": "StackName"}}}
    for action in ("dynamodb:DeleteTable", "dynamodb:BatchWriteItem", "dynamodb:UpdateTimeToLive"):
        for _, guard, statement in grants(action, roles):
            assert statement.get("Condition") == managed or guard in ("HasRecreatePattern", "HasAppendPattern"), action
    creates = [s for _, _, s in grants("dynamodb:CreateTable", roles)]
    assert [s["Condition"] for s in creates] == [
        {"StringEquals": {"aws:RequestTag/ddbkeeper:managed-by": {"Ref": "StackName"}}}
    ]


# SAM policy templates the functions use: what each grants is fixed by SAM, and none of these deletes anything.
READ_ONLY_POLICY_TEMPLATES = {"S3ReadPolicy", "LambdaInvokePolicy"}


@pytest.mark.parametrize(
    "action",
    [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketVersioning",
        "s3:PutBucketPolicy",
        "s3:DeleteBucket",
    ],
)
def test_no_function_may_delete_an_export_or_lift_its_object_lock(action: str) -> None:
    """Under Object Lock (ExportObjectLockMode) an export's versions outlive any mistake or intruder holding the
    functions' roles: none may delete a version, bypass governance retention, or change the lock, the versioning, the
    lifecycle or the bucket policy."""
    assert who(action) == set()
    for logical_id, resource in TEMPLATE.resources.items():
        for declared in resource.get("Properties", {}).get("Policies", []):
            policy = declared["Fn::If"][1] if "Fn::If" in declared else declared
            templates = set(policy) - {"Version", "Statement", "PolicyDocument", "PolicyName"}
            assert templates <= READ_ONLY_POLICY_TEMPLATES, (logical_id, templates)


def test_only_the_copy_touches_the_copies_folder_and_only_it() -> None:
    """The copies folder holds a copy's segment list, checkpoints, tallies and per-segment lines: the copy's functions
    (and its state machine's ItemReader) read and write there and nowhere else in the bucket; they may
    list only there, so a missing object is NoSuchKey rather than AccessDenied; nothing else touches it."""
    folder = {"Fn::Sub": "${ExportBucket.Arn}/ddbkeeper-copies/*"}
    touching: dict[str, set[str]] = {}
    for action in ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"):
        for logical_id, _, statement in grants(action):
            if statement["Resource"] == folder:
                touching.setdefault(logical_id, set()).add(action)
            else:
                assert "ddbkeeper-copies" not in str(statement["Resource"]), logical_id
    assert touching == {
        "PlanCopyFunction": {"s3:PutObject"},  # the segments' list
        "CopySegmentFunction": {"s3:GetObject", "s3:PutObject"},  # its checkpoint, every few seconds
        "VerifySegmentFunction": {"s3:PutObject"},  # its final tally
        "VerifyCopyFunction": {"s3:GetObject", "s3:PutObject"},  # the tallies and checkpoints; its per-segment lines
        "CopyReportFunction": {"s3:GetObject", "s3:PutObject"},
        "CopyStateMachine": {"s3:GetObject"},  # the Maps' ItemReader
        # a copy by export: DynamoDB writes the exports there with the caller's rights, the catch-up reads them
        "CopyByExportFunction": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
    }
    for logical_id in ("CopySegmentFunction", "VerifyCopyFunction", "CopyReportFunction"):
        (listing,) = [s for f, _, s in grants("s3:ListBucket") if f == logical_id]
        assert listing["Condition"] == {"StringLike": {"s3:prefix": "ddbkeeper-copies/*"}}, logical_id
