"""Where the restore stands: CREATING, ACTIVE (table, indexes and import all done) or FAILED with the reason."""

import os

from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import CheckRestore, RestoreProgress
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: CheckRestore, context: LambdaContext) -> RestoreProgress:
    logger.thread_safe_append_keys(target=task.request.target.table)
    return RestoreService.for_task(task, os.environ).check(task.restore)
