"""One step of a copy by export (export the source, import it into the target, catch up with incremental exports,
count the target); the state machine calls it again, after a wait, until its phase is DONE."""

import os

from ddbkeeper.copy.models import ExportCopyState, ExportCopyTask
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: ExportCopyTask, context: LambdaContext) -> ExportCopyState:
    service = CopyService.for_task(task, os.environ)
    return service.by_export(task.plan, task.byexport, context.get_remaining_time_in_millis)
