"""The copy workflow's steps: plan (and refuse what is unsafe), prepare the target, copy each segment from its
checkpoint, apply the settings that follow the data, verify, report. One method per Task of statemachines/copy.asl.json.

A dry run stops after the plan: every check is made and nothing is changed.

What keeps a copy from harming what it does not own:
- append and recreate each need the target named twice (`confirm_append`, `confirm_recreate`); an append never goes
  into a table with deletion protection unless the request says so, and a recreate never drops one;
- a recreate backs the target up (on-demand, named and recorded as the backup workflow's own) and waits for the backup
  to be AVAILABLE before it drops the table;
- a table the copy creates is marked as the stack's and this execution's, and an existing target is used only when
  that mark names this execution: two copies planned at once into one new table cannot both write into it;
- an append changes the target's items only: its TTL and PITR stay as its owner set them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.apply import ApplyTuning
from ddbkeeper.aws import Account, AccountAccess, SessionFactory, error_code, translate_errors
from ddbkeeper.backup_names import backup_name
from ddbkeeper.copy.adoption import check_adoptable, owner, owns
from ddbkeeper.copy.board import Board, S3Board, Shares
from ddbkeeper.copy.byexport import ExportCopier, SourceExports
from ddbkeeper.copy.checkpoints import CheckpointSaver, CheckpointStore
from ddbkeeper.copy.engine import CopyTuning, SegmentCopier
from ddbkeeper.copy.estimate import CopyEstimate, ExportCopyEstimate, cheaper, estimate, estimate_export, shape_of
from ddbkeeper.copy.models import (
    Caps,
    CopyPlan,
    CopyReport,
    CopyRequest,
    CopySettings,
    ExportBucket,
    ExportCopyState,
    FinalSettings,
    PlannedCopy,
    PreDropBackup,
    PrepareState,
    SegmentCheckpoint,
    SegmentPace,
    SegmentStore,
    SegmentTally,
    Strategy,
    TableSpec,
    Verification,
)
from ddbkeeper.copy.report import copy_report
from ddbkeeper.copy.segments import segment_count, share_caps
from ddbkeeper.copy.target import MANAGED_BY, marked, planned_actions, refuse_unsafe, target_spec
from ddbkeeper.copy.verify import SegmentVerifier, Verdict, verdict
from ddbkeeper.errors import (
    AccessDenied,
    AwsError,
    DdbkeeperError,
    InvalidInput,
    PitrNotReady,
    TableNotFound,
    TargetExists,
    TransientAwsError,
    UnsafeOperation,
    VerificationFailed,
)
from ddbkeeper.models import Task, parse_settings
from ddbkeeper.settings import SettingsRecords, settings_of, tags_of
from ddbkeeper.stack_objects import stack_folders_s3
from ddbkeeper.tables import (
    TableSide,
    describe,
    drop_table,
    index_names,
    is_ready,
    pitr_description,
    pitr_on,
    ttl_attribute,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

logger = Logger(child=True)

MAX_VERIFY_THREADS = 8  # verify() in one process: a few segments at a time
MAX_LINES_IN_STATE = 100  # per-segment lines a verification carries in the state when the segments are in S3
AVAILABLE = "AVAILABLE"
BACKING_UP = "BACKING_UP"  # Prepare Target's phase while a recreate's pre-drop backup is being made
DELETING = "DELETING"


class CopyService:
    """Copies one table to another, possibly in another account or region, each side through its own role."""

    def __init__(
        self,
        task: Task[CopyRequest],
        source: TableSide,
        target: TableSide,
        *,
        settings: CopySettings | None = None,
        records: SettingsRecords | None = None,
        checkpoints: CheckpointStore | None = None,
        tuning: CopyTuning | None = None,
        board: Board | None = None,
    ) -> None:
        self.request = task.request
        self.execution = task.execution
        self.settings = settings or CopySettings()
        self.settings.check_region("source.region", self.request.source.region)
        self.settings.check_region("target.region", self.request.target.region)
        self.source = source
        self.target = target
        # Seconds a Copy Segment invocation copies before it returns its checkpoint.
        self.time_budget = self.settings.COPY_TIME_BUDGET_SECONDS
        self.records = records  # the pre-drop backup's record, in the stack's bucket: proof for retention
        self.checkpoints = checkpoints  # the segments' checkpoints persisted while they run, in the stack's bucket
        self.tuning = tuning or CopyTuning()
        self.board = board  # the finished segments of this copy, so the others take their share of the caps

    @classmethod
    def for_task(cls, task: Task[CopyRequest], env: Mapping[str, str]) -> CopyService:
        """The service for one step: each side through its own role, with STS sessions named after the execution;
        the records with the function's own credentials."""
        settings = parse_settings(CopySettings, env)
        factory = SessionFactory(session_name=task.execution.session_name())
        source, target = task.request.source, task.request.target
        records = checkpoints = board = None
        own = Account(factory, AccountAccess())
        folder = stack_folders_s3(own, settings.STACK_FOLDERS_ENDPOINT)
        if settings.SETTINGS_BUCKET:
            records = SettingsRecords(own, settings.SETTINGS_BUCKET)
            checkpoints = CheckpointStore(folder, settings.SETTINGS_BUCKET, task.execution.name)
        if settings.COPY_BOARD_BUCKET:
            board = S3Board(folder(), settings.COPY_BOARD_BUCKET, task.execution.name)
        return cls(
            task,
            TableSide(Account(factory, source.access()), source.table),
            TableSide(Account(factory, target.access()), target.table),
            settings=settings,
            records=records,
            checkpoints=checkpoints,
            board=board,
        )

    # --- Plan Copy -------------------------------------------------------------------------------------------------

    def plan(self) -> PlannedCopy:
        """Check everything the copy needs and refuse what it must not do, before anything is changed."""
        request = self.request
        source = describe(self.source.control, self.source.name)
        if source is None:
            raise TableNotFound(f"source.table: {self.source.name} does not exist")
        target = describe(self.target.control, self.target.name)
        refuse_unsafe(request, source, target)
        if target is not None and request.resumes is not None:
            check_adoptable(
                tags_of(self.target.control, target["TableArn"]), request, self.settings.STACK_NAME, self.target.name
            )
        request.target_overrides.check_indexes(index_names(source))
        keys = [key["AttributeName"] for key in sorted(source["KeySchema"], key=lambda key: key["KeyType"])]
        self._check_resume_keys(keys)
        backup = None
        if request.mode == "recreate":
            name = self._backup_name()  # a name too long for DynamoDB fails here, before anything is changed
            backup = name if target is not None else None
        tags = tags_of(self.source.control, source["TableArn"])
        spec = target_spec(source, tags, request.target_overrides, self.target.name)
        size, count = source.get("TableSizeBytes", 0), source.get("ItemCount", 0)
        segments = self._starts(segment_count(request, size, count))
        total = segments[0].total_segments
        scan_estimate = estimate(shape_of(request, source, spec, total, self.time_budget))
        export_estimate = None
        strategy: Strategy = "scan"
        reason = None
        if request.strategy != "scan":
            export_estimate = estimate_export(shape_of(request, source, spec, total, self.time_budget))
            strategy, reason = self._strategy(spec, scan_estimate, export_estimate)
        listed, store = self._list_segments(segments, total) if strategy == "scan" else (False, None)
        actions = planned_actions(request, source, target, spec, total, backup=backup)
        if strategy == "export":
            actions = [*actions[:-2], *self._export_actions(source, spec), actions[-1]]
        if reason:
            actions.append(f"strategy {strategy}: {reason}")
        plan = CopyPlan(
            dry_run=request.dry_run,
            actions=actions,
            source_arn=source["TableArn"],
            source_items_estimate=count,
            source_bytes_estimate=size,
            segments=[] if listed else segments,
            total_segments=total,
            verify_segments=[] if listed else list(range(total)),
            caps=share_caps(request, total),
            target_spec=spec,
            finalize=self._settings_after_data(),
            key_attributes=keys,
            pre_drop_backup=backup,
            estimate=scan_estimate,
            segments_in_s3=listed,
            store=store,
            strategy=strategy,
            strategy_reason=reason,
            export_estimate=export_estimate,
            export_bucket=self._export_bucket(source["TableArn"]) if strategy == "export" else None,
        )
        logger.info("copy planned", extra={"segments": total, "source": plan.source_arn})
        return PlannedCopy(request=request, execution=self.execution, plan=plan, prepare=PrepareState())

    def _strategy(self, spec: TableSpec, scan: CopyEstimate, export: ExportCopyEstimate) -> tuple[Strategy, str]:
        """Export or scan, and why: `export` is refused (naming what stands in its way) where `auto` takes scan."""
        request = self.request
        lsis = [index["IndexName"] for index in spec.get("LocalSecondaryIndexes", [])]
        blockers: list[tuple[str, str, type[DdbkeeperError]]] = []
        if lsis:
            blockers.append(
                (
                    "target_overrides.drop_indexes",
                    f"ImportTable cannot create local secondary indexes ({', '.join(lsis)}); drop them in the target "
                    "(target_overrides.drop_indexes) or copy by scan",
                    InvalidInput,
                )
            )
        pitr = self._pitr_status()
        if pitr != "ENABLED":
            what = "is still turning on" if pitr == "ENABLING" else "is off"
            blockers.append(
                (
                    "source.table",
                    f"{self.source.name}'s point-in-time recovery {what}; an export copy exports from it (turn it on, "
                    "e.g. the export workflow's enable_pitr, or copy by scan)",
                    PitrNotReady if pitr == "ENABLING" else InvalidInput,
                )
            )
        if request.strategy == "export":
            if blockers:
                field, why, error = blockers[0]
                raise error(f"{field}: {why}")
            return "export", "asked for"
        refused = request.scan_only()
        if refused:
            return "scan", f"only a Scan copy honours {', '.join(refused)}"
        if blockers:
            return "scan", f"an export copy is not possible: {blockers[0][1]}"
        return cheaper(scan, export)

    def _pitr_status(self) -> str:
        try:
            return pitr_description(self.source.control, self.source.name).get("PointInTimeRecoveryStatus", "DISABLED")
        except AwsError:  # a DynamoDB-compatible server without the API: no PITR, so no exports
            return "DISABLED"

    def _export_bucket(self, source_arn: str) -> ExportBucket:
        """The request's bucket with its owner: the target's account when it differs from the source's (the export
        is written from the source's account into a bucket it does not own: S3BucketOwner)."""
        wanted = self.request.export
        assert wanted is not None  # the request's validator saw to it
        if wanted.bucket_owner:
            return wanted
        source_account = source_arn.split(":")[4]
        if self.request.target.role_arn:
            target_account = self.request.target.role_arn.split(":")[4]
        elif self.request.source.role_arn is None:
            target_account = source_account  # both sides with the ambient credentials: one account
        else:
            raise InvalidInput(
                "export.bucket_owner: the target uses the ambient credentials and the source a role, so the account "
                "that owns the bucket cannot be told; name it"
            )
        owner = target_account if target_account != source_account else None
        return wanted.model_copy(update={"bucket_owner": owner})

    def _export_actions(self, source: TableDescriptionTypeDef, spec: TableSpec) -> list[str]:
        wanted = self.request.export
        assert wanted is not None
        where = f"s3://{wanted.bucket}/{wanted.prefix}/{self.execution.name}/"
        return [
            f"export {source['TableArn']} (FULL, DYNAMODB_JSON, about {source.get('TableSizeBytes', 0) / 1024**2:,.1f} "
            f"MiB) as of when the copy started to {where}",
            f"import its data files into a new table {self.target.name} ({len(spec.get('GlobalSecondaryIndexes', []))} "
            "GSI; no read or write capacity used on either table)",
            "then apply incremental exports of the source until the target is within 15 minutes of it; the target "
            "then holds a consistent snapshot of the source as of the last export's end",
            "ImportTable sets no LSI, table class, stream or deletion protection: the target has DynamoDB's defaults "
            "for them; its tags are set after the import, TTL and PITR after the data",
        ]

    def _list_segments(self, starts: list[SegmentCheckpoint], total: int) -> tuple[bool, SegmentStore | None]:
        """More segments than the state payload holds: their list goes to the execution's folder in the stack's
        bucket, where the Maps' ItemReader reads it (a dry run writes nothing)."""
        if total <= self.settings.COPY_INLINE_SEGMENTS:
            return False, None
        if self.checkpoints is None:
            raise InvalidInput(
                f"segments: {total} segments are more than the state payload holds "
                f"({self.settings.COPY_INLINE_SEGMENTS}); they go through the stack's bucket, and no SETTINGS_BUCKET "
                "is configured"
            )
        if self.request.dry_run:
            return True, None
        store = self.checkpoints.list_segments(starts, total)
        logger.info("segments listed in S3", extra={"segments": total, "key": store.segments_key})
        return True, store

    def _starts(self, total: int) -> list[SegmentCheckpoint]:
        """Where each segment starts: at the beginning, or where the run being resumed left it (the request model has
        checked that its checkpoints belong together)."""
        if self.request.resume:
            return list(self.request.resume)
        return [SegmentCheckpoint(segment=segment, total_segments=total) for segment in range(total)]

    def _check_resume_keys(self, keys: list[str]) -> None:
        """A checkpoint's key is a key of the source: anything else would be refused mid-copy by Scan, or worse."""
        for n, checkpoint in enumerate(self.request.resume or []):
            start = checkpoint.exclusive_start_key
            if start is not None and set(start) != set(keys):
                raise InvalidInput(
                    f"resume.{n}.exclusive_start_key: expected the key of {self.source.name} ({', '.join(keys)}), "
                    f"got {', '.join(sorted(start)) or 'nothing'}"
                )

    def _backup_name(self) -> str:
        """The pre-drop backup's name: the backup workflow's form, so retention recognises it as the stack's own."""
        return backup_name(self.settings.BACKUP_NAME_PREFIX, self.target.name, self.execution.stamp(), "target.table")

    def _settings_after_data(self) -> FinalSettings:
        """The source's TTL and PITR, which Finalize Target applies once the data is in."""
        client, table = self.source.control, self.source.name
        ttl = ttl_attribute(client, table)
        try:
            pitr = pitr_on(pitr_description(client, table))
        except AwsError:  # some DynamoDB-compatible servers lack the API (UnknownOperationException): nothing to copy
            logger.warning("DescribeContinuousBackups unavailable; PITR not copied", extra={"table": table})
            pitr = False
        return FinalSettings(ttl_attribute=ttl, pitr=pitr)

    # --- Prepare Target --------------------------------------------------------------------------------------------

    def prepare_target(self, spec: TableSpec, state: PrepareState, strategy: Strategy = "scan") -> PrepareState:
        """One step towards an ACTIVE target; the state machine calls it again (after a wait) until phase is READY.

        `state` is the previous step's result: once the target was dropped for a recreate it is never dropped again,
        and a table this execution created is used without asking again. A recreate first backs the target up and
        waits (phase BACKING_UP) until the backup is AVAILABLE. The table is created with the stack's marks; a
        copy by export only clears the way (ImportTable creates the table).
        """
        client, name = self.target.control, self.target.name
        step = state.model_copy(update={"polls": state.polls + 1, "phase": "START"})  # the phase is this turn's
        current = describe(client, name)
        if self.request.mode == "recreate" and not step.deleted:
            step, current = self._clear_the_way(step, current)
            if step.phase == BACKING_UP:
                return step
        if current is not None and current.get("TableStatus") == DELETING:
            return step.model_copy(update={"phase": DELETING})  # dropped (by us or someone): create once it is gone
        if self.request.mode == "append":
            if current is None:
                raise TableNotFound(f"target.table: {name} disappeared")
        elif current is None and strategy == "export":
            return step.model_copy(update={"phase": "READY"})  # the way is clear: ImportTable creates the table
        elif current is None:
            current = self._create(spec)
            step = step.model_copy(update={"created": True})
        elif not step.created:
            self._refuse_unless_made_here(current)
            step = step.model_copy(update={"created": True})
        if current is None:  # created, not yet described
            phase = "CREATING"
        else:
            phase = "READY" if is_ready(current) else current.get("TableStatus", "CREATING")
        return step.model_copy(update={"phase": phase})

    def _clear_the_way(
        self, step: PrepareState, current: TableDescriptionTypeDef | None
    ) -> tuple[PrepareState, TableDescriptionTypeDef | None]:
        """A recreate's turn before the drop: back the target up, wait for the backup, then drop the table."""
        client = self.target.control
        if current is not None and current.get("TableStatus") != DELETING and self._made_here(current):
            # An earlier attempt of this step dropped the old table and created this one; only its reply was lost.
            return step.model_copy(update={"deleted": True, "created": True}), current
        if current is not None and current.get("DeletionProtectionEnabled"):
            raise UnsafeOperation(f"target.table: {self.target.name} has deletion protection; not dropping it")
        backup = self._pre_drop_backup(current, step.backup)
        step = step.model_copy(update={"backup": backup})
        if backup is not None and backup.status != AVAILABLE:
            return step.model_copy(update={"phase": BACKING_UP}), current
        if current is not None and current.get("TableStatus") != DELETING:
            try:
                drop_table(client, current)
            except AccessDenied as error:
                raise AccessDenied(f"{error}; {self._ownership_hint()}") from error
        return step.model_copy(update={"deleted": True}), describe(client, self.target.name)

    def _pre_drop_backup(
        self, current: TableDescriptionTypeDef | None, known: PreDropBackup | None
    ) -> PreDropBackup | None:
        """The target's backup before the drop: started once (a retried step finds it by name), recorded, polled.

        None when there is nothing to back up: the table was gone before this copy first reached it.
        """
        if known is not None:
            if known.status == AVAILABLE:
                return known
            return known.model_copy(update={"status": self._backup_status(known)})
        name = self._backup_name()
        found = self._find_backup(name)
        if found is None:
            if current is None or current.get("TableStatus") == DELETING:
                return None
            found = self._start_backup(name)
        else:
            logger.info("pre-drop backup already started by an earlier attempt", extra={"backup_arn": found[0]})
        arn, status = found
        return self._record(PreDropBackup(name=name, arn=arn, status=status), current)

    def _start_backup(self, name: str) -> tuple[str, str]:
        table = self.target.name
        try:
            with translate_errors("CreateBackup", table):
                details = self.target.control.create_backup(TableName=table, BackupName=name)["BackupDetails"]
        except AccessDenied as error:
            raise AccessDenied(f"{error}; {self._ownership_hint()}") from error
        logger.info("pre-drop backup started", extra={"table": table, "backup_arn": details["BackupArn"]})
        return details["BackupArn"], details["BackupStatus"]

    def _find_backup(self, name: str) -> tuple[str, str] | None:
        """The backup of the target with this name (an earlier attempt's), filtered on the client: some servers
        ignore ListBackups' filters."""
        table = self.target.name
        with translate_errors("ListBackups", table):
            pages = self.target.control.get_paginator("list_backups").paginate(TableName=table, BackupType="USER")
            summaries = [summary for page in pages for summary in page.get("BackupSummaries", [])]
        for summary in summaries:
            if (
                summary.get("TableName") == table
                and summary.get("BackupName") == name
                and summary.get("BackupStatus") != "DELETED"
            ):
                return summary["BackupArn"], summary.get("BackupStatus", "CREATING")
        return None

    def _backup_status(self, backup: PreDropBackup) -> str:
        with translate_errors("DescribeBackup", backup.arn):
            described = self.target.control.describe_backup(BackupArn=backup.arn)["BackupDescription"]
        status = described["BackupDetails"]["BackupStatus"]
        if status == "DELETED":
            raise UnsafeOperation(
                f"target.table: the backup taken before the drop ({backup.name}) was deleted before it was "
                f"{AVAILABLE}; not dropping {self.target.name}"
            )
        return status

    def _record(self, backup: PreDropBackup, current: TableDescriptionTypeDef | None) -> PreDropBackup:
        """Record the backup as the backup workflow records its own: the table's settings (a restore re-applies them)
        and the proof retention needs. The backup is what matters: a record that cannot be written is reported."""
        if self.records is None:
            return backup.model_copy(update={"record_error": "no SETTINGS_BUCKET configured"})
        if current is None:
            return backup.model_copy(update={"record_error": f"{self.target.name} was gone before it was recorded"})
        try:
            where = self.records.save(backup.arn, current, settings_of(self.target.control, current))
        except DdbkeeperError as error:
            logger.warning("pre-drop backup not recorded", extra={"backup_arn": backup.arn, "error": str(error)})
            return backup.model_copy(update={"record_error": str(error)})
        return backup.model_copy(update={"record": where})

    def _create(self, spec: TableSpec) -> TableDescriptionTypeDef | None:
        """Create the target with the stack's marks; a table created meanwhile is used only if this execution made it
        (a retried step whose reply was lost), else TargetExists."""
        client, name = self.target.control, self.target.name
        with translate_errors("CreateTable", name):
            try:
                client.create_table(**marked(spec, self.settings.STACK_NAME, owner(self.request, self.execution)))
                logger.info("target created", extra={"table": name})
                return describe(client, name)
            except ClientError as error:
                if error_code(error) != "ResourceInUseException":
                    raise
        current = describe(client, name)
        if current is None or current.get("TableStatus") == DELETING:
            raise TransientAwsError(f"CreateTable {name}: ResourceInUseException while the table is being dropped")
        self._refuse_unless_made_here(current)
        return current

    def _made_here(self, table: TableDescriptionTypeDef) -> bool:
        """Whether this execution created the table (its ddbkeeper:execution tag says so)."""
        try:
            tags = tags_of(self.target.control, table["TableArn"])
        except TableNotFound as error:
            if table.get("TableStatus") != "CREATING":
                raise
            # A table still being created may not answer for its tags yet: ask again once it may.
            raise TransientAwsError(f"{error} (the table is still CREATING)") from error
        return owns(tags, self.request, self.execution, self.settings.STACK_NAME)

    def _refuse_unless_made_here(self, table: TableDescriptionTypeDef) -> None:
        if not self._made_here(table):
            raise TargetExists(
                f"target.table: {self.target.name} was created after this copy was planned, and not by this "
                f"execution ({self.execution.name}): another copy or a person made it; not writing into it"
            )

    def _ownership_hint(self) -> str:
        return (
            f"the stack drops (and backs up first) only tables it created (tag {MANAGED_BY}="
            f"{self.settings.STACK_NAME}) or those its RecreateTableNamePattern parameter names"
        )

    # --- Copy Segment ----------------------------------------------------------------------------------------------

    def copy_segment(
        self,
        checkpoint: SegmentCheckpoint,
        caps: Caps,
        remaining_millis: Callable[[], int],
        *,
        listed: bool = False,
    ) -> SegmentCheckpoint:
        """Copy the segment from its checkpoint until the time budget, or the Lambda's own time, runs short.

        `remaining_millis` is the Lambda context's clock: the invocation returns its checkpoint well before it. With a
        checkpoint store, the copy starts from the checkpoint an earlier attempt of this segment persisted when it is
        further than the state's (the attempt crashed), and persists its own every COPY_CHECKPOINT_SECONDS and at the
        end: a crash re-copies seconds of work, not an invocation's.
        """
        clock = self.tuning.clock
        started = clock()

        def time_left() -> float:
            return min(remaining_millis() / 1000, self.time_budget - (clock() - started))

        saver = None
        if listed and self.checkpoints is None:
            raise InvalidInput(
                "listed: the segments go through the stack's bucket, and no SETTINGS_BUCKET is configured"
            )
        if self.checkpoints is not None:
            checkpoint = self.checkpoints.further(checkpoint)
            saver = CheckpointSaver(self.checkpoints, self.settings.COPY_CHECKPOINT_SECONDS, clock)
        shares = Shares(self.board, checkpoint.total_segments, clock)
        copier = SegmentCopier(self.source, self.target, caps.read, caps.write, self.tuning, shares=shares)
        after = copier.run(checkpoint, time_left, on_page=saver)
        if saver is not None:
            saver.flush(after, strict=listed)  # listed: the final checkpoint is the segment's result
        if after.done and self.board is not None:
            pace = after.pace or SegmentPace()
            self.board.finished(after.segment, pace.read_rate, pace.write_rate)
        logger.info("segment progress", extra={"items": after.items, "pages": after.pages, "done": after.done})
        return after

    # --- Copy By Export --------------------------------------------------------------------------------------------

    def by_export(
        self, plan: CopyPlan, state: ExportCopyState | None, remaining_millis: Callable[[], int]
    ) -> ExportCopyState:
        """One step of a copy by export (ddbkeeper.copy.byexport); the state machine calls it until DONE."""
        clock = self.tuning.clock
        started = clock()

        def time_left() -> float:
            return min(remaining_millis() / 1000, self.time_budget - (clock() - started))

        copier = ExportCopier(
            self.request,
            self.execution,
            plan,
            target=self.target,
            exports=SourceExports(self.source.control),
            reader=self.target.account.s3,
            stack_name=self.settings.STACK_NAME,
            tuning=ApplyTuning(clock=clock, reserve_seconds=self.tuning.reserve_seconds),
        )
        after = copier.step(state or ExportCopyState(), time_left)
        logger.info("copy by export", extra={"phase": after.phase, "point": after.point and after.point.isoformat()})
        return after

    # --- Finalize Target -------------------------------------------------------------------------------------------

    def finalize_target(self, settings: FinalSettings) -> FinalSettings:
        """Turn on TTL and PITR on the target as the source has them; returns what was applied (all of it).

        An append applies nothing: the target is somebody's table, and its TTL and PITR are theirs."""
        client, table = self.target.control, self.target.name
        if self.request.mode == "append":
            logger.info("append: the target's settings left as they are", extra={"table": table})
            return FinalSettings(skipped="append: the target's TTL and PITR are its owner's; left as they are")
        if settings.ttl_attribute:
            with translate_errors("UpdateTimeToLive", table):
                client.update_time_to_live(
                    TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": settings.ttl_attribute}
                )
        if settings.pitr:
            with translate_errors("UpdateContinuousBackups", table):
                client.update_continuous_backups(
                    TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )
        return FinalSettings(ttl_attribute=settings.ttl_attribute, pitr=settings.pitr)

    # --- Verify Segment, Verify Copy -------------------------------------------------------------------------------

    def verify_segment(
        self,
        tally: SegmentTally,
        remaining_millis: Callable[[], int],
        key_attributes: list[str] | None = None,
        *,
        listed: bool = False,
    ) -> SegmentTally:
        """Tally one segment of both tables (count or checksum; after an append, read the source's segment back from
        the target by key) until it is done or the time budget, or the Lambda's own time, runs short.

        The state machine calls it again with the tally it returns until `done`: no segment is bound by one Lambda's
        900 seconds."""
        clock = self.tuning.clock
        started = clock()

        def time_left() -> float:
            return min(remaining_millis() / 1000, self.time_budget - (clock() - started))

        verifier = SegmentVerifier(
            self.source,
            self.target,
            self.request.verify,
            key_attributes,
            append=self.request.mode == "append",
            tuning=self.tuning,
            reserve_seconds=self.tuning.reserve_seconds,
        )
        after = verifier.run(tally, time_left)
        if listed and after.done:  # the segments go through the stack's bucket: the final tally is the result
            self._folder().save_tally(after)
        logger.info(
            "segment verification progress",
            extra={"segment": after.segment, "source_items": after.source.items, "done": after.done},
        )
        return after

    def compare(
        self,
        tallies: list[SegmentTally],
        segments: list[SegmentCheckpoint] | None = None,
        *,
        store: SegmentStore | None = None,
        total_segments: int | None = None,
        byexport: ExportCopyState | None = None,
    ) -> Verification:
        """The segments' tallies side by side, per segment and in total; a mismatch is VerificationFailed.

        `segments`: the copy's final checkpoints, to tell whether the source changed while it was copied (a warning:
        a Scan copy is not a snapshot). With a `store`, both are read from the execution's folder (each segment put its
        own), every segment's line is put there too, and the verification names only the segments that differ.

        `byexport`: a copy by export, whose target was counted against what the exports brought (the source has moved
        on since the point the target holds, so the two tables are not compared)."""
        if byexport is not None:
            return self._verify_export(byexport)
        if store is not None:
            tallies, segments = self._results(store, total_segments)
        found = verdict(
            self.request.verify,
            tallies,
            segments or [],
            self.source.name,
            self.target.name,
            append=self.request.mode == "append",
        )
        if found.failure is not None:
            raise VerificationFailed(found.failure)
        if store is not None:
            lines = found.verification.segments
            found = Verdict(
                found.verification.model_copy(
                    update={
                        "segments": [line for line in lines if line.differs][:MAX_LINES_IN_STATE],
                        "details": self._folder().put_lines("verification.json", lines),
                    }
                ),
                found.failure,
            )
        for warning in found.verification.warnings:
            logger.warning("copy verified with a warning", extra={"warning": warning})
        logger.info(
            "copy verified", extra=found.verification.model_dump(include={"verify", "items", "digest", "warnings"})
        )
        return found.verification

    def _verify_export(self, state: ExportCopyState) -> Verification:
        expected = state.expected
        warnings = [] if expected is not None else ["an export's changes could not be counted; the count is unchecked"]
        if self.request.verify != "none" and expected is not None and state.counted != expected:
            raise VerificationFailed(
                f"target.table: {self.target.name} holds {state.counted} items; the import brought "
                f"{state.imported_items} and the incremental exports inserted {state.apply.inserted} and removed "
                f"{state.apply.removed}, so {expected} were expected"
            )
        verify = "none" if self.request.verify == "none" else "count"
        logger.info("copy by export verified", extra={"items": state.counted, "expected": expected})
        return Verification(verify=verify, items=state.counted, warnings=warnings)

    def verify(self, total_segments: int, key_attributes: list[str] | None = None) -> Verification:
        """Verify the copy in this process: every segment's loop of Verify Segment, a few at a time, then Verify Copy's
        comparison (what the workflow does in its verify Map, here for a caller without one)."""

        def one(segment: int) -> SegmentTally:
            tally = SegmentTally(segment=segment, total_segments=total_segments)
            for _ in range(10**6):
                tally = self.verify_segment(tally, lambda: 900_000, key_attributes)
                if tally.done:
                    break
            return tally

        with ThreadPoolExecutor(max_workers=max(1, min(total_segments, MAX_VERIFY_THREADS))) as pool:
            tallies = list(pool.map(one, range(total_segments)))
        return self.compare(tallies)

    def _folder(self) -> CheckpointStore:
        if self.checkpoints is None:
            raise InvalidInput(
                "store: the segments went through the stack's bucket, and no SETTINGS_BUCKET is configured"
            )
        return self.checkpoints

    @staticmethod
    def _total(total_segments: int | None) -> int:
        if total_segments is None:
            raise InvalidInput("total_segments: needed to read the segments' results from the stack's bucket")
        return total_segments

    def _results(
        self, store: SegmentStore, total_segments: int | None
    ) -> tuple[list[SegmentTally], list[SegmentCheckpoint]]:
        """Every segment's final tally, and every copied segment's final checkpoint, each put in the execution's
        folder by its segment."""
        folder, total = self._folder(), self._total(total_segments)
        return folder.tallies(total), folder.finals(total, folder.copied(store))

    # --- Copy Report -----------------------------------------------------------------------------------------------

    def report(
        self,
        segments: list[SegmentCheckpoint],
        verification: Verification,
        finalized: FinalSettings,
        prepare: PrepareState | None = None,
        *,
        store: SegmentStore | None = None,
        total_segments: int | None = None,
        byexport: ExportCopyState | None = None,
    ) -> CopyReport:
        """The copy's report. With a `store`, the final checkpoints are read from the execution's folder and the
        per-segment lines are put there (`details`), so the report fits in the state payload whatever the count."""
        backup = prepare.backup if prepare is not None else None
        if store is not None:
            segments = self._folder().finals(self._total(total_segments), self._folder().copied(store))
        report = copy_report(self.request, segments, verification, finalized, pre_drop_backup=backup, byexport=byexport)
        if store is not None:
            details = self._folder().put_lines("report-segments.json", report.segments)
            report = report.model_copy(update={"segments": [], "details": details})
        logger.info("copy finished", extra={"totals": report.totals.model_dump()})
        return report
