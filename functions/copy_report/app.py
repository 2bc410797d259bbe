"""Summarise a copy: totals and per-segment figures, and the run's metrics."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.copy.models import CopyReport, CopyRun
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, metrics, workflow_step


@workflow_step
def lambda_handler(task: CopyRun, context: LambdaContext) -> CopyReport:
    report = CopyService.for_task(task, os.environ).report(
        task.segments,
        task.verification,
        task.finalized,
        task.prepare,
        store=task.store,
        total_segments=task.total_segments,
        byexport=task.byexport,
    )
    metrics.add_metric(name="CopiesCompleted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ItemsCopiedTotal", unit=MetricUnit.Count, value=report.totals.items)
    return report
