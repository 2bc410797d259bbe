"""The audit workflow's request and step state (see README: Protection coverage, and statemachines/audit.asl.json).

Audit Tables  AuditTask -> AuditReport ($.report, the execution's output)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ddbkeeper.coverage import TableCoverage
from ddbkeeper.models import NamePrefix, Settings, StepModel, StrictModel, TableName, TagKey, Task
from ddbkeeper.selection import Selector


class AuditRequest(StrictModel):
    """Input of the audit workflow: which tables (default: every table of the stack's account and region) and what the
    schedule promises."""

    tables: Annotated[list[TableName], Field(min_length=1, max_length=500)] | None = None
    selector: Selector | None = None
    max_backup_age_hours: Annotated[float, Field(gt=0)] = 26.0
    protect_tag_key: TagKey = "backup"


class AuditSettings(Settings):
    """The audit function's environment (template.yaml)."""

    SETTINGS_BUCKET: str | None = None  # the stack's bucket: export ledgers and drill records
    BACKUP_NAME_PREFIX: NamePrefix = "ddbkeeper"


class AuditTask(Task[AuditRequest]):
    """What the step receives: the request and who runs it."""


class AuditCounts(StepModel):
    protected: int
    at_risk: int
    unprotected: int
    unreadable: int = 0  # tables that could not be read (gone since they were listed, access refused): not judged
    tagged_at_risk: int  # tables carrying the protection tag that are at risk or unprotected: the alarm's metric
    stale_backups: int  # tagged tables whose newest ddbkeeper backup is past the schedule, or that have none


class AuditReport(StepModel):
    """The audit's report: the execution's output."""

    counts: AuditCounts
    tables: list[TableCoverage]
    summary: str
