"""Compare the segments' tallies of source and target (the verify Map's results), per segment and in total, and warn
when the source changed during the copy; a mismatch is VerificationFailed."""

import os

from ddbkeeper.copy.models import Verification, VerifyTask
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: VerifyTask, context: LambdaContext) -> Verification:
    service = CopyService.for_task(task, os.environ)
    return service.compare(
        task.tallies, task.segments, store=task.store, total_segments=task.total_segments, byexport=task.byexport
    )
