"""Start the on-demand backup of one table (idempotent: a retried step finds the backup it already started) and
record the table's settings beside it in the stack's bucket (SETTINGS_BUCKET), for a restore to re-apply."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.backup import BackupService, backup_name, dynamodb_for
from ddbkeeper.models import TableTask, parse
from ddbkeeper.table_settings import settings_records

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(TableTask, event)
    logger.thread_safe_append_keys(table=task.table)
    service = BackupService(dynamodb_for(task.request, task.execution))
    state = service.create(task.table, backup_name(task.request.backup_name_prefix, task.table, task.execution.stamp()))
    if not state.reused:
        metrics.add_metric(name="BackupsCreated", unit=MetricUnit.Count, value=1)
    state = service.record_settings(task.table, state, settings_records())
    if state.settings and not state.settings.startswith("s3://"):
        metrics.add_metric(name="BackupSettingsNotRecorded", unit=MetricUnit.Count, value=1)
    return state.as_dict()
