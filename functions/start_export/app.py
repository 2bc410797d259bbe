"""Start the planned export; its ClientToken comes from the execution, so a retried step starts nothing new."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.export.models import ExportProgress, StartExport
from ddbkeeper.export.service import ExportService
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step


@workflow_step
def lambda_handler(task: StartExport, context: LambdaContext) -> ExportProgress:
    logger.thread_safe_append_keys(table=task.request.table)
    progress = ExportService.for_task(task, os.environ).start(task.plan)
    metrics.add_metric(name="ExportsStarted", unit=MetricUnit.Count, value=1)
    return progress
