"""Validate a copy request and plan it: check both tables, refuse what is unsafe, choose segments, spec the target."""

import os

from ddbkeeper.copy.models import CopyTask, PlannedCopy
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: CopyTask, context: LambdaContext) -> PlannedCopy:
    return CopyService.for_task(task, os.environ).plan()
