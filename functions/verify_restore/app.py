"""Count the restored table against the source's recorded count and report the restore."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.models import parse
from ddbkeeper.restore import restore_service
from ddbkeeper.restore_models import RestoreTask

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(RestoreTask, event)
    logger.thread_safe_append_keys(target=task.request.target.table)
    service, target = restore_service(task)
    report = service.verify(task, event["plan"], event["restore"], target, datetime.now(UTC))
    metrics.add_metric(name="ItemsRestored", unit=MetricUnit.Count, value=report["items"] or 0)
    logger.info("restore verified", extra={"items": report["items"], "verification": report["verification"]})
    return report
