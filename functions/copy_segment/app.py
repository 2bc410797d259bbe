"""Copy one segment from its checkpoint until little Lambda time is left; return the new checkpoint."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.copy.models import SegmentCheckpoint, SegmentTask
from ddbkeeper.copy.service import CopyService
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step


@workflow_step
def lambda_handler(task: SegmentTask, context: LambdaContext) -> SegmentCheckpoint:
    before = task.checkpoint
    logger.thread_safe_append_keys(segment=before.segment, total_segments=before.total_segments)
    service = CopyService.for_task(task, os.environ)
    after = service.copy_segment(before, task.caps, context.get_remaining_time_in_millis, listed=task.listed)
    metrics.add_metric(name="ItemsCopied", unit=MetricUnit.Count, value=after.items - before.items)
    metrics.add_metric(name="WriteUnitsConsumed", unit=MetricUnit.Count, value=after.write_units - before.write_units)
    metrics.add_metric(name="CopyThrottles", unit=MetricUnit.Count, value=after.throttles - before.throttles)
    return after
