"""Describe the running export, for the workflow's wait-until-COMPLETED loop."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
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
    export = event["export"]
    logger.thread_safe_append_keys(table=task.request.table, export_arn=export["arn"])
    service = export_service(task.request, task.execution, os.environ.get("EXPORT_BUCKET"))
    return service.check(export["arn"], int(export.get("polls", 0)))
