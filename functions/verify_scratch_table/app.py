"""Count the scratch table, read a sample of the source's keys back from it, measure the point's age (RPO)."""

import os

from ddbkeeper.drill.models import CheckScratch, DrillVerification
from ddbkeeper.drill.service import DrillService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: CheckScratch, context: LambdaContext) -> DrillVerification:
    logger.thread_safe_append_keys(table=task.table.table, scratch=task.table.scratch_table)
    return DrillService.for_task(task, os.environ).verify(task.table, task.restore)
