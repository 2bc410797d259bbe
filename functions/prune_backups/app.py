"""Enforce the retention policy on one table's backups made by this service (the only function allowed to delete)."""

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.backup import DELETE_BACKUP_RATE, BackupService, dynamodb_for
from ddbkeeper.models import TableTask, parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(TableTask, event)
    logger.thread_safe_append_keys(table=task.table)
    rate = float(os.environ.get("DELETE_BACKUP_RATE", DELETE_BACKUP_RATE))
    service = BackupService(dynamodb_for(task.request, task.execution), delete_rate=rate)
    outcome = service.prune(
        task.table,
        task.request.backup_name_prefix,
        task.request.retention.policy() if task.request.retention else None,
        now=datetime.now(UTC),
        dry_run=task.request.dry_run,
    )
    metrics.add_metric(name="BackupsDeleted", unit=MetricUnit.Count, value=len(outcome.deleted))
    return outcome.as_dict()
