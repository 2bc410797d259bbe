"""Delete the drill's scratch table, whatever happened before (the compensation): only a table tagged as the drill's."""

import os

from ddbkeeper.drill.models import CleanUpScratch
from ddbkeeper.drill.service import DrillService
from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.scratch import ScratchCleanup


@workflow_step
def lambda_handler(task: CleanUpScratch, context: LambdaContext) -> ScratchCleanup:
    logger.thread_safe_append_keys(table=task.table.table, scratch=task.table.scratch_table)
    return DrillService.for_task(task, os.environ).clean_up(task.table, task.cleanup)
