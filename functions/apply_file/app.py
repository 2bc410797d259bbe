"""Apply one data file of an export (its MD5 checked first) from its line until done or little Lambda time is left."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.apply import FileProgress
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step
from ddbkeeper.restore.models import ApplyFile
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: ApplyFile, context: LambdaContext) -> FileProgress:
    before = task.file
    logger.thread_safe_append_keys(target=task.request.target.table, export=before.export, file=before.file)
    after = RestoreService.for_task(task, os.environ).apply_file(
        before, task.key_names, task.revert, lambda: context.get_remaining_time_in_millis() / 1000
    )
    if not after.skipped:
        written = after.puts + after.deletes - before.puts - before.deletes
        metrics.add_metric(name="ItemsApplied", unit=MetricUnit.Count, value=written)
        metrics.add_metric(
            name="WriteUnitsConsumed", unit=MetricUnit.Count, value=after.write_units - before.write_units
        )
    return after
