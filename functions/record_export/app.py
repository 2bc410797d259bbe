"""Record the completed export in the ledger (the next incremental export starts at its end) and report it."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.export.models import ExportReport, RecordExport
from ddbkeeper.export.service import ExportService
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step


@workflow_step
def lambda_handler(task: RecordExport, context: LambdaContext) -> ExportReport:
    logger.thread_safe_append_keys(table=task.request.table)
    report = ExportService.for_task(task, os.environ).record(task.plan, task.export)
    if report.status == "SUCCEEDED":  # this window's own figures: the report's totals cover the run's windows so far
        metrics.add_metric(name="ItemsExported", unit=MetricUnit.Count, value=report.exports[-1].items)
        metrics.add_metric(name="BytesExported", unit=MetricUnit.Bytes, value=report.exports[-1].bytes)
    return report
