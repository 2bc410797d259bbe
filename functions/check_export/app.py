"""Describe the running export, for the workflow's wait-until-COMPLETED loop."""

import os

from ddbkeeper.export.models import CheckExport, ExportProgress
from ddbkeeper.export.service import ExportService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: CheckExport, context: LambdaContext) -> ExportProgress:
    logger.thread_safe_append_keys(table=task.request.table, export_arn=task.export.arn)
    return ExportService.for_task(task, os.environ).check(task.export)
