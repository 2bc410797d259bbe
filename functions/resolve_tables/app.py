"""Validate the backup request and resolve which tables it covers (the workflow's first step)."""

import os

from ddbkeeper.backup.models import BackupTask, ResolvedTables
from ddbkeeper.backup.service import BackupService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: BackupTask, context: LambdaContext) -> ResolvedTables:
    return BackupService.for_task(task, os.environ).resolve_tables()
