"""Tally one segment of both tables (count or checksum; after an append, read it back by key) until little Lambda
time is left; return the tally, which the state machine hands back until the segment is done."""

import os

from ddbkeeper.copy.models import SegmentTally, VerifySegmentTask
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: VerifySegmentTask, context: LambdaContext) -> SegmentTally:
    logger.thread_safe_append_keys(segment=task.tally.segment, total_segments=task.tally.total_segments)
    service = CopyService.for_task(task, os.environ)
    remaining = context.get_remaining_time_in_millis
    return service.verify_segment(task.tally, remaining, task.key_attributes, listed=task.listed)
