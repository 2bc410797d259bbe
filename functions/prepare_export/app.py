"""Validate an export request, make sure the table has PITR (turning it on if asked) and choose the export's window.

Also Prepare Again (PITR was still turning on) and Prepare Next Window (catching up a long gap: the run's exports so
far ride along in the plan, so that the last report lists them all)."""

import os

from ddbkeeper.export.models import ExportPlanned, PrepareExport
from ddbkeeper.export.service import ExportService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: PrepareExport, context: LambdaContext) -> ExportPlanned:
    logger.thread_safe_append_keys(table=task.request.table)
    return ExportService.for_task(task, os.environ).prepare(task.plan, task.earlier())
