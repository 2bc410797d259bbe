"""Summarise a backup run: each table's outcome, totals, and the run's metrics."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.backup.models import BackupReport, BackupRun
from ddbkeeper.backup.service import BackupService
from ddbkeeper.handler import LambdaContext, metrics, workflow_step


@workflow_step
def lambda_handler(task: BackupRun, context: LambdaContext) -> BackupReport:
    report = BackupService.for_task(task, os.environ).report(task.results)
    metrics.add_metric(name="BackupFailures", unit=MetricUnit.Count, value=report.totals.failed)
    return report
