"""Judge every table's protection, publish metrics per verdict (the alarms watch TaggedTablesAtRisk)."""

import os

from ddbkeeper.audit.models import AuditReport, AuditTask
from ddbkeeper.audit.service import AuditService, publish
from ddbkeeper.handler import LambdaContext, metrics, workflow_step


@workflow_step
def lambda_handler(task: AuditTask, context: LambdaContext) -> AuditReport:
    report = AuditService.for_task(task, os.environ).audit()
    publish(metrics, report)
    return report
