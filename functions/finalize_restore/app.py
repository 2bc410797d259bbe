"""Re-apply the next setting a restore drops (table class, stream, TTL, PITR, tags, deletion protection)."""

import os

from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import ApplySettings, SettingsProgress
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: ApplySettings, context: LambdaContext) -> SettingsProgress:
    logger.thread_safe_append_keys(target=task.request.target.table)
    return RestoreService.for_task(task, os.environ).finalize(task.plan, task.settings)
