"""Drop a repair's scratch table (only the one this execution made), after the repair or after a failure."""

import os

from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import DropScratch, RestoreReport
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: DropScratch, context: LambdaContext) -> RestoreReport:
    logger.thread_safe_append_keys(target=task.request.target.table)
    return RestoreService.for_task(task, os.environ).drop_scratch(task.plan, task.repair)
