"""The copy workflow's steps: plan (and refuse what is unsafe), prepare the target, copy each segment from its
checkpoint, apply the settings that follow the data, verify, report. One method per Task of statemachines/copy.asl.json.

A dry run stops after the plan: every check is made and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger

from ddbkeeper.aws import Account, SessionFactory, translate_errors
from ddbkeeper.copy.engine import CopyTuning, SegmentCopier
from ddbkeeper.copy.models import (
    Caps,
    CopyPlan,
    CopyReport,
    CopyRequest,
    CopySettings,
    FinalSettings,
    PlannedCopy,
    PrepareState,
    SegmentCheckpoint,
    TableSpec,
    Verification,
)
from ddbkeeper.copy.report import copy_report
from ddbkeeper.copy.segments import segment_count, share_caps
from ddbkeeper.copy.target import planned_actions, refuse_unsafe, target_spec
from ddbkeeper.errors import AwsError, TableNotFound, VerificationFailed
from ddbkeeper.models import Task, parse, parse_settings
from ddbkeeper.settings import tags_of
from ddbkeeper.tables import (
    TableSide,
    describe,
    drop_table,
    index_names,
    is_ready,
    pitr_description,
    pitr_on,
    summarize,
    ttl_attribute,
)

logger = Logger(child=True)

MAX_VERIFY_SEGMENTS = 8  # the verifying scans run in one Lambda: a few threads per table


class CopyService:
    """Copies one table to another, possibly in another account or region, each side through its own role."""

    def __init__(
        self,
        task: Task[CopyRequest],
        source: TableSide,
        target: TableSide,
        *,
        time_budget: float = CopySettings().COPY_TIME_BUDGET_SECONDS,
        tuning: CopyTuning | None = None,
    ) -> None:
        self.request = task.request
        self.execution = task.execution
        self.source = source
        self.target = target
        self.time_budget = time_budget  # seconds a Copy Segment invocation copies before it returns its checkpoint
        self.tuning = tuning or CopyTuning()

    @classmethod
    def for_task(cls, task: Task[CopyRequest], env: Mapping[str, str]) -> CopyService:
        """The service for one step: each side through its own role, with STS sessions named after the execution."""
        settings = parse_settings(CopySettings, env)
        factory = SessionFactory(session_name=task.execution.session_name())
        source, target = task.request.source, task.request.target
        return cls(
            task,
            TableSide(Account(factory, source.access()), source.table),
            TableSide(Account(factory, target.access()), target.table),
            time_budget=settings.COPY_TIME_BUDGET_SECONDS,
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
        request.target_overrides.check_indexes(index_names(source))
        tags = tags_of(self.source.control, source["TableArn"])
        spec = target_spec(source, tags, request.target_overrides, self.target.name)
        size, count = source.get("TableSizeBytes", 0), source.get("ItemCount", 0)
        segments = self._starts(segment_count(request, size, count))
        total = segments[0].total_segments
        plan = CopyPlan(
            dry_run=request.dry_run,
            actions=planned_actions(request, source, target, spec, total),
            source_arn=source["TableArn"],
            source_items_estimate=count,
            source_bytes_estimate=size,
            segments=segments,
            total_segments=total,
            caps=share_caps(request, total),
            target_spec=spec,
            finalize=self._settings_after_data(),
        )
        logger.info("copy planned", extra={"segments": total, "source": plan.source_arn})
        return PlannedCopy(request=request, execution=self.execution, plan=plan, prepare=PrepareState())

    def _starts(self, total: int) -> list[SegmentCheckpoint]:
        """Where each segment starts: at the beginning, or where the run being resumed left it."""
        if self.request.resume:
            return [parse(SegmentCheckpoint, cp, root=f"resume.{n}") for n, cp in enumerate(self.request.resume)]
        return [SegmentCheckpoint(segment=segment, total_segments=total) for segment in range(total)]

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

    def prepare_target(self, spec: TableSpec, state: PrepareState) -> PrepareState:
        """One step towards an ACTIVE target; the state machine calls it again (after a wait) until phase is READY.

        `state` is the previous step's result: once the target was dropped for a recreate it is never dropped again.
        """
        client, name = self.target.control, self.target.name
        deleted = state.deleted
        current = describe(client, name)
        if self.request.mode == "recreate" and not deleted:
            if current is not None and current.get("TableStatus") != "DELETING":
                drop_table(client, current)
            deleted = True
            current = describe(client, name)
        if current is None:
            if self.request.mode == "append":
                raise TableNotFound(f"target.table: {name} disappeared")
            with translate_errors("CreateTable", name):
                client.create_table(**spec)
            logger.info("target created", extra={"table": name})
            current = describe(client, name)
        if current is None:  # created, not yet described
            phase = "CREATING"
        else:
            phase = "READY" if is_ready(current) else current.get("TableStatus", "CREATING")
        return PrepareState(phase=phase, deleted=deleted, polls=state.polls + 1)

    # --- Copy Segment ----------------------------------------------------------------------------------------------

    def copy_segment(
        self, checkpoint: SegmentCheckpoint, caps: Caps, remaining_millis: Callable[[], int]
    ) -> SegmentCheckpoint:
        """Copy the segment from its checkpoint until the time budget, or the Lambda's own time, runs short.

        `remaining_millis` is the Lambda context's clock: the invocation returns its checkpoint well before it.
        """
        clock = self.tuning.clock
        started = clock()

        def time_left() -> float:
            return min(remaining_millis() / 1000, self.time_budget - (clock() - started))

        copier = SegmentCopier(self.source, self.target, caps.read, caps.write, self.tuning)
        after = copier.run(checkpoint, time_left)
        logger.info("segment progress", extra={"items": after.items, "pages": after.pages, "done": after.done})
        return after

    # --- Finalize Target -------------------------------------------------------------------------------------------

    def finalize_target(self, settings: FinalSettings) -> FinalSettings:
        """Turn on TTL and PITR on the target as the source has them; returns what was applied (all of it)."""
        client, table = self.target.control, self.target.name
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

    # --- Verify Copy -----------------------------------------------------------------------------------------------

    def verify(self, total_segments: int) -> Verification:
        """Count (or checksum) both tables with parallel scans, side by side; a mismatch is VerificationFailed."""
        how = self.request.verify
        if how == "none":
            return Verification(verify="none")
        checksum = how == "checksum"
        parallel = max(1, min(total_segments, MAX_VERIFY_SEGMENTS))
        with ThreadPoolExecutor(max_workers=2) as pool:
            source_future = pool.submit(summarize, self.source, parallel, checksum, self.tuning)
            target_future = pool.submit(summarize, self.target, parallel, checksum, self.tuning)
            source, target = source_future.result(), target_future.result()
        if source != target:
            raise VerificationFailed(
                f"{how} mismatch: source {self.source.name} has {source.describe()}, "
                f"target {self.target.name} has {target.describe()}"
            )
        digest = f"{source.digest:064x}" if source.digest is not None else None
        verification = Verification(verify=how, items=source.items, digest=digest)
        logger.info("copy verified", extra=verification.model_dump())
        return verification

    # --- Copy Report -----------------------------------------------------------------------------------------------

    def report(
        self, segments: list[SegmentCheckpoint], verification: Verification, finalized: FinalSettings
    ) -> CopyReport:
        report = copy_report(self.request, segments, verification, finalized)
        logger.info("copy finished", extra={"totals": report.totals.model_dump()})
        return report
