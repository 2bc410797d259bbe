"""Validate an export request, make sure the table has PITR (turning it on if asked) and choose the export's window."""

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
    logger.thread_safe_append_keys(table=task.request.table)
    service = export_service(
        task.request, task.execution, os.environ.get("EXPORT_BUCKET"), os.environ.get("EXPORT_KMS_KEY")
    )
    previous = event.get("plan") or {}
    # Catching up a long gap: the run's exports so far ride along, so that the last report lists them all.
    earlier = event["report"]["exports"] if event.get("report") else previous.get("earlier", [])
    plan = service.prepare(task.request, task.execution, polls=int(previous.get("polls", 0)), earlier=earlier)
    logger.info("export planned", extra={"pitr": plan["pitr"], "window": plan.get("window")})
    return {
        "request": task.request.model_dump(mode="json"),
        "execution": task.execution.model_dump(mode="json"),
        "plan": plan,
    }
