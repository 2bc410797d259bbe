"""After a failed repair: one turn of dropping its scratch table (waited for while it restores; marked first when its
RestoreSummary proves this execution made it)."""

import os

from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import CleanUpScratch
from ddbkeeper.restore.service import RestoreService
from ddbkeeper.scratch import ScratchCleanup


@workflow_step
def lambda_handler(task: CleanUpScratch, context: LambdaContext) -> ScratchCleanup:
    logger.thread_safe_append_keys(target=task.request.target.table)
    return RestoreService.for_task(task, os.environ).clean_up_scratch(task.plan, task.cleanup)
