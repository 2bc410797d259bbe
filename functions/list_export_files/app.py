"""Add up the files the Map applied of one export, then list the next export's data files for the next Map."""

import os

from ddbkeeper.apply import ApplyProgress
from ddbkeeper.handler import LambdaContext, logger, workflow_step
from ddbkeeper.restore.models import ListExportFiles
from ddbkeeper.restore.service import RestoreService


@workflow_step
def lambda_handler(task: ListExportFiles, context: LambdaContext) -> ApplyProgress:
    logger.thread_safe_append_keys(target=task.request.target.table, export=task.apply.export)
    return RestoreService.for_task(task, os.environ).list_files(task.plan, task.apply)
