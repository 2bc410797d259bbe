"""Enforce the retention policy on one table's backups made by this service (the only function allowed to delete)."""

import os

from aws_lambda_powertools.metrics import MetricUnit
from ddbkeeper.backup.models import CheckBackup, PruneOutcome
from ddbkeeper.backup.service import BackupService
from ddbkeeper.handler import LambdaContext, logger, metrics, workflow_step


@workflow_step
def lambda_handler(task: CheckBackup, context: LambdaContext) -> PruneOutcome:
    logger.thread_safe_append_keys(table=task.table)
    outcome = BackupService.for_task(task, os.environ).enforce_retention(task.table, task.backup)
    metrics.add_metric(name="BackupsDeleted", unit=MetricUnit.Count, value=len(outcome.deleted))
    return outcome
