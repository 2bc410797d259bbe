"""Restore a table's planned recovery point into its scratch table (a retry adopts its own restore)."""

import os

from ddbkeeper.drill.models import DrillTableTask, ScratchRestore
from ddbkeeper.drill.service import DrillService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: DrillTableTask, context: LambdaContext) -> ScratchRestore:
    logger.thread_safe_append_keys(table=task.table.table, scratch=task.table.scratch_table)
    return DrillService.for_task(task, os.environ).start(task.table)
