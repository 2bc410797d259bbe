"""Apply what must follow the data on the target: TTL and point-in-time recovery, as the source has them (an append
leaves the target's own)."""

import os

from ddbkeeper.copy.models import FinalizeTask, FinalSettings
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: FinalizeTask, context: LambdaContext) -> FinalSettings:
    return CopyService.for_task(task, os.environ).finalize_target(task.finalize)
