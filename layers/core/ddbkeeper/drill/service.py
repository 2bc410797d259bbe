"""The drill workflow's steps: plan, restore each table's newest recovery point into a scratch table, wait for it,
verify it, always delete it, report. One method per Task of statemachines/drill.asl.json.

Restores go through the same decisions as the restore workflow (ddbkeeper.recovery: which backup is newest, the PITR
window, whether a table is the one this execution restored, when it is done). The scratch table is tagged
ddbkeeper:drill=<stack> once it is ACTIVE, and only after its RestoreSummary shows this execution made it; it is
deleted only when it carries that tag (IAM holds the same line), so a drill can never delete a table it did not make.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.apply import ApplyProgress, ApplyTuning, ExportApplier
from ddbkeeper.aws import Account, AccountAccess, SessionFactory, domain_error, error_code, translate_errors
from ddbkeeper.clock import as_utc, backoff, iso
from ddbkeeper.drill.models import (
    DRILL_TAG,
    ChainRef,
    DrillPlan,
    DrillReport,
    DrillRequest,
    DrillSettings,
    DrillTableResult,
    DrillTarget,
    DrillVerification,
    PlannedDrill,
    SampleCheck,
    ScratchRestore,
)
from ddbkeeper.drill.verify import (
    choose_point,
    drill_line,
    drill_report,
    judge,
    plan_actions,
    reachable_chain,
    sample_check,
    scratch_name,
    wants_chain,
)
from ddbkeeper.drills import DrillRecords
from ddbkeeper.errors import AccessDenied, InvalidInput, TableNotFound, UnsafeOperation
from ddbkeeper.export_chain import ChainPick, pick
from ddbkeeper.export_files import (
    ChainEntry,
    ExportLocation,
    ExportManifest,
    ledger_folder,
    read_ledger,
    read_manifest,
)
from ddbkeeper.models import Task, parse_settings
from ddbkeeper.pacing import Tuning, with_retries
from ddbkeeper.reads import read_items
from ddbkeeper.recovery import count_check, newest_backup, pitr_window, restore_state, restored_by
from ddbkeeper.scratch import ScratchCleanup, ScratchMark, clean_up
from ddbkeeper.selection import select_tables
from ddbkeeper.settings import tags_of
from ddbkeeper.tables import MANAGED_BY, TableSide, describe, pitr_description, summarize
from ddbkeeper.wire import WireItem, WireTable, key_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

logger = Logger(child=True)

_EXISTS = {"TableAlreadyExistsException", "ResourceInUseException"}
COUNT_SEGMENTS = 4
GONE_AFTER_POLLS = 3  # a scratch table still missing after this many checks is not coming
_UNREADABLE = (InvalidInput, AccessDenied, TableNotFound)  # a ledger or manifest that is not there or not ours to read


class DrillService:
    """Drills tables of the stack's own account and region."""

    def __init__(
        self,
        task: Task[DrillRequest],
        account: Account,
        records: DrillRecords | None = None,
        *,
        settings: DrillSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tuning: ApplyTuning | None = None,
    ) -> None:
        self.request = task.request
        self.execution = task.execution
        self.account = account
        self.records = records
        self.settings = settings or DrillSettings()
        self._clock = clock
        self.tuning = tuning or ApplyTuning()  # an export chain's apply path, the sample's reads

    @classmethod
    def for_task(cls, task: Task[DrillRequest], env: Mapping[str, str]) -> DrillService:
        settings = parse_settings(DrillSettings, env)
        factory = SessionFactory(session_name=task.execution.session_name())
        account = Account(factory, AccountAccess())
        records = DrillRecords(account.s3, settings.SETTINGS_BUCKET) if settings.SETTINGS_BUCKET else None
        return cls(task, account, records, settings=settings)

    @property
    def _stack(self) -> str:
        return self.settings.STACK_NAME

    # --- Plan Drill ------------------------------------------------------------------------------------------------

    def plan(self) -> PlannedDrill:
        """Select the tables and choose each one's recovery point; nothing is created here. A table with nothing to
        restore from is planned with its problem, and fails alone."""
        client = self.account.dynamodb
        tables = select_tables(client, self.request.tables, self.request.selector, self.account.region)
        targets = [self._target(name) for name in tables]
        plan = DrillPlan(
            dry_run=self.request.dry_run,
            tables=targets,
            actions=plan_actions(targets, self.request.max_mismatch_percent),
        )
        logger.info("drill planned", extra={"tables": [t.table for t in targets]})
        return PlannedDrill(request=self.request, execution=self.execution, plan=plan)

    def _target(self, name: str) -> DrillTarget:
        client = self.account.dynamodb
        scratch = scratch_name(self.settings.DRILL_TABLE_PREFIX, name, self.execution.stamp().lower())
        table = describe(client, name)
        backup = newest_backup(client, name)
        pitr = pitr_window(pitr_description(client, name)) if table is not None else pitr_window({})
        chain, why = None, "no export chain"
        if wants_chain(self.request.source, backup, pitr):
            chain, why = self._chain(name, table)
        kind, chosen, moment, problem = choose_point(self.request.source, backup, pitr, chain, why)
        keys = [k["AttributeName"] for k in (table or {}).get("KeySchema", [])]
        expected = None
        if chosen is not None:
            with translate_errors("DescribeBackup", chosen.arn):
                described = client.describe_backup(BackupArn=chosen.arn)["BackupDescription"]
            details: Mapping[str, Any] = described["SourceTableDetails"]
            expected = int(details.get("ItemCount") or 0)
            keys = keys or [k["AttributeName"] for k in details.get("KeySchema", [])]
        ref, note = None, None
        if kind == "export_chain" and chain is not None:
            ref, expected, problem = self._chain_ref(name, chain)
            note = why or None
        if table is None and chosen is None:  # no live table: no PITR and no chain either
            problem = f"{name} does not exist and has no AVAILABLE backup"
        schema = [
            {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in (table or {}).get("KeySchema", [])
        ]
        definitions = [
            {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
            for a in (table or {}).get("AttributeDefinitions", [])
            if a["AttributeName"] in keys
        ]
        return DrillTarget(
            table=name,
            table_arn=table["TableArn"] if table else None,
            scratch_table=scratch,
            kind=kind,
            backup_arn=chosen.arn if chosen else None,
            recovery_point=iso(moment),
            expected_items=expected,
            key_attributes=keys,
            key_schema=schema if kind == "export_chain" else [],
            attribute_definitions=definitions if kind == "export_chain" else [],
            chain=ref,
            note=note,
            problem=problem,
        )

    def _chain(self, name: str, table: TableDescriptionTypeDef | None) -> tuple[ChainPick | None, str]:
        """The table's export chain as the export workflow's ledger records it in the stack's bucket, up to the first
        gap: (the pick, a note on the gap or ""), or (None, why there is none to drill)."""
        bucket = self.settings.EXPORT_BUCKET
        if bucket is None:
            return None, "no export chain: the stack has no export bucket (EXPORT_BUCKET)"
        if table is None:
            return None, "no export chain to drill: the table is gone, so the chain's keys are unknown"
        location = ExportLocation(bucket, self.settings.EXPORT_PREFIX.format(table=name))
        try:
            entries = read_ledger(self.account.s3, location, name)
            chain, why = reachable_chain(entries, table["TableArn"])
        except _UNREADABLE as error:  # this table's drill fails alone, saying why; retryable errors are retried
            return None, f"no export chain to drill: {type(error).__name__}: {error}"
        if chain is None:
            return None, f"no export chain to drill in {location.url(ledger_folder(location.prefix, name))}: {why}"
        return chain, why

    def _chain_ref(self, name: str, chain: ChainPick) -> tuple[ChainRef | None, int | None, str | None]:
        """What the plan carries of the chain (where its ledger is, the window ends it spans) and the FULL export's
        count, read from its manifest; (None, None, why) when that cannot be read. The other manifests are read when
        they are applied, so that the state stays small however long the chain."""
        try:
            full = self._manifest(chain.entries[0])
        except _UNREADABLE as error:
            return None, None, f"the export chain cannot be read: {type(error).__name__}: {error}"
        assert self.settings.EXPORT_BUCKET is not None  # _chain found the chain there
        ref = ChainRef(
            bucket=self.settings.EXPORT_BUCKET,
            prefix=self.settings.EXPORT_PREFIX.format(table=name),
            full_end=chain.entries[0].end,
            end=chain.point,
            exports=len(chain.entries),
        )
        return ref, full.item_count, None

    def _manifest(self, entry: ChainEntry) -> ExportManifest:
        """A picked export's manifest-summary.json, held against its ledger entry (InvalidInput when they differ)."""
        url = entry.summary_url()
        if url is None:
            raise InvalidInput(f"the ledger's entry for {entry.export_arn} names no manifest (DynamoDB wrote none)")
        manifest = read_manifest(self.account.s3, url, None, "export chain")
        if (manifest.table_arn, manifest.export_arn, manifest.end) != (entry.table_arn, entry.export_arn, entry.end):
            raise InvalidInput(
                f"{url} describes {manifest.export_arn} of {manifest.table_arn} ending {iso(manifest.end)}; the "
                f"ledger recorded {entry.export_arn} of {entry.table_arn} ending {iso(entry.end)}"
            )
        return manifest

    def _exports(self, target: DrillTarget) -> ChainManifests:
        """The planned chain read again from its ledger (a few small objects), each manifest read only once the
        applier reaches it. A ledger that no longer holds the planned chain fails the table's drill."""
        ref = target.chain
        if ref is None:
            raise InvalidInput(f"{target.table}: an export chain drill with no chain planned")
        entries = read_ledger(self.account.s3, ref.location, target.table)
        mine = [entry for entry in entries if target.table_arn is None or entry.table_arn == target.table_arn]
        picked = pick(mine, ref.end, field="export chain")
        if (picked.entries[0].end, picked.point, len(picked.entries)) != (ref.full_end, ref.end, ref.exports):
            raise InvalidInput(
                f"{ref.ledger_url(target.table)} no longer holds the planned chain ({ref.exports} exports from "
                f"{iso(ref.full_end)} to {iso(ref.end)}); it now gives {len(picked.entries)} exports from "
                f"{iso(picked.entries[0].end)} to {iso(picked.point)}"
            )
        return ChainManifests(picked.entries, self._manifest)

    # --- Start Scratch Restore, Check Scratch Restore --------------------------------------------------------------

    def start(self, target: DrillTarget) -> ScratchRestore:
        """Restore the planned point into the scratch table; a retried step adopts the restore it already started."""
        if target.problem:
            raise TableNotFound(f"{target.table}: {target.problem}")
        client = self.account.dynamodb
        started = self._clock()
        reused = False
        if target.kind == "export_chain":
            return self._create_scratch(target, started)
        try:
            if target.kind == "backup":
                client.restore_table_from_backup(TargetTableName=target.scratch_table, BackupArn=str(target.backup_arn))
            else:
                client.restore_table_to_point_in_time(
                    SourceTableName=target.table, TargetTableName=target.scratch_table, UseLatestRestorableTime=True
                )
        except ClientError as error:
            if error_code(error) not in _EXISTS:
                raise domain_error(error, f"Restore ({target.kind})", target.scratch_table) from error
            if not self._ours(describe(client, target.scratch_table), target):
                raise UnsafeOperation(
                    f"{target.scratch_table} exists and is not this drill's: not restoring into it"
                ) from None
            reused = True
        logger.info("scratch restore started", extra={"table": target.table, "scratch": target.scratch_table})
        return ScratchRestore(
            status="CREATING", started_at=started, wait_seconds=backoff(0, first=2, cap=30), reused=reused
        )

    def _create_scratch(self, target: DrillTarget, started: datetime) -> ScratchRestore:
        """An export chain has no restore call: the scratch table is created with the source's keys, tagged as the
        drill's at birth (IAM lets the drill create only so tagged tables), and Check Scratch Restore applies the
        exports into it. A retried step adopts the table it already created."""
        client = self.account.dynamodb
        tags = [{"Key": DRILL_TAG, "Value": self._stack}, {"Key": MANAGED_BY, "Value": self._stack}]
        reused = False
        try:
            client.create_table(
                TableName=target.scratch_table,
                KeySchema=target.key_schema,  # type: ignore[arg-type]
                AttributeDefinitions=target.attribute_definitions,  # type: ignore[arg-type]
                BillingMode="PAY_PER_REQUEST",
                Tags=tags,  # type: ignore[arg-type]
            )
        except ClientError as error:
            if error_code(error) not in _EXISTS:
                raise domain_error(error, "CreateTable (export chain)", target.scratch_table) from error
            if not self._ours(describe(client, target.scratch_table), target):
                raise UnsafeOperation(
                    f"{target.scratch_table} exists and is not this drill's: not applying exports into it"
                ) from None
            reused = True
        logger.info(
            "scratch table created for the chain", extra={"table": target.table, "scratch": target.scratch_table}
        )
        return ScratchRestore(
            status="CREATING", started_at=started, wait_seconds=backoff(0, first=2, cap=30), reused=reused,
            apply=ApplyProgress(),
        )  # fmt: skip

    def check(
        self, target: DrillTarget, progress: ScratchRestore, time_left: Callable[[], float] = lambda: 0.0
    ) -> ScratchRestore:
        """CREATING until the scratch table is usable; then it is tagged as the drill's and the RTO measured. For an
        export chain, once the table is ACTIVE each turn applies exports (`time_left()` seconds of the invocation
        left) and stays CREATING until every one is applied: the wait loop is the apply loop."""
        polls = progress.polls + 1
        result = progress.model_copy(update={"polls": polls, "wait_seconds": backoff(polls, first=2, cap=30)})
        table = describe(self.account.dynamodb, target.scratch_table)
        if table is None and polls >= GONE_AFTER_POLLS:  # DescribeTable shows a restore's table at once
            failure = f"{target.scratch_table} does not exist: the restore was cancelled or failed"
            return result.model_copy(update={"status": "FAILED", "failure": failure})
        if table is None or restore_state(table) != "ACTIVE":
            return result.model_copy(update={"table_arn": table["TableArn"] if table else None})
        self._scratch_mark(target).put_on(self.account.dynamodb, table)
        if target.kind == "export_chain":
            applied = self._apply(target, progress.apply or ApplyProgress(), time_left)
            result = result.model_copy(update={"apply": applied, "table_arn": table["TableArn"]})
            if not applied.done:
                return result.model_copy(update={"wait_seconds": 1})  # straight on: the work is in the turn
        seconds = round((self._clock() - progress.started_at).total_seconds(), 1)
        return result.model_copy(
            update={"status": "ACTIVE", "table_arn": table["TableArn"], "restore_seconds": seconds}
        )

    def _apply(self, target: DrillTarget, progress: ApplyProgress, time_left: Callable[[], float]) -> ApplyProgress:
        """The restore's own apply path (ddbkeeper.apply): each data file's MD5 checked against its manifest
        before any of it is written, the exports strictly in order, from the position the last turn returned."""
        applier = ExportApplier(
            TableSide(self.account, target.scratch_table),
            self.account.s3,
            target.key_attributes,
            tuning=self.tuning,
        )
        applied = applier.run(self._exports(target), progress, time_left)
        logger.info("exports applied to the scratch table", extra=applied.model_dump(mode="json"))
        return applied

    def _ours(self, table: TableDescriptionTypeDef | None, target: DrillTarget) -> bool:
        """Whether the table is the one this execution restored from the planned point (an export chain's: created
        since the execution started, tagged as this stack's drill at birth)."""
        if target.kind == "export_chain":
            if table is None:
                return False
            created = as_utc(table.get("CreationDateTime"))
            return (
                created is not None
                and created >= self.execution.started_at.replace(microsecond=0)
                and tags_of(self.account.dynamodb, table["TableArn"]).get(DRILL_TAG) == self._stack
            )
        source = target.backup_arn if target.kind == "backup" else target.table_arn
        return restored_by(table, source, self.execution.started_at)

    def _scratch_mark(self, target: DrillTarget) -> ScratchMark:
        """The drill's scratch tables carry its tag and the stack's (IAM deletes no other); an untagged one only once
        its RestoreSummary proves this execution restored it."""
        return ScratchMark({DRILL_TAG: self._stack, MANAGED_BY: self._stack}, lambda table: self._ours(table, target))

    # --- Verify Scratch Table --------------------------------------------------------------------------------------

    def verify(self, target: DrillTarget, progress: ScratchRestore) -> DrillVerification:
        """Count the scratch table against the backup's count, read a sample of the source's keys back from it, and
        measure the point's age; VerificationFailed names what is off (the clean-up still runs)."""
        scratch = TableSide(self.account, target.scratch_table)
        items = summarize(scratch, segments=COUNT_SEGMENTS, checksum=False).items
        sample = self._sample(target, scratch)
        moment = as_utc(target.recovery_point)
        age = round((self.execution.started_at - moment).total_seconds(), 1) if moment else None
        expected, exact = target.expected_items, False
        if target.kind == "export_chain":  # the FULL export's count plus the inserts, minus the deletes, applied
            if progress.apply is None or not progress.apply.done:
                raise InvalidInput(f"{target.scratch_table}: the export chain is not all applied yet")
            expected = progress.apply.expected(target.expected_items or 0)
            exact = expected is not None  # an export's count is exact; a NEW_IMAGE export's leaves it unknown
        result = DrillVerification(
            items=items,
            expected_items=expected,
            count_result=count_check(target.scratch_table, items, expected, exact=exact),
            sample=sample,
            restore_seconds=progress.restore_seconds,
            recovery_point_age_seconds=age,
        )
        logger.info("scratch table verified", extra=result.model_dump())
        judge(
            target.scratch_table,
            items,
            expected=expected,
            sample=sample,
            max_mismatch_percent=self.request.max_mismatch_percent,
            age_seconds=age,
            max_age_hours=self.request.max_recovery_point_age_hours,
        )
        return result

    def _sample(self, target: DrillTarget, scratch: TableSide) -> SampleCheck:
        """Up to sample_size items read (consistently) from the live source, and the same keys from the scratch table.
        A source that is gone has nothing to sample (the count still checks the restore)."""
        source_items: list[WireItem] = []
        if target.table_arn is not None and describe(self.account.dynamodb, target.table) is not None:
            source = TableSide(self.account, target.table)
            start: WireItem | None = None
            for _ in range(1000):  # pages of up to 1 MB until the sample is full or the table ends

                def page(wire: WireTable, start: WireItem | None = start) -> dict[str, Any]:
                    return wire.scan_page(0, 1, start, consistent=True)

                read = with_retries(lambda: source.call("Scan", page), Tuning())
                source_items += read["Items"][: self.request.sample_size - len(source_items)]
                start = read.get("LastEvaluatedKey")
                if start is None or len(source_items) >= self.request.sample_size:
                    break
        keys = target.key_attributes
        wanted = [{name: item[name] for name in keys} for item in source_items]
        found = {key_id(item, keys): item for item in read_items(scratch, wanted, self.tuning)}
        return sample_check(source_items, found, keys)

    # --- Delete Scratch Table --------------------------------------------------------------------------------------

    def clean_up(self, target: DrillTarget, progress: ScratchCleanup | None) -> ScratchCleanup:
        """Delete the scratch table, whatever happened before (ddbkeeper.scratch): only this drill's."""
        return clean_up(self.account.dynamodb, target.scratch_table, self._scratch_mark(target), progress)

    # --- Drill Report ----------------------------------------------------------------------------------------------

    def report(self, drilled: list[tuple[DrillTarget, DrillTableResult]]) -> DrillReport:
        """Each table's outcome, recorded in the stack's bucket for the audit (a record that cannot be written is
        logged: the drill's result stands)."""
        now = self._clock()
        lines = [drill_line(target, result, now, self.execution.name) for target, result in drilled]
        recorded = []
        for line, (target, _) in zip(lines, drilled, strict=True):
            arn = target.table_arn or _table_arn_of(target.backup_arn)
            if self.records is None or arn is None:
                continue
            try:
                recorded.append(self.records.save(arn, self.execution.stamp(), line.model_dump_json(indent=2)))
            except Exception as error:  # noqa: BLE001 - the record is secondary to the drill's own result
                logger.warning("drill record not written", extra={"table": line.table, "error": str(error)})
        report = drill_report(lines, recorded)
        logger.info("drill reported", extra={"status": report.status, "summary": report.summary})
        return report


class ChainManifests(Sequence[ExportManifest]):
    """A chain's exports for the applier, each manifest read (and held against its ledger entry) when first used: a
    turn reads only those it applies."""

    def __init__(self, entries: list[ChainEntry], read: Callable[[ChainEntry], ExportManifest]) -> None:
        self._entries = entries
        self._read = read
        self._read_ones: dict[int, ExportManifest] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> ExportManifest: ...
    @overload
    def __getitem__(self, index: slice) -> list[ExportManifest]: ...
    def __getitem__(self, index: int | slice) -> ExportManifest | list[ExportManifest]:
        if isinstance(index, slice):
            return [self[n] for n in range(*index.indices(len(self)))]
        number = range(len(self))[index]  # IndexError as a list would
        if number not in self._read_ones:
            self._read_ones[number] = self._read(self._entries[number])
        return self._read_ones[number]


def _table_arn_of(backup_arn: str | None) -> str | None:
    """arn:...:table/<name>/backup/<id> -> arn:...:table/<name>"""
    return backup_arn.split("/backup/", 1)[0] if backup_arn else None
