"""The restore workflow's steps: plan, start, wait until ACTIVE, re-apply the settings a restore drops, verify. One
method per Task of statemachines/restore.asl.json.

RestoreTableFromBackup and RestoreTableToPointInTime bring back keys, indexes, capacity and SSE, but not TTL, PITR,
tags, streams or deletion protection; ImportTable builds the table from the request. `plan` reads what the source had
(the settings recorded with the backup or else the live source table, the backup's own record) and the overrides,
and decides all of it before anything is created; `finalize` applies it one change at a time, as DynamoDB takes one
table update at a time, the first being the stack's ddbkeeper:managed-by tag (the stack may change only tables
carrying it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.apply import ApplyProgress, ApplyTuning, ExportApplier, FileProgress
from ddbkeeper.aws import (
    Account,
    AccountAccess,
    SessionFactory,
    domain_error,
    error_code,
    translate_errors,
)
from ddbkeeper.clock import backoff, iso
from ddbkeeper.errors import DdbkeeperError, InvalidInput, TableNotFound, TargetExists, UnsafeOperation
from ddbkeeper.export_files import read_files
from ddbkeeper.models import Execution, Task, parse_settings
from ddbkeeper.pacing import Tuning
from ddbkeeper.recovery import count_check, restore_state
from ddbkeeper.restore.files import AppliedFiles, file_cap
from ddbkeeper.restore.models import (
    ImportCounts,
    PlannedRestore,
    RepairProgress,
    RepairSelection,
    RestorePlan,
    RestoreProgress,
    RestoreReport,
    RestoreRequest,
    RestoreSettings,
    SettingsProgress,
    Verification,
)
from ddbkeeper.restore.repair import ItemRepairer, RepairTuning
from ddbkeeper.restore.sources import Source, source_of
from ddbkeeper.restore.target import (
    MANAGED_BY,
    MARK,
    actions,
    changes,
    check_import,
    check_selection,
    given,
    managed,
    wanted_settings,
)
from ddbkeeper.scratch import ScratchCleanup, ScratchMark, clean_up
from ddbkeeper.settings import SETTINGS, SettingsRecords, TableSettings, settings_of
from ddbkeeper.stack_objects import stack_folders_s3
from ddbkeeper.tables import TableSide, describe, drop_table, summarize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.literals import StreamViewTypeType, TableClassType
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

_EXISTS = {"TableAlreadyExistsException", "ResourceInUseException"}
_IMPORT_ENDED = ("FAILED", "CANCELLED", "CANCELLING")
# Step Functions bounds an execution's state at 256 KB; a plan this big leaves room for the steps' own results.
STATE_BUDGET_BYTES = 200 * 1024
SCRATCH = "ddbkeeper:scratch"  # a repair's scratch table carries the execution's name: only that table is dropped
COUNT_SEGMENTS = 4  # Verify Restore counts the new table with a parallel Scan of Select=COUNT
TAG_SETTLE_SECONDS = 3  # after the stack's tag: DynamoDB's tags are eventually consistent (a few seconds)


class RestoreService:
    """Restores one new table from the request's source, in the target's account and region."""

    def __init__(
        self,
        task: Task[RestoreRequest],
        table: TableSide,
        source: Source,
        *,
        stack: str = "ddbkeeper",
        exports: S3Client | None = None,
        tuning: ApplyTuning | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        live: TableSide | None = None,
        files: AppliedFiles | None = None,
    ) -> None:
        self.asked = task.request  # what the state machine carries from step to step
        self.request = restored_request(task.request, task.execution)  # a repair's: the scratch table as its target
        self.execution = task.execution
        self.table = table  # the new table: created, described and updated through its account, counted by scans
        self.source = source  # where it comes from: a backup, a point in time, an export
        self.stack = stack  # the stack's name: the new table's ddbkeeper:managed-by tag
        self.exports = exports  # reads the exports applied item by item (the function's own access)
        self.tuning = tuning
        self.live = live  # a repair's live table (the scratch table is `table`)
        self.files = files  # the execution's folder in the stack's bucket: the files the Map applies, their results
        self._clock = clock

    @classmethod
    def for_task(cls, task: Task[RestoreRequest], env: Mapping[str, str]) -> RestoreService:
        """The service for one step: the new table through the target's role, the source table in its own region of
        the same account, the export's folder and the settings records with the function's own access. A region the
        stack's policies do not cover is refused before anything is reached."""
        settings = parse_settings(RestoreSettings, env)
        settings.check_region("source.region", task.request.source.region)
        settings.check_region("target.region", task.request.target.region)
        factory = SessionFactory(session_name=task.execution.session_name())
        request = task.request
        stack = Account(factory, AccountAccess())
        target = Account(factory, request.target.access())
        records = SettingsRecords(stack, settings.SETTINGS_BUCKET) if settings.SETTINGS_BUCKET else None
        restored = restored_request(request, task.execution)
        source = source_of(
            restored, target, source=target.in_region(request.source.region), stack=stack, records=records
        )
        live = TableSide(target, request.target.table) if request.repair else None
        files = None
        if settings.SETTINGS_BUCKET:
            folders = stack_folders_s3(stack, settings.STACK_FOLDERS_ENDPOINT)
            files = AppliedFiles(folders, settings.SETTINGS_BUCKET, task.execution.name)
        return cls(
            task,
            TableSide(target, restored.target.table),
            source,
            stack=settings.STACK_NAME,
            exports=stack.s3,
            live=live,
            files=files,
        )

    @property
    def _name(self) -> str:
        return self.request.target.table

    # --- Plan Restore ----------------------------------------------------------------------------------------------

    def plan(self) -> PlannedRestore:
        """Check the source and the target and decide everything; nothing is created or changed here."""
        existing = self.request.target.existing
        if not existing and describe(self.table.control, self._name) is not None:
            raise TargetExists(
                f"target.table: {self._name} exists; a restore creates a new table (exports applied item by item may "
                "go into an existing one: target.existing with confirm_apply)"
            )
        repair = self.asked.repair
        live = self.asked.target.table
        live_table = describe(self.table.control, live) if repair else None
        if repair and live_table is None:
            raise TableNotFound(f"target.table: {live} does not exist; a repair writes into a table that exists")
        if repair and live_table is not None:  # before a scratch table is restored for hours
            check_selection(repair, live_table)
        origin = self.source.plan()
        settings = managed(wanted_settings(origin.recorded, self.request.target), self.stack)
        if existing:  # a table the restore did not create: no setting, no tag
            settings = TableSettings()
        if repair:  # the scratch table: the stack's tag and the execution's, nothing else (it is dropped at the end)
            settings = managed(TableSettings(tags={SCRATCH: self.execution.name}), self.stack)
        params = origin.params
        if origin.exports and not existing:  # a table the restore creates itself: the stack's tag from the start
            # (and a repair's scratch table the execution's too, so that a failure while applying still drops it)
            birth = {MANAGED_BY: self.stack} | ({SCRATCH: self.execution.name} if repair else {})
            params = params | {"Tags": [{"Key": key, "Value": value} for key, value in birth.items()]}
        plan = RestorePlan(
            kind=self.source.kind,
            source_arn=origin.source_arn,
            point_in_time=origin.point_in_time,
            expected_items=origin.expected_items,
            expected_is_exact=origin.expected_is_exact,
            settings=settings,
            settings_from=origin.settings_from,
            params=params,
            dry_run=self.request.dry_run and not repair,  # a repair's dry run compares through the scratch table
            actions=actions(
                origin.action,
                params,
                settings,
                origin.expected_items,
                self.request.verify,
                applied=bool(origin.exports),
            )
            + (repair_actions(repair, live, self._name, self.asked.dry_run) if repair else []),
            apply=bool(origin.exports),
            exports=origin.exports,
            key_names=[k["AttributeName"] for k in live_table["KeySchema"]] if live_table else origin.key_names,
            existing=existing,
            revert=self.source.kind == "revert",
            repair=repair is not None,
            live=live if repair else None,
            restored_to=origin.restored_to,
            behind_seconds=origin.behind_seconds,
        )
        if repair:  # the scratch table is not verified: it is dropped once the items are repaired
            plan = plan.model_copy(update={"actions": [a for a in plan.actions if not a.startswith("verify:")]})
        logger.info("restore planned", extra={"kind": plan.kind, "source": plan.source_arn})
        planned = PlannedRestore(request=self.asked, execution=self.execution, plan=plan)
        size = len(planned.model_dump_json())
        if size > STATE_BUDGET_BYTES:  # Step Functions fails an execution whose state passes 256 KB, uncaught
            raise InvalidInput(
                f"source: the plan is {size // 1024} KB with its {len(plan.exports)} export manifests; the state of a "
                f"restore must stay under {STATE_BUDGET_BYTES // 1024} KB: restore fewer exports at a time (an earlier "
                "point, or from a newer FULL export)"
            )
        return planned

    # --- Start Restore, Check Restore ------------------------------------------------------------------------------

    def start(self, plan: RestorePlan) -> RestoreProgress:
        """Start the restore; a retried step finds the table it already started restoring instead of failing."""
        if plan.existing:  # nothing to create: the table is there, as Plan Restore found it
            table = describe(self.table.control, self._name)
            if table is None:
                raise TableNotFound(f"target.table: {self._name} disappeared since the plan")
            return RestoreProgress(status="ACTIVE", polls=0, wait_seconds=0, table_arn=table["TableArn"])
        import_arn = None
        try:
            import_arn = self.source.start(dict(plan.params), self.execution)
        except ClientError as error:
            if error_code(error) not in _EXISTS:
                raise domain_error(error, f"Restore ({plan.kind})", self._name) from error
            if not self.source.adopts(describe(self.table.control, self._name), plan, self.execution):
                raise TargetExists(f"target.table: {self._name} was created by someone else meanwhile") from None
            logger.info("restore already started by an earlier attempt", extra={"table": self._name})
        logger.info("restore started", extra={"table": self._name, "kind": plan.kind})
        return RestoreProgress(
            status="CREATING", polls=0, import_arn=import_arn, wait_seconds=backoff(0, first=2, cap=30)
        )

    def check(self, progress: RestoreProgress) -> RestoreProgress:
        """Where the restore stands: CREATING, ACTIVE (table and indexes ready, import done) or FAILED."""
        polls = progress.polls + 1
        result = progress.model_copy(update={"polls": polls, "wait_seconds": backoff(polls, first=2, cap=30)})
        if progress.import_arn:
            with translate_errors("DescribeImport", progress.import_arn):
                imported = self.table.control.describe_import(ImportArn=progress.import_arn)["ImportTableDescription"]
            status = imported["ImportStatus"]
            counts = ImportCounts(
                items=int(imported.get("ImportedItemCount") or 0),
                processed=int(imported.get("ProcessedItemCount") or 0),
                errors=int(imported.get("ErrorCount") or 0),
            )
            result = result.model_copy(update={"imported": counts})
            if status in _IMPORT_ENDED:
                failure = f"{imported.get('FailureCode') or status}: {imported.get('FailureMessage') or 'no reason'}"
                return result.model_copy(update={"status": "FAILED", "failure": failure})
            if status != "COMPLETED":
                return result.model_copy(update={"status": "CREATING"})
        table = describe(self.table.control, self._name)
        if table is None:
            return result.model_copy(update={"status": "CREATING"})
        return result.model_copy(update={"status": restore_state(table), "table_arn": table["TableArn"]})

    # --- List Export Files, Apply File (the Map over an export's data files) ---------------------------------------

    def list_files(self, plan: RestorePlan, progress: ApplyProgress) -> ApplyProgress:
        """One turn of the loop over the plan's exports, strictly in order: once the Map has applied the files of
        `progress.export` (`store` set), their results are added to the totals and the next export comes; its data
        files are listed for the Map (each MD5-checked when applied). `done` once every export is applied."""
        if self.exports is None:
            raise InvalidInput("plan: exports to apply, but no access to read them")
        store = self._applied_files()
        state = progress
        if state.store is not None:  # the Map of `export` is over: every file of it must have its result
            for applied in store.results(state.export, state.listed):
                state = state.plus(applied)
            state = state.model_copy(
                update={"export": state.export + 1, "exports_applied": state.exports_applied + 1, "store": None}
            )
        while state.export < len(plan.exports):
            manifest = plan.exports[state.export]
            data = read_files(self.exports, manifest, self._owner())
            if data:
                cap = file_cap(self.request.max_write_units, len(data))
                files = [
                    FileProgress(export=state.export, file=n, manifest=manifest, data=file, cap=cap)
                    for n, file in enumerate(data)
                ]
                listed = store.list_files(state.export, files)
                logger.info("export files listed", extra={"export": state.export, "files": len(files)})
                return state.model_copy(update={"store": listed, "listed": len(files)})
            state = state.model_copy(update={"export": state.export + 1, "exports_applied": state.exports_applied + 1})
        logger.info("exports applied", extra=state.model_dump(mode="json"))
        return state.model_copy(update={"done": True, "store": None, "listed": 0, "current": None})

    def apply_file(
        self, progress: FileProgress, key_names: list[str], revert: bool, time_left: Callable[[], float]
    ) -> FileProgress:
        """Apply one data file from `progress.line` until done or `time_left()` (seconds) runs short. A file this
        execution already applied (a redriven or re-run item) is not applied again; a file done leaves its result."""
        if self.exports is None:
            raise InvalidInput("file: a data file to apply, but no access to read it")
        store = self._applied_files()
        already = store.result(progress.export, progress.file)
        if already is not None:
            logger.info("data file already applied", extra={"export": progress.export, "file": progress.file})
            return already.model_copy(update={"skipped": True})
        applier = ExportApplier(
            self.table,
            self.exports,
            key_names,
            owner=self._owner(),
            cap=progress.cap,
            revert=revert,
            guard=self.request.source.if_changed != "overwrite",
            tuning=self.tuning,
        )
        try:
            result = applier.apply_file(progress, time_left)
        except DdbkeeperError as error:
            if not error.retryable:  # a damaged file, a refused change: the step after the Map names it
                store.failed(progress.export, progress.file, error)
            raise
        if result.done:
            store.save(result)
        return result

    def _owner(self) -> str | None:
        if self.request.source.export_chain is not None:
            return self.request.source.export_chain.bucket_owner
        return self.request.source.bucket_owner

    def _applied_files(self) -> AppliedFiles:
        if self.files is None:
            raise InvalidInput(
                "plan: exports are applied file by file through the stack's bucket; no SETTINGS_BUCKET is configured"
            )
        return self.files

    # --- Repair Items, Drop Scratch Table -------------------------------------------------------------------------

    def repair(self, plan: RestorePlan, progress: RepairProgress, time_left: Callable[[], float]) -> RepairProgress:
        """Repair the chosen items of the live table from the scratch table, from `progress` until done or
        `time_left()` (seconds) runs short; a dry run compares and writes nothing."""
        selection = self.asked.repair
        if selection is None or self.live is None or not plan.repair:
            raise InvalidInput("repair: this restore repairs nothing")
        repairer = ItemRepairer(
            self.table,
            self.live,
            plan.key_names,
            selection,
            dry_run=self.asked.dry_run,
            cap=self.request.max_write_units,
            tuning=RepairTuning(**{f.name: getattr(self.tuning, f.name) for f in fields(Tuning)})
            if self.tuning
            else None,
        )
        result = repairer.run(progress, time_left)
        logger.info("items repaired", extra=result.model_dump(mode="json"))
        return result

    def drop_scratch(self, plan: RestorePlan, repaired: RepairProgress | None) -> RestoreReport:
        """Drop the scratch table after the repair: only the table this execution made (its name from the plan, the
        stack's tag and this execution's, which Re-apply Settings put on). Reports the repair."""
        table = describe(self.table.control, self._name)
        if table is not None:
            if not self._scratch(plan).carried_by(self.table.control, table):
                raise UnsafeOperation(f"{self._name}: not the scratch table this execution made; not dropping it")
            if table["TableStatus"] != "DELETING":
                drop_table(self.table.control, table)
        now = self._clock()
        return RestoreReport(
            status="SUCCEEDED",
            kind=plan.kind,
            source=plan.source_arn,
            point_in_time=plan.point_in_time,
            table=plan.live or self._name,
            table_arn=None,
            items=None,
            verification=Verification(verify="none"),
            settings={},
            settings_from="none: a repair changes only items",
            repaired=repaired,
            scratch=self._name,
            started_at=str(iso(self.execution.started_at)),
            finished_at=str(iso(now)),
            duration_seconds=round((now - self.execution.started_at).total_seconds(), 1),
        )

    def clean_up_scratch(self, plan: RestorePlan, progress: ScratchCleanup | None) -> ScratchCleanup:
        """After a failure (compensation): one turn of dropping the scratch table, whatever state the failure left it
        in: a restore still running is waited for, an untagged one marked first when its RestoreSummary proves this
        execution made it (ddbkeeper.scratch)."""
        return clean_up(self.table.control, self._name, self._scratch(plan), progress)

    def _scratch(self, plan: RestorePlan) -> ScratchMark:
        """A repair's scratch table carries the stack's tag and this execution's name (IAM drops no table without the
        scratch tag); left untagged, it is this execution's when the source's own rule adopts it (a restore's
        RestoreSummary names the plan's backup or table, and it was made since the execution started)."""
        tags = {MANAGED_BY: self.stack, SCRATCH: self.execution.name}
        return ScratchMark(tags, lambda table: self.source.adopts(table, plan, self.execution))

    # --- Re-apply Settings -----------------------------------------------------------------------------------------

    def finalize(self, plan: RestorePlan, progress: SettingsProgress) -> SettingsProgress:
        """Make the next change the table still needs; `pending` says how many remain (0: done).

        The first is always the stack's tag (IAM lets the stack change only tables carrying it); the next turn waits a
        few seconds after it, as DynamoDB's tags are eventually consistent, and tags again until the tag shows.
        """
        if plan.existing:  # never a change to a table the restore did not create (the state machine skips this step)
            return SettingsProgress(pending=0, polls=progress.polls + 1, summary=f"{self._name} keeps its own settings")
        table = describe(self.table.control, self._name)
        if table is None:
            raise TableNotFound(f"target.table: {self._name} disappeared during the restore")
        wanted = managed(plan.settings, self.stack)
        lacking = changes(wanted, settings_of(self.table.control, table), self.stack)
        ready = table["TableStatus"] == "ACTIVE"
        wait = 0 if ready else backoff(progress.polls, first=5, cap=60)  # ACTIVE: the next change at once
        if lacking and ready:
            self._apply(table, lacking[0], wanted)
            if lacking[0] == MARK:
                wait = TAG_SETTLE_SECONDS
            lacking = lacking[1:]
        result = SettingsProgress(
            pending=len(lacking),
            polls=progress.polls + 1,
            wait_seconds=wait,
            applied=[setting for setting in (MARK, *SETTINGS) if setting not in lacking],
            summary=f"{self._name} still lacks {', '.join(lacking)}" if lacking else f"{self._name} has every setting",
        )
        logger.info("settings re-applied", extra=result.model_dump())
        return result

    def _apply(self, table: TableDescriptionTypeDef, setting: str, wanted: TableSettings) -> None:
        name = table["TableName"]
        client = self.table.control
        logger.info("re-applying a setting the restore dropped", extra={"table": name, "setting": setting})
        with translate_errors(f"Apply {setting}", name):
            if setting == MARK:
                client.tag_resource(ResourceArn=table["TableArn"], Tags=[{"Key": MANAGED_BY, "Value": self.stack}])
            elif setting == "table_class":
                client.update_table(TableName=name, TableClass=cast("TableClassType", wanted.table_class))
            elif setting == "stream":
                view = cast("StreamViewTypeType", wanted.stream)
                client.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
            elif setting == "ttl_attribute":
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": str(wanted.ttl_attribute)},
                )
            elif setting == "pitr":
                client.update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )
            elif setting == "tags":
                client.tag_resource(
                    ResourceArn=table["TableArn"],
                    Tags=[{"Key": key, "Value": value} for key, value in sorted(wanted.tags.items())],
                )
            else:
                client.update_table(TableName=name, DeletionProtectionEnabled=True)

    # --- Verify Restore --------------------------------------------------------------------------------------------

    def verify(
        self, plan: RestorePlan, progress: RestoreProgress, applied: ApplyProgress | None = None
    ) -> RestoreReport:
        """Count the new table and hold it against the count the source recorded (exports applied: the FULL export's
        items plus the inserts, minus the deletes, counted while applying); report what was restored."""
        table = describe(self.table.control, self._name) or {}
        verification = Verification(verify=self.request.verify)
        expected, exact = plan.expected_items, plan.expected_is_exact
        if plan.apply:
            if applied is None or not applied.done:
                raise InvalidInput("apply: the exports are not all applied yet")
            expected = None if plan.existing else applied.expected(plan.expected_items or 0)
            exact = expected is not None
        if self.request.verify == "count" and plan.existing:
            # A live table had items of its own: nothing to compare a count with, and a count of a table of any size
            # (a Scan of all of it, its read capacity) could fail a finished apply. What was applied is the report.
            verification = Verification(verify="none", result="not counted: an existing table has items of its own")
        elif self.request.verify == "count":
            items = summarize(self.table, segments=COUNT_SEGMENTS, checksum=False).items
            check_import(self._name, items, progress.imported)
            result = count_check(self._name, items, expected, exact)
            verification = Verification(verify="count", items=items, expected=expected, result=result)
        now = self._clock()
        report = RestoreReport(
            status="SUCCEEDED",
            kind=plan.kind,
            source=plan.source_arn,
            point_in_time=plan.point_in_time,
            table=self._name,
            table_arn=table.get("TableArn"),
            items=verification.items if verification.items is not None else table.get("ItemCount"),
            verification=verification,
            settings=given(plan.settings),
            settings_from=plan.settings_from,
            restored_to=plan.restored_to,
            behind_seconds=plan.behind_seconds,
            applied=applied if plan.apply else None,
            started_at=str(iso(self.execution.started_at)),
            finished_at=str(iso(now)),
            duration_seconds=round((now - self.execution.started_at).total_seconds(), 1),
        )
        logger.info("restore verified", extra={"items": report.items, "verification": verification.model_dump()})
        return report


def scratch_name(live: str, execution: Execution) -> str:
    """A repair's scratch table: the live table's name, "repair" and the execution's start, within DynamoDB's 255."""
    return f"{live[:200]}-repair-{execution.stamp().lower()}"


def restored_request(request: RestoreRequest, execution: Execution) -> RestoreRequest:
    """The request the restore steps act on: a repair's restores a new scratch table; any other, as it is."""
    if request.repair is None:
        return request
    target = request.target.model_copy(
        update={"table": scratch_name(request.target.table, execution), "existing": False}
    )
    return request.model_copy(update={"target": target})


def repair_actions(selection: RepairSelection, live: str, scratch: str, dry_run: bool) -> list[str]:
    """A repair's plan in words, after the scratch table's restore."""
    if selection.keys is not None:
        chosen = f"the {len(selection.keys):,} keys given"
    elif selection.partition is not None:
        ((name, value),) = selection.partition.items()
        chosen = f"the items of partition {name} = {next(iter(value.values()))}"
    else:
        assert selection.filter is not None
        chosen = f"the items matching {selection.filter.expression}"
    how = "overwrite what differs" if selection.conflict == "overwrite" else "write only the items it lacks"
    lines = [f"then repair {chosen} in {live} from {scratch}: {how} (a condition on the key)"]
    if selection.conflict == "overwrite":
        lines[0] = f"then repair {chosen} in {live} from {scratch}: {how}"
    if dry_run:
        lines.append(f"dry run: compare and report what would change; write nothing to {live}")
    lines.append(f"then drop {scratch} (also after a failure)")
    return lines
