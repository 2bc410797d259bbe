"""Describe the backup a run started, for the workflow's wait-until-AVAILABLE loop."""

import os

from ddbkeeper.backup.models import BackupState, CheckBackup
from ddbkeeper.backup.service import BackupService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: CheckBackup, context: LambdaContext) -> BackupState:
    logger.thread_safe_append_keys(table=task.table, backup_arn=task.backup.arn)
    return BackupService.for_task(task, os.environ).check_backup(task.backup)
