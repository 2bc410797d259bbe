"""Apply the planned exports to the table from the last position until little Lambda time is left; the new position."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.apply import ApplyProgress
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step
from ddbkeeper.restore.models import ApplyExports
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: ApplyExports, context: LambdaContext) -> ApplyProgress:
    before = task.apply
    logger.thread_safe_append_keys(target=task.request.target.table, export=before.export, file=before.file)
    after = RestoreService.for_task(task, os.environ).apply(
        task.plan, before, lambda: context.get_remaining_time_in_millis() / 1000
    )
    metrics.add_metric(
        name="ItemsApplied", unit=MetricUnit.Count, value=after.puts + after.deletes - before.puts - before.deletes
    )
    metrics.add_metric(name="WriteUnitsConsumed", unit=MetricUnit.Count, value=after.write_units - before.write_units)
    return after
