"""The workflows by name, as `ddbkeeper run WORKFLOW` and statemachines/<name>.asl.json call them, and the request each
one reads: the CLI refuses a bad input with the workflow's own model before anything starts."""

from __future__ import annotations

from pydantic import BaseModel

from ddbkeeper.audit.models import AuditRequest
from ddbkeeper.backup.models import BackupRequest
from ddbkeeper.copy.models import CopyRequest
from ddbkeeper.drill.models import DrillRequest
from ddbkeeper.export.models import ExportRequest
from ddbkeeper.restore.models import RestoreRequest

REQUESTS: dict[str, type[BaseModel]] = {
    "audit": AuditRequest,
    "backup": BackupRequest,
    "copy": CopyRequest,
    "drill": DrillRequest,
    "export": ExportRequest,
    "restore": RestoreRequest,
}
MAX_INPUT_BYTES = 256 * 1024  # Step Functions' limit for an execution's input
