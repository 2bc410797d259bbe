"""Start the planned restore (RestoreTableFromBackup, RestoreTableToPointInTime or ImportTable)."""

import os

from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import PlannedRestore, RestoreProgress
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: PlannedRestore, context: LambdaContext) -> RestoreProgress:
    logger.thread_safe_append_keys(target=task.request.target.table)
    return RestoreService.for_task(task, os.environ).start(task.plan)
