"""Describe the backup a run started, for the workflow's wait-until-AVAILABLE loop."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.backup import BackupService, dynamodb_for
from ddbkeeper.models import BackupProgress, TableTask, parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(TableTask, event)
    progress = parse(BackupProgress, event.get("backup"), root="backup")
    logger.thread_safe_append_keys(table=task.table, backup_arn=progress.arn)
    service = BackupService(dynamodb_for(task.request, task.execution))
    state = service.describe(progress.arn, reused=progress.reused, polls=progress.polls + 1, settings=progress.settings)
    return state.as_dict()
