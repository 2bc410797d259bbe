"""One step towards an ACTIVE target table (for a recreate: back up, then drop; create, wait); the state machine loops
until READY."""

import os

from ddbkeeper.copy.models import PrepareState, PrepareTask
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: PrepareTask, context: LambdaContext) -> PrepareState:
    return CopyService.for_task(task, os.environ).prepare_target(task.target_spec, task.prepare, task.strategy)
