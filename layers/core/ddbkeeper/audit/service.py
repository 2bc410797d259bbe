"""The audit workflow's one step: judge every table (ddbkeeper.coverage) and count the verdicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from ddbkeeper.audit.models import AuditCounts, AuditReport, AuditRequest, AuditSettings
from ddbkeeper.aws import Account, AccountAccess, SessionFactory
from ddbkeeper.coverage import Auditor, TableCoverage, audit_all
from ddbkeeper.models import Task, parse_settings
from ddbkeeper.selection import all_tables, select_tables

logger = Logger(child=True)


class AuditService:
    def __init__(self, task: Task[AuditRequest], auditor: Auditor) -> None:
        self.request = task.request
        self.auditor = auditor

    @classmethod
    def for_task(
        cls, task: Task[AuditRequest], env: Mapping[str, str], clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> AuditService:
        settings = parse_settings(AuditSettings, env)
        account = Account(SessionFactory(session_name=task.execution.session_name()), AccountAccess())
        auditor = Auditor(
            dynamodb=account.dynamodb,
            s3=account.s3 if settings.SETTINGS_BUCKET else None,
            bucket=settings.SETTINGS_BUCKET,
            now=clock(),
            backup_prefix=settings.BACKUP_NAME_PREFIX,
            max_backup_age_hours=task.request.max_backup_age_hours,
            protect_tag_key=task.request.protect_tag_key,
        )
        return cls(task, auditor)

    def audit(self) -> AuditReport:
        """Every table selected (or every table), judged; one table that cannot be read does not hide the others."""
        client = self.auditor.dynamodb
        if self.request.tables is None and self.request.selector is None:
            names = list(all_tables(client))
        else:
            names = select_tables(client, self.request.tables, self.request.selector, client.meta.region_name)
        lines = audit_all(self.auditor, names)
        counts = audit_counts(lines)
        summary = (
            f"{counts.protected} protected, {counts.at_risk} at risk, {counts.unprotected} unprotected"
            f"; {counts.tagged_at_risk} tagged for protection and not protected"
        )
        if counts.unreadable:
            summary += f"; {counts.unreadable} could not be read"
        logger.info("tables audited", extra={"summary": summary})
        return AuditReport(counts=counts, tables=lines, summary=summary)


def audit_counts(lines: list[TableCoverage]) -> AuditCounts:
    return AuditCounts(
        protected=sum(1 for line in lines if line.verdict == "protected"),
        at_risk=sum(1 for line in lines if line.verdict == "at risk"),
        unprotected=sum(1 for line in lines if line.verdict == "unprotected"),
        unreadable=sum(1 for line in lines if line.verdict == "unreadable"),
        tagged_at_risk=sum(1 for line in lines if line.tagged_for_protection and line.verdict != "protected"),
        stale_backups=sum(1 for line in lines if line.tagged_for_protection and _stale(line)),
    )


def _stale(line: TableCoverage) -> bool:
    """No ddbkeeper backup, or none within the schedule."""
    return line.backup_age_hours is None or line.backup_age_hours > line.max_backup_age_hours


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


def publish(metrics: MetricSink, report: AuditReport) -> None:
    """Metrics per verdict (and TablesUnreadable), and the two the alarms watch: TaggedTablesAtRisk and
    TablesWithStaleBackup."""
    counts = report.counts
    metrics.add_metric(name="TablesProtected", unit="Count", value=counts.protected)
    metrics.add_metric(name="TablesAtRisk", unit="Count", value=counts.at_risk)
    metrics.add_metric(name="TablesUnprotected", unit="Count", value=counts.unprotected)
    metrics.add_metric(name="TablesUnreadable", unit="Count", value=counts.unreadable)
    metrics.add_metric(name="TaggedTablesAtRisk", unit="Count", value=counts.tagged_at_risk)
    metrics.add_metric(name="TablesWithStaleBackup", unit="Count", value=counts.stale_backups)
