"""Record the completed export in the ledger (the next incremental export starts at its end) and report it."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.export_models import ExportTask
from ddbkeeper.exports import export_service
from ddbkeeper.models import parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(ExportTask, event)
    logger.thread_safe_append_keys(table=task.request.table)
    service = export_service(task.request, task.execution, os.environ.get("EXPORT_BUCKET"))
    report = service.record(task.request, event["plan"], event.get("export"))
    if report["status"] == "SUCCEEDED":
        metrics.add_metric(name="ItemsExported", unit=MetricUnit.Count, value=report["items"])
        metrics.add_metric(name="BytesExported", unit=MetricUnit.Bytes, value=report["bytes"])
    logger.info("export recorded", extra={"status": report["status"], "window": report["window"]})
    return report
