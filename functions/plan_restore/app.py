"""Validate a restore request and decide everything (source, overrides, settings to re-apply) before any change."""

import os

from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import PlannedRestore, RestoreTask
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: RestoreTask, context: LambdaContext) -> PlannedRestore:
    logger.thread_safe_append_keys(target=task.request.target.table)
    return RestoreService.for_task(task, os.environ).plan()
