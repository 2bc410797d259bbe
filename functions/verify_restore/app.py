"""Count the restored table against the source's recorded count and report the restore."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step
from ddbkeeper.restore.models import RestoreReport, VerifyRestore
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: VerifyRestore, context: LambdaContext) -> RestoreReport:
    logger.thread_safe_append_keys(target=task.request.target.table)
    report = RestoreService.for_task(task, os.environ).verify(task.plan, task.restore, task.apply)
    metrics.add_metric(name="ItemsRestored", unit=MetricUnit.Count, value=report.items or 0)
    return report
