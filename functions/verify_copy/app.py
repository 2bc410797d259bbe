"""Compare source and target after a copy (count or checksum, parallel scans; after an append, every source item read
back from the target by key); a mismatch is VerificationFailed."""

import os

from ddbkeeper.copy.models import Verification, VerifyTask
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: VerifyTask, context: LambdaContext) -> Verification:
    return CopyService.for_task(task, os.environ).verify(task.total_segments, task.key_attributes)
