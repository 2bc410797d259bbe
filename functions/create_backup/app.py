"""Start the on-demand backup of one table (idempotent: a retried step finds the backup it already started) and
record the table's settings beside it in the stack's bucket, for a restore to re-apply. A dry run creates nothing."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.backup.models import BackupState, TableTask
from ddbkeeper.backup.service import BackupService
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step


@workflow_step
def lambda_handler(task: TableTask, context: LambdaContext) -> BackupState:
    logger.thread_safe_append_keys(table=task.table)
    backup = BackupService.for_task(task, os.environ).create_backup(task.table)
    if backup.arn and not backup.reused:
        metrics.add_metric(name="BackupsCreated", unit=MetricUnit.Count, value=1)
    if backup.settings_error:
        metrics.add_metric(name="BackupSettingsNotRecorded", unit=MetricUnit.Count, value=1)
    return backup
