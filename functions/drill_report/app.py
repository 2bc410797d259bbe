"""Summarise a drill, record each table's outcome for the audit, publish DrillSucceeded, RestoreSeconds and
RecoveryPointAgeSeconds."""

import os

from ddbkeeper.drill.models import DrillReport, DrillRun
from ddbkeeper.drill.service import DrillService
from ddbkeeper.drill.verify import publish
from ddbkeeper.handler import LambdaContext, metrics, workflow_step


@workflow_step
def lambda_handler(task: DrillRun, context: LambdaContext) -> DrillReport:
    report = DrillService.for_task(task, os.environ).report(task.drilled())
    publish(metrics, report)
    return report
