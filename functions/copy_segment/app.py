"""Copy one segment from its checkpoint until little Lambda time is left; return the new checkpoint."""

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.copier import SegmentCheckpoint, SegmentCopier, sides
from ddbkeeper.copy_models import CopyTask
from ddbkeeper.models import parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(CopyTask, event)
    before = SegmentCheckpoint.from_dict(event["checkpoint"])
    logger.thread_safe_append_keys(segment=before.segment, total_segments=before.total_segments)
    caps = event.get("caps") or {}
    source, target = sides(task)
    budget = float(os.environ.get("COPY_TIME_BUDGET_SECONDS", "780"))
    started = time.monotonic()

    def time_left() -> float:
        return min(context.get_remaining_time_in_millis() / 1000, budget - (time.monotonic() - started))

    after = SegmentCopier(source, target, caps.get("read"), caps.get("write")).run(before, time_left)
    metrics.add_metric(name="ItemsCopied", unit=MetricUnit.Count, value=after.items - before.items)
    metrics.add_metric(name="WriteUnitsConsumed", unit=MetricUnit.Count, value=after.write_units - before.write_units)
    metrics.add_metric(name="CopyThrottles", unit=MetricUnit.Count, value=after.throttles - before.throttles)
    logger.info("segment progress", extra={"items": after.items, "pages": after.pages, "done": after.done})
    return after.as_dict()
