"""Summarise a copy: totals and per-segment figures, and the run's metrics."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.copy_models import CopyTask
from ddbkeeper.models import parse
from ddbkeeper.report import copy_report

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(CopyTask, event)
    report = copy_report(task.request, event.get("segments") or [], event.get("verification"), event.get("finalized"))
    metrics.add_metric(name="CopiesCompleted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ItemsCopiedTotal", unit=MetricUnit.Count, value=report["totals"]["items"])
    logger.info("copy finished", extra={"totals": report["totals"]})
    return report
