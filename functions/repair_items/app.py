"""Repair the chosen items of the live table from the scratch table until little Lambda time is left."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step
from ddbkeeper.restore.models import RepairItems, RepairProgress
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: RepairItems, context: LambdaContext) -> RepairProgress:
    before = task.repair
    logger.thread_safe_append_keys(target=task.request.target.table, scratch=task.plan.params.get("TargetTableName"))
    after = RestoreService.for_task(task, os.environ).repair(
        task.plan, before, lambda: context.get_remaining_time_in_millis() / 1000
    )
    written = after.added + after.overwritten - before.added - before.overwritten
    metrics.add_metric(name="ItemsRepaired", unit=MetricUnit.Count, value=0 if task.request.dry_run else written)
    return after
